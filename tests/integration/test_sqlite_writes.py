"""A batch of attendance facts on SQLite is one transaction made at once on the event loop's thread
(``storage.engine.in_sqlite``): its facts and their change events are committed together, and when another
process holds SQLite's write lock the batch waits for it in the driver's thread, the event loop running on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource
from storage.engine import CHECKPOINT_EVERY, create_engine
from storage.migrate import upgrade
from storage.repositories import Store

NOW = datetime(2022, 10, 19, 11, 30, tzinfo=UTC)


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[tuple[Store, Path]]:
    path = tmp_path / "plenary.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    store = Store(create_engine(url))
    yield store, path
    await store.engine.dispose()


def joined(n: int) -> AttendanceEvent:
    return AttendanceEvent(
        session_id="icmec-xx",
        delegate_id="kgz-asanov",
        source=AttendanceSource.VIDEO,
        kind=AttendanceKind.JOIN,
        occurred_at=NOW,
        external_id=f"bigbluebutton:m:w_{n}:user-joined:1",
        participant_id=f"w_{n}",
    )


async def test_facts_and_their_change_events_are_committed_together_and_a_repeat_is_not(
    sqlite_store: tuple[Store, Path],
) -> None:
    store, path = sqlite_store
    assert await store.attendance.add_many([joined(1), joined(2), joined(1)], NOW, "first") == [True, True, False]
    assert await store.attendance.add_many([joined(2), joined(3)], NOW, "first") == [False, True]
    with sqlite3.connect(path) as other:  # what another process reads
        facts = other.execute("SELECT participant_id FROM attendance_events ORDER BY id").fetchall()
        changes = other.execute("SELECT name, origin, payload FROM change_log ORDER BY id").fetchall()
    assert facts == [("w_1",), ("w_2",), ("w_3",)]
    assert [(name, origin, json.loads(payload)) for name, origin, payload in changes] == [
        ("attendance_recorded", "first", {"session_id": "icmec-xx", "facts": 2}),  # one for a write's new facts
        ("attendance_recorded", "first", {"session_id": "icmec-xx", "facts": 1}),
    ]


async def test_a_failed_batch_leaves_nothing_and_the_next_one_is_written(sqlite_store: tuple[Store, Path]) -> None:
    store, _ = sqlite_store
    broken = joined(4).model_copy(update={"kind": None})  # as no validated fact can be: the database refuses it
    with pytest.raises(IntegrityError, match="NOT NULL"):
        await store.attendance.add_many([joined(5), broken], NOW, "first")
    assert await store.attendance.add_many([joined(5)], NOW, "first") == [True]
    assert [e.participant_id for e in await store.attendance.for_session("icmec-xx")] == ["w_5"]
    assert len(await store.changes.since(0)) == 1  # the failed batch's change events went with its facts


async def test_a_batch_waits_for_another_processs_write_lock_without_stopping_the_event_loop(
    sqlite_store: tuple[Store, Path],
) -> None:
    store, path = sqlite_store
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is writing
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    ticking = asyncio.create_task(tick())
    began = time.monotonic()
    writing = asyncio.create_task(store.attendance.add_many([joined(6)], NOW, "first"))
    await asyncio.sleep(0.3)
    assert not writing.done()  # waiting for the lock, in a thread
    assert ticks >= 10, "the event loop stopped while the batch waited"
    other.execute("COMMIT")
    assert await writing == [True]
    assert time.monotonic() - began < 5
    ticking.cancel()
    other.close()
    assert [e.participant_id for e in await store.attendance.for_session("icmec-xx")] == ["w_6"]


async def test_the_writes_connection_is_opened_once_set_up_as_the_pools_and_closed_by_dispose(tmp_path: Path) -> None:
    path = tmp_path / "plenary.db"
    url = f"sqlite+aiosqlite:///{path}"
    await upgrade(url)
    store = Store(create_engine(url))
    assert await store.attendance.add_many([joined(7)], NOW, "first") == [True]
    writer = store.engine.writer()  # type: ignore[attr-defined]
    assert writer is not None
    assert await store.attendance.add_many([joined(8)], NOW, "first") == [True]
    assert store.engine.writer() is writer  # type: ignore[attr-defined]
    assert [writer.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "foreign_keys", "synchronous")] == [
        "wal",
        1,
        1,  # NORMAL
    ]
    assert [e.participant_id for e in await store.attendance.for_session("icmec-xx")] == ["w_7", "w_8"]
    await store.engine.dispose()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        writer.execute("SELECT 1")


async def test_a_database_in_memory_is_written_through_the_pools_connection() -> None:
    url = "sqlite+aiosqlite:///:memory:"
    engine = create_engine(url)
    assert engine.writer() is None  # type: ignore[attr-defined]
    await engine.dispose()


async def test_the_writes_log_is_copied_into_the_database_in_a_thread_every_hundred_commits(
    sqlite_store: tuple[Store, Path],
) -> None:
    store, path = sqlite_store
    engine: Any = store.engine
    assert await store.attendance.add_many([joined(100)], NOW, "first") == [True]
    assert engine.writer().execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)  # not on the loop's thread
    size = path.stat().st_size
    for n in range(101, 100 + CHECKPOINT_EVERY - 1):
        await store.attendance.add_many([joined(n)], NOW, "first")
    await engine.checkpointed()
    assert path.stat().st_size == size, "checkpointed before its time"
    await store.attendance.add_many([joined(100 + CHECKPOINT_EVERY)], NOW, "first")  # the hundredth commit
    await engine.checkpointed()
    assert path.stat().st_size > size
    alone = path.with_name("copied.db")  # the database file without its log: what the checkpoint copied
    shutil.copyfile(path, alone)
    with contextlib.closing(sqlite3.connect(alone)) as copied:
        assert copied.execute("SELECT count(*) FROM attendance_events").fetchone() == (CHECKPOINT_EVERY,)
