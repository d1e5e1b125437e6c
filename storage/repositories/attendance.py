"""Attendance events: check-ins, video joins and leaves, the secretariat's corrections."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import AttendanceRecorded
from domain.records import AttendanceEvent
from storage.engine import in_sqlite, in_unit, reader
from storage.repositories._sql import ManyRows, insert, sqlite_error
from storage.repositories.changes import ChangeLogRepository
from storage.tables import attendance_events


class AttendanceRepository:
    """Implements ``domain.ports.Attendance`` over the ``attendance_events`` table."""

    def __init__(self, engine: AsyncEngine, changes: ChangeLogRepository | None = None) -> None:
        self.engine = engine
        self.changes = changes if changes is not None else ChangeLogRepository(engine)
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

    async def add_many(
        self, events: Sequence[AttendanceEvent], recorded_at: datetime, logged_by: str | None = None
    ) -> list[bool]:
        """Record facts in one statement; a fact whose source already reported it (the same external id, before
        or earlier in ``events``) is not recorded again. With ``logged_by``, an ``AttendanceRecorded`` for each
        session with new facts goes to the change log in the same transaction. On SQLite, outside a transaction of
        the caller's, all of it is one transaction at once (``storage.engine.in_sqlite``)."""
        if not events:
            return []
        # A record's fields as ``model_dump`` gives them (its serializer cost more than the rest of making a row)
        rows = [{**event.__dict__, "recorded_at": recorded_at} for event in events]
        if self.engine.dialect.name == "sqlite" and not in_unit(self.engine):
            return await self._add_at_once(events, rows, recorded_at, logged_by)
        async with self.engine.begin() as conn:
            new = _new(events, await self._add_many(conn, rows))
            if logged_by is not None:
                await self.changes.append_many(_recorded(events, new), logged_by, recorded_at)
        return new

    async def _add_at_once(
        self, events: Sequence[AttendanceEvent], rows: list[dict[str, Any]], at: datetime, logged_by: str | None
    ) -> list[bool]:
        statements = self._add_many.sqlite(self.engine.dialect, rows)
        logged: list[AttendanceRecorded] = []

        def work(db: sqlite3.Connection) -> list[bool]:
            sql, values = "", list[Any]()
            try:
                returned = []
                for sql, values in statements:
                    returned += db.execute(sql, values).fetchall()
                new = _new(events, returned)
                logged[:] = _recorded(events, new) if logged_by is not None else []
                for sql, values in self.changes.sqlite(logged, logged_by or "", at):
                    db.execute(sql, values)
            except sqlite3.Error as error:
                raise sqlite_error(sql, values, error) from error
            return new

        new = await in_sqlite(self.engine, work)
        await self.changes.written(len(logged), at)
        return new

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


def _new(events: Sequence[AttendanceEvent], inserted: Iterable[Any]) -> list[bool]:
    """For each fact, whether it was recorded now: its (source, external id) came back from the insert, and not
    for a fact before it in ``events``; a fact with no external id always is."""
    returned = {(source, external_id) for source, external_id in inserted}
    seen: set[tuple[str, str | None]] = set()
    out = []
    for event in events:
        key = (event.source.value, event.external_id)
        if event.external_id is None:
            out.append(True)
        else:
            out.append(key in returned and key not in seen)
            seen.add(key)
    return out


def _recorded(events: Sequence[AttendanceEvent], new: Sequence[bool]) -> list[AttendanceRecorded]:
    return AttendanceRecorded.of(e.session_id for e, fresh in zip(events, new, strict=True) if fresh)
