"""What was announced about each session: its snapshot, fingerprint and revision."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ledger import RecipientRecord, SessionRecord
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import recipients, session_records


async def read_recipients(
    conn: AsyncConnection, session_ids: Iterable[str] | None = None
) -> dict[str, dict[str, RecipientRecord]]:
    """What every delegate holds of these sessions (of every session when None)."""
    query = select(recipients)
    if session_ids is not None:
        query = query.where(recipients.c.session_id.in_(list(session_ids)))
    out: dict[str, dict[str, RecipientRecord]] = {}
    for row in await conn.execute(query):
        out.setdefault(row.session_id, {})[row.delegate_id] = RecipientRecord(
            row.invited, row.revision, row.holds, row.sequence
        )
    return out


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

    async def recipients(self, session_ids: Iterable[str] | None = None) -> dict[str, dict[str, RecipientRecord]]:
        """What each delegate holds of these sessions (all when None)."""
        async with self.reader.connect() as conn:
            return await read_recipients(conn, session_ids)

    async def recipients_of(self, whose: Iterable[tuple[str, str]]) -> dict[str, dict[str, RecipientRecord]]:
        """What these delegates hold of these sessions ((session, delegate) pairs), by their keys."""
        pairs = list(dict.fromkeys(whose))
        out: dict[str, dict[str, RecipientRecord]] = {}
        async with self.reader.connect() as conn:
            for start in range(0, len(pairs), 500):
                chunk = pairs[start : start + 500]
                query = select(recipients).where(tuple_(recipients.c.session_id, recipients.c.delegate_id).in_(chunk))
                for row in await conn.execute(query):
                    out.setdefault(row.session_id, {})[row.delegate_id] = RecipientRecord(
                        row.invited, row.revision, row.holds, row.sequence
                    )
        return out

    async def recipient(self, session_id: str, delegate_id: str) -> RecipientRecord | None:
        """What one delegate holds of one session (one row by its key: a send asks it, not the session's every row)."""
        query = select(recipients).where(recipients.c.session_id == session_id, recipients.c.delegate_id == delegate_id)
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return RecipientRecord(row.invited, row.revision, row.holds, row.sequence) if row is not None else None

    async def save_recipients(self, records: Mapping[tuple[str, str], RecipientRecord], now: datetime) -> None:
        """Record delegates invited again or uninvited (their revision raised)."""
        if not records:
            return
        rows = [
            {
                "session_id": session_id,
                "delegate_id": delegate_id,
                "invited": r.invited,
                "revision": r.revision,
                "holds": r.holds,
                "sequence": r.sequence,
                "updated_at": now,
            }
            for (session_id, delegate_id), r in records.items()
        ]
        statement = insert(self.engine, recipients).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["session_id", "delegate_id"],
            set_={k: statement.excluded[k] for k in ("invited", "revision", "updated_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
