"""What the video providers keep about a session's meeting (a Zoom meeting's id and its registrants)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import video_state


class VideoStateRepository:
    """Implements ``domain.ports.VideoState`` over the ``video_state`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def get(self, provider: str, session_id: str) -> dict[str, object] | None:
        """The provider's data for the session's meeting, if any."""
        query = select(video_state.c.data).where(
            video_state.c.provider == provider, video_state.c.session_id == session_id
        )
        async with self.reader.connect() as conn:
            data: Any = await conn.scalar(query)
        return dict(data) if data is not None else None

    async def put(self, provider: str, session_id: str, data: dict[str, object]) -> None:
        """Keep the provider's data for the session's meeting, replacing what was there."""
        row = {"provider": provider, "session_id": session_id, "data": data, "updated_at": datetime.now(UTC)}
        statement: Any = insert(self.engine, video_state).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["provider", "session_id"],
            set_={"data": statement.excluded.data, "updated_at": row["updated_at"]},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)
