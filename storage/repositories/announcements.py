"""What was announced about each session: its snapshot, fingerprint and revision."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ledger import SessionRecord
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import session_records


class AnnouncementRepository:
    """Implements ``domain.ports.Announcements`` over the ``session_records`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def all(self) -> dict[str, SessionRecord]:
        """What was last announced about every session."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(session_records))
        return {row.session_id: SessionRecord(row.digest, row.snapshot, row.sequence, row.updated_at) for row in rows}

    async def get(self, session_id: str) -> SessionRecord | None:
        """Return what was last announced about one session."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(session_records).where(session_records.c.session_id == session_id))
            ).first()
        if row is None:
            return None
        return SessionRecord(digest=row.digest, snapshot=row.snapshot, sequence=row.sequence, updated_at=row.updated_at)

    async def save(self, records: Mapping[str, SessionRecord]) -> None:
        """Remember what was announced about these sessions (replacing what was there)."""
        if not records:
            return
        rows = [
            {
                "session_id": session_id,
                "digest": r.digest,
                "snapshot": dict(r.snapshot),
                "sequence": r.sequence,
                "updated_at": r.updated_at,
            }
            for session_id, r in records.items()
        ]
        statement = insert(self.engine, session_records).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: statement.excluded[k] for k in ("digest", "snapshot", "sequence", "updated_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
