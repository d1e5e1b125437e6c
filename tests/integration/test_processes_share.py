"""Two processes' services over one database: what one changes, the other hears of through the change log, and
a send in progress stays with the worker that claimed it however long it takes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest

from app.bootstrap import Services, bootstrap
from config.loader import load
from config.settings import Settings
from domain.delivery import Delivery
from domain.links import LinkScope
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from domain.records import RsvpAnswer
from scheduler.dispatcher import Dispatcher
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.conftest import EXAMPLES
from tests.doubles.channels import FakeClock, FakeComposer

SECRET = b"shared-secret-for-both-processes"


@pytest.fixture
async def two(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[Services, Services]]:
    await upgrade(database_url)
    result = load([str(EXAMPLES)], {})
    assert result.deployment is not None
    made = []
    for name in ("first", "second"):
        store = Store(create_engine(database_url))
        clock = FakeClock(datetime(2022, 10, 10, tzinfo=UTC))
        services = bootstrap(Settings(data_dir=tmp_path), clock, store=store, channels={}, worker=name, secret=SECRET)
        services.configuration.put(result.deployment)
        await services.events.start()
        made.append(services)
    yield made[0], made[1]
    for services in made:
        await services.events.stop()
        await services.store.engine.dispose()


def description(body: bytes) -> str:
    """The XX meeting's DESCRIPTION in a feed."""
    events = icalendar.Calendar.from_ical(body).walk("VEVENT")
    return next(str(e["DESCRIPTION"]) for e in events if str(e["UID"]).startswith("icmec-xx@"))


async def test_an_answer_recorded_by_one_process_shows_in_the_others_feed(two: tuple[Services, Services]) -> None:
    first, second = two
    deployment = second.configuration.require()
    token = next(link.token for link in second.feeds.links(deployment, {}) if link.subject == "kgz-asanov")
    before = await second.feeds.feed(token, LinkScope.DELEGATE.value)
    assert before is not None
    assert "Ваш ответ" not in description(before.body)
    await first.answers.record("icmec-xx", "kgz-asanov", RsvpAnswer.REMOTE)
    assert await second.events.catch_up() == 1  # what the follower loop does every half second
    after = await second.feeds.feed(token, LinkScope.DELEGATE.value)
    assert after is not None
    assert "Ваш ответ:" in description(after.body)
    assert after.etag != before.etag


async def test_a_rotation_by_one_process_is_a_404_in_the_other(two: tuple[Services, Services]) -> None:
    first, second = two
    deployment = second.configuration.require()
    token = next(link.token for link in second.feeds.links(deployment, {}) if link.subject == "rus-head")
    assert await second.feeds.feed(token, LinkScope.DELEGATE.value) is not None
    await first.links.rotate(LinkScope.DELEGATE, "rus-head")
    await second.events.catch_up()
    assert await second.feeds.feed(token, LinkScope.DELEGATE.value) is None


