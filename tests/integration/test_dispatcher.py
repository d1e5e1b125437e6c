"""The dispatcher's rules (retry, backoff, fallback, unknown outcomes) over a real outbox and fake channels."""

from __future__ import annotations

import logging
from collections import deque
from datetime import timedelta

import pytest

from domain.delivery import DeliveryError, Outcome
from domain.notices import Notice, NoticeKind, NoticeStatus, notice_key
from domain.outbox import OutboxItem
from domain.records import OutboxStatus
from scheduler.dispatcher import Dispatcher, RetryPolicy
from storage.repositories import Store
from tests.doubles.channels import FakeChannel, FakeClock, FakeComposer

RETRY = RetryPolicy(first_delay=30, factor=2, max_delay=3600, jitter=0.2, max_attempts=3)


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


async def enqueue(store: Store, clock: FakeClock, kind: NoticeKind = NoticeKind.INVITATION) -> str:
    key = notice_key("s1", kind, "d1")
    notice = Notice(key, kind, "s1", "d1", clock.now(), ("telegram", "email"), NoticeStatus.DUE)
    await store.outbox.enqueue([OutboxItem(notice)], clock.now())
    return key


def make(store: Store, clock: FakeClock, telegram: FakeChannel, email: FakeChannel, **composer: set[str]) -> Dispatcher:
    channels = {"telegram": telegram, "email": email}
    return Dispatcher(store.outbox, channels, FakeComposer(**composer), clock, "w", retry=RETRY)


def error(outcome: Outcome, reason: str = "x", retry_after: float | None = None) -> DeliveryError:
    return DeliveryError(outcome, reason, retry_after)


async def test_a_transient_failure_is_retried_later_on_the_same_channel(store: Store) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.TRANSIENT, "502 Bad Gateway")]))
    email = FakeChannel("email")
    dispatcher = make(store, clock, telegram, email)
    key = await enqueue(store, clock)
    assert await dispatcher.drain_once() == 1
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.PENDING
    assert entry.attempts == 1
    assert entry.next_attempt_at is not None
    assert timedelta(seconds=24) <= entry.next_attempt_at - clock.now() <= timedelta(seconds=36)
    assert "502" in (entry.last_error or "")
    assert await dispatcher.drain_once() == 0  # not before its time
    clock.advance(40)
    assert await dispatcher.drain_once() == 1
    assert [d.key for d in telegram.sent] == [key]
    assert email.sent == []


async def test_retry_after_is_honoured(store: Store) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.TRANSIENT, "429", retry_after=600)]))
    dispatcher = make(store, clock, telegram, FakeChannel("email"))
    key = await enqueue(store, clock)
    await dispatcher.drain_once()
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.next_attempt_at is not None
    assert entry.next_attempt_at - clock.now() >= timedelta(seconds=600)


async def test_a_permanent_failure_falls_back_to_the_next_channel_at_once(store: Store) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.PERMANENT, "Forbidden: bot was blocked by the user")]))
    email = FakeChannel("email")
    key = await enqueue(store, clock)
    await make(store, clock, telegram, email).drain_once()
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.SENT
    assert entry.channel_used == "email"
    assert [d.key for d in email.sent] == [key]


async def test_every_channel_failing_for_good_fails_the_notice_with_the_reasons(store: Store) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.PERMANENT, "chat not found")]))
    email = FakeChannel("email", deque([error(Outcome.PERMANENT, "550 no such user")]))
    key = await enqueue(store, clock)
    await make(store, clock, telegram, email).drain_once()
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.FAILED
    assert "chat not found" in (entry.last_error or "")
    assert "550" in (entry.last_error or "")


async def test_an_unreachable_channel_is_skipped(store: Store) -> None:
    clock = FakeClock()
    telegram, email = FakeChannel("telegram"), FakeChannel("email")
    key = await enqueue(store, clock)
    await make(store, clock, telegram, email, unreachable={"telegram"}).drain_once()
    assert telegram.sent == []
    assert [d.key for d in email.sent] == [key]


@pytest.mark.parametrize(
    ("kind", "resent"),
    [(NoticeKind.INVITATION, True), (NoticeKind.START, True), (NoticeKind.REMINDER, False)],
)
async def test_an_unknown_outcome_is_resent_only_where_a_loss_is_worse(
    store: Store, kind: NoticeKind, resent: bool
) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.UNKNOWN, "read timeout")]))
    key = await enqueue(store, clock, kind)
    await make(store, clock, telegram, FakeChannel("email")).drain_once()
    entry = await store.outbox.entry(key)
    assert entry is not None
    if resent:
        assert entry.status is OutboxStatus.PENDING
    else:
        assert entry.status is OutboxStatus.SENT
        assert "outcome unknown" in (entry.last_error or "")


