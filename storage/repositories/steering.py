"""What the secretariat decides from the chat: its messages to everyone invited, and sessions closed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import Broadcast
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import broadcasts, session_closures


class BroadcastRepository:
    """Implements ``domain.ports.Broadcasts`` over the ``broadcasts`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def write(self, session_id: str, text: str, written_by: str, at: datetime) -> int:
        """Keep a message written and not yet confirmed; its id."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                broadcasts.insert()
                .values(session_id=session_id, text=text, written_by=written_by, written_at=at)
                .returning(broadcasts.c.id)
            )
            return int(result.scalar_one())

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """A message, if it exists."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(broadcasts).where(broadcasts.c.id == broadcast_id))).first()
        return Broadcast.model_validate(row._asdict()) if row is not None else None

    async def mark_sent(self, broadcast_id: int, sent_by: str, at: datetime, recipients: int) -> bool:
        """Record that it was confirmed and queued, once."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(broadcasts)
                .where(broadcasts.c.id == broadcast_id, broadcasts.c.sent_at.is_(None))
                .values(sent_by=sent_by, sent_at=at, recipients=recipients)
            )
        return bool(result.rowcount)


class ClosureRepository:
    """Implements ``domain.ports.Closures`` over the ``session_closures`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def close(self, session_id: str, closed_by: str, at: datetime) -> bool:
        """Close a session, once."""
        statement = insert(self.engine, session_closures).values(
            session_id=session_id, closed_by=closed_by, closed_at=at
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement.on_conflict_do_nothing(index_elements=["session_id"]))
        return bool(result.rowcount)

    async def closed_at(self, session_id: str) -> datetime | None:
        """When a session was closed, if it was."""
        query = select(session_closures.c.closed_at).where(session_closures.c.session_id == session_id)
        async with self.reader.connect() as conn:
            value = (await conn.execute(query)).scalar_one_or_none()
        return value
