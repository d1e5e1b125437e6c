"""Published summaries: each version of a session's summary as it was published, whole (its JSON)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.summary import Summary
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import summaries


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
