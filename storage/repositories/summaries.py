"""Published summaries (each version as it was published, whole: its JSON), and the decisions the secretariat
records in the chat during a session."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import Outcome
from domain.summary import Summary
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import session_outcomes, summaries


class SummaryRepository:
    """Implements ``domain.ports.PublishedSummaries`` over the ``summaries`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def latest(self, session_id: str) -> tuple[int, Summary] | None:
        """The newest published version of the session's summary, and its number."""
        query = (
            select(summaries.c.version, summaries.c.content)
            .where(summaries.c.session_id == session_id)
            .order_by(summaries.c.version.desc())
            .limit(1)
        )
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return (int(row.version), Summary.model_validate_json(row.content)) if row is not None else None

    async def version(self, session_id: str, version: int) -> tuple[Summary, datetime] | None:
        """One version of the session's summary, and when it was published."""
        query = select(summaries.c.content, summaries.c.published_at).where(
            summaries.c.session_id == session_id, summaries.c.version == version
        )
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return (Summary.model_validate_json(row.content), row.published_at) if row is not None else None

    async def publish(self, summary: Summary, version: int, at: datetime) -> bool:
        """Keep this version; False when that version of the session's summary was published already (by
        another process at the same moment: the first one stands)."""
        statement = (
            insert(self.engine, summaries)
            .values(
                session_id=summary.session_id,
                version=version,
                published_at=at,
                events_sha256=summary.events_sha256,
                content=summary.model_dump_json(),
            )
            .on_conflict_do_nothing(index_elements=["session_id", "version"])
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)


class OutcomeRepository:
    """Implements ``domain.ports.Outcomes`` over the ``session_outcomes`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def add(self, session_id: str, item: int, text: str, by: str, at: datetime) -> None:
        """Record a decision on an agenda item, as written (in the language it was written in)."""
        row = {"session_id": session_id, "item": item, "text": text, "recorded_by": by, "recorded_at": at}
        async with self.engine.begin() as conn:
            await conn.execute(session_outcomes.insert().values(**row))

    async def for_session(self, session_id: str) -> list[Outcome]:
        """The session's recorded decisions, in the order they were recorded, one outcome each."""
        query = (
            select(session_outcomes.c.item, session_outcomes.c.text)
            .where(session_outcomes.c.session_id == session_id)
            .order_by(session_outcomes.c.id)
        )
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [Outcome(item=row.item, decisions=[{"*": row.text}]) for row in rows]
