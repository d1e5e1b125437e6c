"""Creating the async engine: SQLite (WAL, immediate write transactions) or PostgreSQL by URL."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

log = logging.getLogger(__name__)

T = TypeVar("T")
READONLY = "plenary_readonly"
BUSY_SECONDS = 5
"""How long a SQLite write waits for a lock: one process's own transactions take milliseconds, so a lock held
longer is someone else's (a backup, a second tool) and the write fails, to be retried by its loop."""


CHECKPOINT_EVERY = 100
"""Commits of ``in_sqlite``'s connection between two checkpoints of SQLite's write-ahead log, made in a thread."""
_PRAGMAS = ("journal_mode=WAL", f"busy_timeout={BUSY_SECONDS * 1000}", "foreign_keys=ON", "synchronous=NORMAL")
"""How every SQLite connection is set up: write-ahead log (readers never wait for the writer), a lock waited
for up to ``BUSY_SECONDS``, foreign keys checked, and a commit not synced to disk until the log is."""


def reader(engine: AsyncEngine) -> AsyncEngine:
    """The same engine for read-only work: on SQLite its transactions take no write lock."""
    return engine.execution_options(**{READONLY: True})


@dataclass(slots=True)
class _Unit:
    """A write transaction that the writes of one task join (``Transactions``)."""

    conn: AsyncConnection
    pool: Any
    task: asyncio.Task[Any] | None
    after: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def joins(self, engine: AsyncEngine) -> bool:
        return engine.sync_engine.pool is self.pool and self.task is asyncio.current_task()


_UNIT: contextvars.ContextVar[_Unit | None] = contextvars.ContextVar("plenary_unit", default=None)


class _Engine(AsyncEngine):
    """An engine whose ``begin()`` inside another ``begin()`` of the same task joins it: the writes of a use case
    (``Transactions``) are one transaction, and work deferred with ``after_commit`` runs once it committed."""

    @contextlib.asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction of its own, or the one this task is in."""
        unit = _UNIT.get()
        if unit is not None and unit.joins(self):
            yield unit.conn
            return
        async with self._own() as conn:
            unit = _Unit(conn, self.sync_engine.pool, asyncio.current_task())
            token = _UNIT.set(unit)
            try:
                yield conn
            finally:
                _UNIT.reset(token)
        for callback in unit.after:  # committed: an exception in the block skips them (rolled back)
            try:
                await callback()
            except Exception:
                log.exception("work deferred until a commit failed")

    def _own(self) -> contextlib.AbstractAsyncContextManager[AsyncConnection]:
        return super().begin()


class _OneWriterEngine(_Engine):
    """A SQLite engine whose write transactions take turns in the event loop before they take SQLite's lock.

    SQLite has one writer at a time. A transaction that holds the write lock while the event loop is busy
    with other work (a burst of bot presses) makes every other writer wait in its thread, up to the busy
    timeout, and then fail with "database is locked". Waiting here instead costs nothing: the turn is an
    ``asyncio.Lock``, taken only by write transactions (readers, see ``reader``, never wait).
    """

    def __init__(self, sync_engine: Any) -> None:
        super().__init__(sync_engine)
        self._turn = asyncio.Lock()
        self._writer: sqlite3.Connection | None = None
        self._commits = 0
        self._checkpoint: asyncio.Future[None] | None = None

    @contextlib.asynccontextmanager
    async def _own(self) -> AsyncIterator[AsyncConnection]:
        async with self._turn, super()._own() as conn:
            yield conn

    def turn(self) -> asyncio.Lock:
        """This process's turn to write, as its write transactions take it."""
        return self._turn

    def writer(self) -> sqlite3.Connection | None:
        """A connection of ``in_sqlite``'s own to a database file (None for one in memory, which only the pool's
        connections share): opened on first use and set up as the pool's, closed by ``dispose``. Checking one out
        of the pool and back for every write cost as much as a batch's statements (``benchmarks.attendance``)."""
        if self._writer is None:
            path = self.url.database
            if not path or path == ":memory:" or path.startswith("file:"):
                return None
            db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            for pragma in _PRAGMAS:
                db.execute(f"PRAGMA {pragma}")
            db.execute("PRAGMA wal_autocheckpoint=0")  # the log is copied into the database in a thread
            self._writer = db
        return self._writer

    def committed(self) -> None:
        """The writer committed: every ``CHECKPOINT_EVERY`` commits, the write-ahead log is copied into the
        database (a passive checkpoint: it waits for nobody) in a thread. SQLite's own, at the commit that
        filled the log, held the event loop for the copy and its syncs to disk."""
        self._commits += 1
        if self._commits % CHECKPOINT_EVERY == 0 and (self._checkpoint is None or self._checkpoint.done()):
            self._checkpoint = asyncio.ensure_future(asyncio.to_thread(_checkpoint, self.url.database or ""))

    async def checkpointed(self) -> None:
        """Wait for the checkpoint under way, if one is."""
        if self._checkpoint is not None:
            await asyncio.shield(self._checkpoint)

    async def dispose(self, close: bool = True) -> None:
        """Close ``in_sqlite``'s connection (once its checkpoint is done), then the pool's."""
        await self.checkpointed()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        await super().dispose(close)


def _checkpoint(path: str) -> None:
    """Copy what the write-ahead log holds into the database file, through a connection of its own."""
    try:
        db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            db.close()
    except sqlite3.Error as exc:  # the next one tries again; the log only grows meanwhile
        log.warning("a checkpoint of %s failed (%s)", path, exc)


