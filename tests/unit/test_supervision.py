"""What readiness is told about the loops, and the event bus that carries changes between processes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from domain.events import AnswerRecorded, Event, LinkRotated, event_from
from services.events import EventBus
from services.supervision import Loops, backoff
from tests.doubles.channels import FakeClock


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_loop_is_down_after_a_failure_and_up_again_after_a_success() -> None:
    time = Monotonic()
    loops = Loops(stall_after=60, monotonic=time)
    loops.register("dispatcher")
    assert loops.problems() == {}
    assert loops.failed("dispatcher", ConnectionResetError("reset by peer")) == 1
    assert loops.failed("dispatcher", ConnectionResetError("reset by peer")) == 2
    assert loops.problems() == {"dispatcher": "failing (2 in a row): ConnectionResetError: reset by peer"}
    loops.ok("dispatcher", next_within=1)
    assert loops.problems() == {}


def test_a_loop_that_makes_no_progress_is_behind() -> None:
    time = Monotonic()
    loops = Loops(stall_after=60, monotonic=time)
    loops.register("dispatcher")
    loops.ok("dispatcher", next_within=1)
    time.now += 30
    assert loops.problems() == {}
    time.now += 40
    assert loops.problems() == {"dispatcher": "behind: no progress for 70 s"}


def test_a_timeline_with_nothing_due_is_never_behind_and_one_that_stopped_is_down() -> None:
    time = Monotonic()
    loops = Loops(stall_after=60, monotonic=time)
    loops.register("timeline")
    loops.ok("timeline", next_within=float("inf"))
    time.now += 10**6
    assert loops.problems() == {}
    loops.stopped("timeline", RuntimeError("a bug"))
    assert loops.problems() == {"timeline": "stopped: RuntimeError: a bug"}


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [backoff(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 15.0]


class FakeChangeLog:
    """The change log as several processes share it."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, str, Event]] = []

    async def append(self, event: Event, origin: str, now: datetime) -> int:
        self.rows.append((len(self.rows) + 1, origin, event))
        return len(self.rows)

    async def append_many(self, events: Sequence[Event], origin: str, now: datetime) -> None:
        for event in events:
            await self.append(event, origin, now)

    async def since(self, position: int, limit: int = 500) -> list[tuple[int, str, Event]]:
        return [row for row in self.rows if row[0] > position][:limit]

    async def last(self) -> int:
        return len(self.rows)

    async def listen(self, wake: object) -> bool:
        return False

    async def unlisten(self) -> None:
        return None


async def test_events_reach_this_processs_subscribers_at_once_and_the_others_through_the_log() -> None:
    log = FakeChangeLog()
    clock = FakeClock(datetime(2022, 10, 1, tzinfo=UTC))
    here, there = EventBus(log, clock, "here"), EventBus(log, clock, "there")
    heard_here: list[Event] = []
    heard_there: list[Event] = []

    async def broken(event: AnswerRecorded) -> None:
        raise RuntimeError("a subscriber with a bug")

    async def keep_here(event: AnswerRecorded) -> None:
        heard_here.append(event)

    async def keep_there(event: AnswerRecorded) -> None:
        heard_there.append(event)

    here.subscribe(AnswerRecorded, broken)
    here.subscribe(AnswerRecorded, keep_here)
    there.subscribe(AnswerRecorded, keep_there)
    await here.start()
    await there.start()
    event = AnswerRecorded("icmec-xx", "kgz-asanov", "remote")
    await here.publish(event)
    assert heard_here == [event]  # the broken subscriber stopped neither the publisher nor the others
    assert heard_there == []
    assert await there.catch_up() == 1
    assert heard_there == [event]
    assert await here.catch_up() == 0  # its own event is not heard twice
    assert heard_here == [event]


def test_an_event_read_back_from_the_log_is_the_event_written() -> None:
    event = LinkRotated("delegate", "kgz-asanov", 3)
    assert event_from(event.name, event.payload()) == event
    assert event_from("an_event_of_a_newer_version", {"x": 1}) is None
    assert event_from("link_rotated", {"unexpected": 1}) is None  # lacks what it needs
    logged_by_another_version = {**event.payload(), "reason": "lost phone"}
    assert event_from(event.name, logged_by_another_version) == event
