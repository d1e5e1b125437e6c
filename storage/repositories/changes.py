"""The change log: events every process publishes, read back by the others."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.events import Event, event_from
from storage.engine import reader
from storage.repositories._sql import ManyRows
from storage.tables import change_log

log = logging.getLogger(__name__)

_APPEND = change_log.insert()
"""Built once: every answer press appends an event."""
_APPEND_MANY = ManyRows(_APPEND)
KEEP = timedelta(days=7)
"""How long events stay in the log: far longer than any process needs to catch up."""


class ChangeLogRepository:
    """Implements ``domain.ports.ChangeLog`` over the ``change_log`` table (and PostgreSQL NOTIFY)."""

    CHANNEL = "plenary_changes"

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)
        self._listening: Any = None
        self._appended_here = 0
        """Events appended together by this process: every thousandth, the log is pruned as ``append`` does."""
        """The pooled connection held for LISTEN, and its asyncpg connection."""

    async def listen(self, wake: Callable[[], None]) -> bool:
        """On PostgreSQL, call ``wake`` whenever any process appends (LISTEN on a connection of its own,
        outside the pool: a pooled connection may sit behind a transaction pooler that drops LISTEN); return
        whether notifications will come (False on SQLite, or when it cannot: the follower polls anyway)."""
        if self.engine.dialect.name != "postgresql":
            return False
        if self._listening is not None and not self._listening.is_closed():
            return True
        self._listening = None  # lost with the server (a restart, a cut): listen again
        import asyncpg

        dsn = self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        try:
            conn = await asyncpg.connect(dsn, timeout=10)
            await conn.add_listener(self.CHANNEL, lambda *_: wake())
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            log.warning("cannot LISTEN for changes (%s); the change log is polled instead", type(exc).__name__)
            return False
        self._listening = conn
        return True

    async def unlisten(self) -> None:
        """Stop listening and close the connection."""
        conn, self._listening = self._listening, None
        if conn is not None:
            try:
                await conn.close(timeout=5)
            except (OSError, TimeoutError):
                conn.terminate()

    async def append(self, event: Event, origin: str, now: datetime) -> int:
        """Record an event; on PostgreSQL, NOTIFY the other processes in the same transaction."""
        row = {"name": event.name, "payload": event.payload(), "origin": origin, "at": now}
        async with self.engine.begin() as conn:
            result = await conn.execute(_APPEND, row)
            key = result.inserted_primary_key
            assert key is not None
            position = int(key[0])
            await self._appended(conn, position, position, now)
        return position

    async def append_many(self, events: Sequence[Event], origin: str, now: datetime) -> None:
        """Record events in their order, in one statement; one NOTIFY for all of them."""
        if not events:
            return
        async with self.engine.begin() as conn:
            await _APPEND_MANY(conn, _rows(events, origin, now))  # no positions back: one statement for all
            self._appended_here += len(events)
            await self._appended(conn, self._appended_here - len(events) + 1, self._appended_here, now)

    def sqlite(self, events: Sequence[Event], origin: str, now: datetime) -> list[tuple[str, list[Any]]]:
        """On SQLite, the statements that record these events, for a caller that runs them itself in its own
        transaction (``storage.engine.in_sqlite``); it calls ``written`` once that committed."""
        return _APPEND_MANY.sqlite(self.engine.dialect, _rows(events, origin, now)) if events else []

    async def written(self, count: int, now: datetime) -> None:
        """``count`` events were recorded through ``sqlite``: each time this process's count passes a thousand,
        forget what every process has long since read, as ``append_many`` does."""
        first, self._appended_here = self._appended_here + 1, self._appended_here + count
        if count and self._appended_here // 1000 > (first - 1) // 1000:
            async with self.engine.begin() as conn:
                await conn.execute(delete(change_log).where(change_log.c.at < now - KEEP))

    async def _appended(self, conn: AsyncConnection, first: int, last: int, now: datetime) -> None:
        """NOTIFY the other processes (the payload is only a wake-up); each time the count from ``first`` to
        ``last`` passes a thousand, forget what every process has long since read."""
        if self.engine.dialect.name == "postgresql":
            await conn.execute(select(func.pg_notify(self.CHANNEL, str(last))))
        if last // 1000 > (first - 1) // 1000:
            await conn.execute(delete(change_log).where(change_log.c.at < now - KEEP))

    async def since(self, position: int, limit: int = 500) -> list[tuple[int, str, Event]]:
        """Events after ``position``, oldest first; names this version does not know are passed over."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(change_log.c.id, change_log.c.name, change_log.c.payload, change_log.c.origin)
                .where(change_log.c.id > position)
                .order_by(change_log.c.id)
                .limit(limit)
            )
            out: list[tuple[int, str, Event]] = []
            for row in rows:
                event = event_from(row.name, row.payload)
                if event is not None:
                    out.append((row.id, row.origin, event))
        return out

    async def last(self) -> int:
        """The newest position, 0 for an empty log."""
        async with self.reader.connect() as conn:
            value = await conn.scalar(select(func.max(change_log.c.id)))
        return int(value or 0)


def _rows(events: Sequence[Event], origin: str, now: datetime) -> list[dict[str, Any]]:
    return [{"name": e.name, "payload": e.payload(), "origin": origin, "at": now} for e in events]