def in_unit(engine: AsyncEngine) -> bool:
    """Whether this task is inside a write transaction of this engine (``Transactions``)."""
    unit = _UNIT.get()
    return unit is not None and unit.joins(engine)


async def in_sqlite(engine: AsyncEngine, work: Callable[[Any], T]) -> T:
    """Run ``work`` with a SQLite connection (``sqlite3.Connection``: the engine's ``writer``, or for a database
    in memory one of the pool's) inside one write transaction, in this process's turn to write, on the event
    loop's own thread; when another process holds SQLite's write lock, in a thread instead, waiting for it as
    every write does. ``work`` runs statements; this begins, commits, or rolls back if it raises.

    Through SQLAlchemy, every statement, BEGIN and COMMIT is a trip to aiosqlite's thread, and each trip hands
    the GIL back and forth with a busy event loop, a switch interval (5 ms) at a time: under a burst of webhooks
    a batch of facts that SQLite writes in a quarter of a millisecond took several, and the trips were most of
    a webhook's cost (``python -m benchmarks.attendance``). So the hottest write is made here at once, without
    waiting for a lock: only the write lock of another process (a command-line correction, a backup) sends it
    to a thread.
    """
    if not isinstance(engine, _OneWriterEngine):
        return await _pooled(engine, work)
    async with engine.turn():
        db = engine.writer()
        if db is None:
            return await _pooled(engine, work)
        done = await _at_once(db, work, lambda: asyncio.to_thread(_transaction, db, work, True))
        engine.committed()
        return done


async def _pooled(engine: AsyncEngine, work: Callable[[Any], T]) -> T:
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        db = driver._conn
        return await _at_once(db, work, lambda: driver._execute(_transaction, db, work, True))


async def _at_once(db: sqlite3.Connection, work: Callable[[Any], T], wait: Callable[[], Awaitable[T]]) -> T:
    """``work`` in a transaction made at once, on this thread; if another process holds the write lock, in a
    transaction that ``wait`` makes in a thread of its own, waiting for it as every write does."""
    db.execute("PRAGMA busy_timeout=0")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:  # another process writes
        db.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
        return await wait()
    db.execute(f"PRAGMA busy_timeout={BUSY_SECONDS * 1000}")
    return _transaction(db, work, False)


def _transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T], begin: bool) -> T:
    if begin:
        db.execute("BEGIN IMMEDIATE")
    try:
        done = work(db)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.rollback()
        raise
    return done


class Transactions:
    """Implements ``domain.ports.Transactions``: ``async with transactions():`` makes every write of the task
    inside one transaction (one BEGIN and one COMMIT, one turn of SQLite's writer), and reads made through
    ``connection`` see them; ``after_commit`` defers work (telling subscribers) until it is committed."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    @contextlib.asynccontextmanager
    async def __call__(self) -> AsyncIterator[None]:
        """One write transaction for everything the task writes inside; an inner one joins the outer."""
        async with self.engine.begin():
            yield

    def active(self) -> bool:
        """Whether this task is inside an open transaction of this engine."""
        return in_unit(self.engine)

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> bool:
        """Run ``callback`` once the task's open transaction commits; False when none is open."""
        unit = _UNIT.get()
        if unit is None or not unit.joins(self.engine):
            return False
        unit.after.append(callback)
        return True


@contextlib.asynccontextmanager
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection to read with: the task's open transaction's (it sees its own writes), or one of its own."""
    unit = _UNIT.get()
    if unit is not None and unit.joins(engine):
        yield unit.conn
        return
    async with engine.connect() as conn:
        yield conn


def create_engine(url: str) -> AsyncEngine:
    """Create the engine for a database URL; for SQLite, create the file's directory and set it up safely."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return _Engine(create_async_engine(url, pool_pre_ping=True).sync_engine)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # The pool's own rollback of every connection given back is left to ``_on_reset``: after a commit it was
    # one more trip to aiosqlite's thread per transaction, a fifth of a webhook batch's (benchmarks.attendance)
    # Not only aiosqlite's thread uses the connection: ``in_sqlite`` does, on the event loop's, while it is checked
    # out of the pool and aiosqlite has nothing of it to do
    engine = create_async_engine(
        url, connect_args={"timeout": BUSY_SECONDS, "check_same_thread": False}, pool_reset_on_return=None
    )
    engine = _OneWriterEngine(engine.sync_engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy issue BEGIN itself, so that every transaction can be BEGIN IMMEDIATE:
        # a deferred transaction that upgrades to a write fails at once with "database is locked".
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in _PRAGMAS:
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: Any) -> None:
        # What the pool's reset on return did (a rollback), only when the connection is in a transaction: SQLite
        # says whether without a trip to the driver's thread (a committed one is not).
        if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers (see ``reader``) need no write lock: in WAL mode they never wait for writers.
        sql = "BEGIN" if connection.get_execution_options().get(READONLY, False) else "BEGIN IMMEDIATE"
        # Through the driver (SQLAlchemy's documented ``run_async``): one trip to aiosqlite's thread instead of
        # the three of a statement (open a cursor, execute, close it), for every transaction.
        connection.connection.dbapi_connection.run_async(lambda driver: driver.execute(sql))

    return engine


def describe(url: str) -> str:
    """Describe a database URL for logs and messages, with any password hidden."""
    return make_url(url).render_as_string(hide_password=True)
