"""A use case's writes as one transaction (``storage.engine.Transactions``), and updates noted in batches, on
SQLite and PostgreSQL, with the real answer service and event bus."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from domain.deployment import Deployment
from domain.events import AnswerRecorded, Event
from domain.records import RsvpAnswer, RsvpSource
from services.answers import Answer, AnswerService
from services.events import EventBus
from storage.engine import create_engine
from storage.repositories import Store
from tests.doubles.channels import FakeClock

T0 = datetime(2022, 10, 5, 9, 0, tzinfo=UTC)
OPEN = datetime(2022, 10, 12, 11, 0, tzinfo=UTC)
"""A week before the example's XX meeting (hybrid): answers are open."""


class FailingLog:
    """A change log whose append fails after the answer was written in the same transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def append(self, event: Event, origin: str, now: datetime) -> int:
        await self.store.changes.append(event, origin, now)
        raise RuntimeError("the change log is full")

    async def append_many(self, events: Sequence[Event], origin: str, now: datetime) -> None:
        await self.store.changes.append_many(events, origin, now)
        raise RuntimeError("the change log is full")

    def __getattr__(self, name: str) -> object:
        return getattr(self.store.changes, name)


def service(store: Store, bus: EventBus) -> AnswerService:
    return AnswerService(store.answers, bus, FakeClock(T0), transactions=store.transactions)


async def test_an_answer_its_history_and_its_event_are_stored_together_or_not_at_all(store: Store) -> None:
    heard: list[AnswerRecorded] = []
    bus = EventBus(FailingLog(store), FakeClock(T0), "worker-1", transactions=store.transactions)  # type: ignore[arg-type]
    bus.subscribe(AnswerRecorded, lambda event: _append(heard, event))
    with pytest.raises(RuntimeError, match="full"):
        await service(store, bus).record("icmec-xx", "kgz-asanov", RsvpAnswer.IN_PERSON, source=RsvpSource.TELEGRAM)
    assert await store.answers.all() == {}
    assert await store.answers.history("icmec-xx", "kgz-asanov") == []
    assert await store.changes.since(0) == []
    assert heard == []  # subscribers hear only of what was committed

    bus = EventBus(store.changes, FakeClock(T0), "worker-1", transactions=store.transactions)
    bus.subscribe(AnswerRecorded, lambda event: _append(heard, event))
    await service(store, bus).record("icmec-xx", "kgz-asanov", RsvpAnswer.REMOTE, source=RsvpSource.TELEGRAM)
    [(_, origin, logged)] = await store.changes.since(0)
    assert (origin, logged) == ("worker-1", heard[0])
    assert [r.answer for r in await store.answers.history("icmec-xx", "kgz-asanov")] == [RsvpAnswer.REMOTE]


async def test_reads_inside_a_transaction_see_its_writes_and_an_inner_one_joins_it(store: Store) -> None:
    bus = EventBus(store.changes, FakeClock(T0), "worker-1", transactions=store.transactions)
    answers = service(store, bus)
    seen: list[RsvpAnswer] = []

    async def answer_then_fail() -> None:
        async with store.transactions():
            await answers.record("icmec-xx", "kgz-asanov", RsvpAnswer.IN_PERSON, source=RsvpSource.TELEGRAM)
            current = await answers.current("icmec-xx", "kgz-asanov")
            seen.append(current.answer if current else RsvpAnswer.NOT_ATTENDING)
            raise LookupError("the outer transaction fails after the inner one ended")

    with pytest.raises(LookupError):
        await answer_then_fail()
    assert seen == [RsvpAnswer.IN_PERSON]
    assert await answers.current("icmec-xx", "kgz-asanov") is None  # the inner one was not committed on its own


async def test_updates_noted_at_once_by_many_handlers_are_each_first_once(store: Store, database_url: str) -> None:
    other = Store(create_engine(database_url))  # another process's engine on the same database
    try:
        ids = [3000 + i % 40 for i in range(120)]  # each id three times, in one burst
        here = await asyncio.gather(*(store.updates.first_time(i, T0) for i in ids[:60]))
        await asyncio.gather(*(store.updates.noted(i) for i in ids[:60]))  # acknowledged: now replayed elsewhere
        there = await asyncio.gather(*(other.updates.first_time(i, T0) for i in ids[60:]))
        assert sum(here) + sum(there) == 40
        assert sorted(i for i, first in zip(ids, [*here, *there], strict=True) if first) == list(range(3000, 3040))
        assert not await store.updates.first_time(3000, T0 + timedelta(seconds=1))
    finally:
        await other.engine.dispose()


async def test_answers_given_at_once_are_decided_in_their_order_and_heard_once_committed(
    store: Store, deployment: Deployment
) -> None:
    heard: list[AnswerRecorded] = []
    bus = EventBus(store.changes, FakeClock(OPEN), "worker-1", transactions=store.transactions)
    bus.subscribe(AnswerRecorded, lambda event: _append(heard, event))
    answers = AnswerService(store.answers, bus, FakeClock(OPEN), lambda: deployment, store.transactions)
    given = [
        ("rus-deputy", RsvpAnswer.IN_PERSON),
        ("kaz-head", RsvpAnswer.REMOTE),
        ("rus-deputy", RsvpAnswer.REMOTE),  # the same delegate again, in the same moment: after the first
        ("rus-deputy", RsvpAnswer.REMOTE),
        ("arm-head", RsvpAnswer.NOT_ATTENDING),
    ]
    done = await asyncio.gather(*(answers.answer("icmec-xx", d, a, RsvpSource.TELEGRAM) for d, a in given))

    assert [d.outcome for d in done] == [Answer.RECORDED] * 3 + [Answer.UNCHANGED, Answer.RECORDED]
    assert [d.current.answer if d.current else None for d in done] == [a for _, a in given]
    history = await store.answers.history("icmec-xx", "rus-deputy")
    assert [r.answer for r in history] == [RsvpAnswer.IN_PERSON, RsvpAnswer.REMOTE]
    logged = [event for _, _, event in await store.changes.since(0)]
    assert logged == heard
    assert [(e.delegate_id, e.answer) for e in heard] == [(d, a.value) for d, a in given[:3] + given[4:]]


async def test_answers_given_at_once_all_fail_together_and_nothing_is_stored(
    store: Store, deployment: Deployment
) -> None:
    heard: list[AnswerRecorded] = []
    bus = EventBus(FailingLog(store), FakeClock(OPEN), "worker-1", transactions=store.transactions)  # type: ignore[arg-type]
    bus.subscribe(AnswerRecorded, lambda event: _append(heard, event))
    answers = AnswerService(store.answers, bus, FakeClock(OPEN), lambda: deployment, store.transactions)
    given = ["rus-deputy", "kaz-head", "arm-head"]
    done = await asyncio.gather(
        *(answers.answer("icmec-xx", d, RsvpAnswer.REMOTE, RsvpSource.TELEGRAM) for d in given),
        return_exceptions=True,
    )
    assert [type(d) for d in done] == [RuntimeError] * 3
    assert await store.answers.all() == {}
    assert await store.changes.since(0) == []
    assert heard == []


async def _append(heard: list[AnswerRecorded], event: AnswerRecorded) -> None:
    heard.append(event)
