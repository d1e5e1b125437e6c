"""Attendance events: check-ins, video joins and leaves, the secretariat's corrections."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import AttendanceEvent
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import attendance_events


class AttendanceRepository:
    """Implements ``domain.ports.Attendance`` over the ``attendance_events`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def add(self, event: AttendanceEvent, recorded_at: datetime) -> bool:
        """Record an attendance event; return False when the source already reported it (same external id)."""
        statement = insert(self.engine, attendance_events).values(**event.model_dump(), recorded_at=recorded_at)
        if event.external_id is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["source", "external_id"])
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def for_session(self, session_id: str) -> list[AttendanceEvent]:
        """Return a session's attendance events in the order they happened."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(attendance_events)
                .where(attendance_events.c.session_id == session_id)
                .order_by(attendance_events.c.occurred_at, attendance_events.c.id)
            )
        fields = AttendanceEvent.model_fields
        return [AttendanceEvent.model_validate({k: v for k, v in row._asdict().items() if k in fields}) for row in rows]