async def test_retries_run_out_then_the_next_channel_is_tried(store: Store) -> None:
    clock = FakeClock()
    telegram = FakeChannel("telegram", deque([error(Outcome.TRANSIENT, "502")] * 3))
    email = FakeChannel("email")
    dispatcher = make(store, clock, telegram, email)
    key = await enqueue(store, clock)
    for _ in range(3):
        await dispatcher.drain_once()
        clock.advance(4000)
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.SENT
    assert entry.channel_used == "email"
    assert entry.attempts == 3


def test_backoff_grows_exponentially_with_jitter_and_a_ceiling() -> None:
    policy = RetryPolicy(first_delay=30, factor=2, max_delay=3600, jitter=0.2)
    for attempts, base in ((1, 30), (2, 60), (3, 120), (10, 3600)):
        for _ in range(20):
            assert base * 0.8 <= policy.delay(attempts) <= base * 1.2
    assert policy.delay(1, retry_after=500) >= 500


async def test_each_channel_has_a_retry_budget_of_its_own(store: Store) -> None:
    clock = FakeClock()
    busy = [error(Outcome.TRANSIENT, "502 Bad Gateway") for _ in range(RETRY.max_attempts)]
    telegram = FakeChannel("telegram", deque(busy))
    email = FakeChannel("email", deque([error(Outcome.TRANSIENT, "451 4.3.0 Try again later")]))
    dispatcher = make(store, clock, telegram, email)
    key = await enqueue(store, clock)
    for _ in range(RETRY.max_attempts):
        await dispatcher.drain_once()
        clock.advance(3600)
    # Telegram used its three attempts; e-mail's first 451 is the first of e-mail's own three.
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.PENDING, entry.last_error
    assert entry.channel_used is None
    assert "451" in (entry.last_error or "")
    await dispatcher.drain_once()
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.SENT
    assert entry.channel_used == "email"
    assert [d.key for d in email.sent] == [key]


class BrokenComposer:
    """A composer with a bug: every notice raises while it is rendered."""

    def __init__(self) -> None:
        self.calls = 0

    def companion(self, item: object, channel: str, now: object) -> None:
        """No e-mail copies."""
        return None

    async def compose(self, item: object, channel: str) -> None:
        self.calls += 1
        raise UnicodeEncodeError("ascii", "Иван", 0, 1, "ordinal not in range(128)")


async def test_a_row_failing_for_a_reason_of_ours_ends_failed_with_its_reason(store: Store) -> None:
    clock = FakeClock()
    composer = BrokenComposer()
    channels = {"telegram": FakeChannel("telegram"), "email": FakeChannel("email")}
    dispatcher = Dispatcher(store.outbox, channels, composer, clock, "w", retry=RETRY)  # type: ignore[arg-type]
    key = await enqueue(store, clock)
    for _ in range(10):
        await dispatcher.drain_once()
        clock.advance(7200)
    assert composer.calls == RETRY.internal_attempts  # tried a few times, not every hour forever
    entry = await store.outbox.entry(key)
    assert entry is not None
    assert entry.status is OutboxStatus.FAILED
    assert "internal error: UnicodeEncodeError" in (entry.last_error or "")
    assert f"after {RETRY.internal_attempts} tries" in (entry.last_error or "")


async def test_every_delivery_line_names_the_session_notice_delegate_and_replica(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    telegram = FakeChannel(
        "telegram",
        deque([error(Outcome.TRANSIENT, "502 Bad Gateway"), error(Outcome.PERMANENT, "bot was blocked")]),
    )
    email = FakeChannel("email")
    key = await enqueue(store, clock)
    dispatcher = make(store, clock, telegram, email)
    with caplog.at_level(logging.INFO, logger="scheduler.dispatcher"):
        await dispatcher.drain_once()  # retried
        clock.advance(3600)
        await dispatcher.drain_once()  # refused for good, then sent by e-mail
    said = {r.getMessage(): r for r in caplog.records}
    retried = next(r for m, r in said.items() if "retrying in" in m)
    refused = next(r for m, r in said.items() if "permanent failure" in m)
    sent = next(r for m, r in said.items() if "sent by email" in m)
    for record, channel in ((retried, "telegram"), (refused, "telegram"), (sent, "email")):
        assert vars(record)["session"] == "s1"
        assert vars(record)["notice"] == key
        assert vars(record)["delegate"] == "d1"
        assert vars(record)["replica"] == "w"
        assert vars(record)["channel"] == channel