class SlowChannel:
    """A channel whose every send takes a while (a slow SMTP server, Telegram's pace)."""

    name = "email"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.sent: list[Delivery] = []

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Take a while, then keep the delivery."""
        await asyncio.sleep(self.seconds)
        self.sent.append(delivery)


async def test_a_send_that_outlives_its_lease_stays_with_its_worker(database_url: str) -> None:
    await upgrade(database_url)
    store = Store(create_engine(database_url))
    clock = FakeClock(datetime(2022, 10, 10, tzinfo=UTC))
    notices = [
        Notice(f"s:invitation:d{i}", NoticeKind.INVITATION, "s", f"d{i}", clock.now(), ("email",), NoticeStatus.DUE)
        for i in range(4)
    ]
    await store.outbox.enqueue([OutboxItem(n) for n in notices], clock.now())
    slow, other = SlowChannel(0.4), SlowChannel(0.0)
    # The first worker's lease is 0.3 s; its sends take 0.4 s each, one after another: 1.6 s in all.
    first = Dispatcher(store.outbox, {"email": slow}, FakeComposer(), clock, "first", lease_seconds=0.3, in_flight=1)
    second = Dispatcher(store.outbox, {"email": other}, FakeComposer(), clock, "second", lease_seconds=0.3)
    try:
        running = asyncio.create_task(first.run())  # renews its leases while it sends
        async with asyncio.timeout(20):
            while len(slow.sent) < len(notices):
                await asyncio.sleep(0.1)
                await second.drain_once()  # the second worker keeps looking while the first is sending
    finally:
        await first.stop()
        await second.stop()
        await running
        await store.engine.dispose()
    assert sorted(d.key for d in slow.sent) == sorted(n.key for n in notices)
    assert other.sent == [], "the second worker took notices the first was still sending"


async def test_a_repeated_video_event_is_recorded_once_and_heard_once_by_the_other_process(
    two: tuple[Services, Services],
) -> None:
    from domain.events import AttendanceRecorded
    from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource

    first, second = two
    heard: list[AttendanceRecorded] = []

    async def keep(event: AttendanceRecorded) -> None:
        heard.append(event)

    second.events.subscribe(AttendanceRecorded, keep)
    joined = AttendanceEvent(
        session_id="icmec-xx",
        delegate_id="kgz-asanov",
        source=AttendanceSource.VIDEO,
        kind=AttendanceKind.JOIN,
        occurred_at=datetime(2022, 10, 19, 11, 2, tzinfo=UTC),
        external_id="jitsi:room:occupant-7:joined",
    )
    assert await first.attendance.record(joined)
    assert not await first.attendance.record(joined)  # the platform retried its webhook
    await second.events.catch_up()
    assert heard == [AttendanceRecorded("icmec-xx", 1)]
    assert len(await second.store.attendance.for_session("icmec-xx")) == 1


async def test_a_check_in_recorded_by_another_process_counts_for_the_quorum_this_one_tells(
    two: tuple[Services, Services],
) -> None:
    from domain.events import QuorumChanged
    from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource

    first, second = two
    told: list[QuorumChanged] = []

    async def keep(event: QuorumChanged) -> None:
        told.append(event)

    first.events.subscribe(QuorumChanged, keep)
    during = datetime(2022, 10, 19, 11, 30, tzinfo=UTC)
    for services in (first, second):
        assert isinstance(services.clock, FakeClock)
        services.clock.current = during

    def checked_in(delegate_id: str) -> AttendanceEvent:
        return AttendanceEvent(
            session_id="icmec-xx",
            delegate_id=delegate_id,
            source=AttendanceSource.VENUE,
            kind=AttendanceKind.CHECK_IN,
            occurred_at=during,
        )

    for delegate_id in ("rus-head", "kaz-head"):  # two of six states here: no quorum (a majority is four)
        await first.attendance.record(checked_in(delegate_id))
    await first.attendance.settled()
    await second.attendance.record(checked_in("blr-head"))  # recorded by the other process
    await first.events.catch_up()
    await first.attendance.record(checked_in("arm-head"))  # the fourth state, here
    await first.attendance.settled()
    assert [(e.met, e.represented, e.required) for e in told] == [(True, 4, 4)]


async def test_on_postgresql_the_other_process_is_woken_by_notify_not_by_polling(
    postgres_url: str, tmp_path: Path
) -> None:
    from domain.events import AnswerRecorded
    from services.supervision import Loops

    await upgrade(postgres_url)
    made = []
    for name in ("first", "second"):
        clock = FakeClock(datetime(2022, 10, 10, tzinfo=UTC))
        services = bootstrap(
            Settings(data_dir=tmp_path), clock, store=Store(create_engine(postgres_url)), channels={}, worker=name
        )
        services.events.poll = 60.0  # it would look only once a minute by itself
        await services.events.start()
        made.append(services)
    first, second = made
    heard = asyncio.Event()

    async def keep(event: AnswerRecorded) -> None:
        heard.set()

    second.events.subscribe(AnswerRecorded, keep)
    follower = asyncio.create_task(second.events.follow(Loops()))
    try:
        assert second.events.pushed
        await asyncio.sleep(0.2)  # the follower has looked once and waits
        await first.answers.record("icmec-xx", "kgz-asanov", RsvpAnswer.IN_PERSON)
        await asyncio.wait_for(heard.wait(), timeout=3)
    finally:
        follower.cancel()
        for services in made:
            await services.events.stop()
            await services.store.engine.dispose()
