"""Attendance events: check-ins, video joins and leaves, the secretariat's corrections."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import AttendanceEvent
from storage.engine import reader
from storage.repositories._sql import ManyRows, insert
from storage.tables import attendance_events


class AttendanceRepository:
    """Implements ``domain.ports.Attendance`` over the ``attendance_events`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)
        table = attendance_events
        statement: Any = insert(engine, table).on_conflict_do_nothing(index_elements=["source", "external_id"])
        self._add_many = ManyRows(statement.returning(table.c.source, table.c.external_id))
        """Built once: every webhook's facts are added through it."""

    async def add(self, event: AttendanceEvent, recorded_at: datetime) -> bool:
        """Record an attendance event; return False when the source already reported it (same external id)."""
        statement = insert(self.engine, attendance_events).values(**event.model_dump(), recorded_at=recorded_at)
        if event.external_id is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["source", "external_id"])
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def add_many(self, events: Sequence[AttendanceEvent], recorded_at: datetime) -> list[bool]:
        """Record facts in one statement; a fact whose source already reported it (the same external id, before
        or earlier in ``events``) is not recorded again."""
        if not events:
            return []
        rows = [{**event.model_dump(), "recorded_at": recorded_at} for event in events]
        async with self.engine.begin() as conn:
            inserted = {(source, external_id) for source, external_id in await self._add_many(conn, rows)}
        seen: set[tuple[str, str | None]] = set()
        out = []
        for event in events:
            key = (event.source.value, event.external_id)
            if event.external_id is None:
                out.append(True)
            else:
                out.append(key in inserted and key not in seen)
                seen.add(key)
        return out

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
