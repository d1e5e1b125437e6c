"""Creating the async engine: SQLite (WAL, immediate write transactions) or PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

READONLY = "plenary_readonly"
BUSY_SECONDS = 5
"""How long a SQLite write waits for a lock: one process's own transactions take milliseconds, so a lock held
longer is someone else's (a backup, a second tool) and the write fails, to be retried by its loop."""


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{READONLY: True})


class _OneWriterEngine(AsyncEngine):
    """A SQLite engine whose write transactions take turns in the event loop before they take SQLite's lock.

    SQLite has one writer at a time. A transaction that holds the write lock while the event loop is busy
    with other work (a burst of bot presses) makes every other writer wait in its thread, up to the busy
    timeout, and then fail with "database is locked". Waiting here instead costs nothing: the turn is an
    ``asyncio.Lock``, taken only by ``begin()`` (readers, see ``reader``, never wait), and re-entered by the
    task that holds it.
    """

    def __init__(self, sync_engine: Any) -> None:
        super().__init__(sync_engine)
        self._turn = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction, once it is this task's turn."""
        task = asyncio.current_task()
        if self._holder is not None and self._holder is task:
            async with super().begin() as conn:
                yield conn
            return
        async with self._turn:
            self._holder = task
            try:
                async with super().begin() as conn:
                    yield conn
            finally:
                self._holder = None


def create_engine(url: str) -> AsyncEngine:
    """Create the engine for a database URL; for SQLite, create the file's directory and set it up safely."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": BUSY_SECONDS})
    engine = _OneWriterEngine(engine.sync_engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself, so that every transaction can be BEGIN IMMEDIATE:
        # a deferred transaction that upgrades to a write fails at once with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see ``reader``) need no write lock: in WAL mode they never wait for writers.
        readonly = connection.get_execution_options().get(READONLY, False)
        connection.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def describe(url: str) -> str:
    """Describe a database URL for logs and messages, with any password hidden."""
    return make_url(url).render_as_string(hide_password=True)
