"""Storage round trips on SQLite and PostgreSQL, on a database migrated by Alembic."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.exc import IntegrityError

from domain.events import AnswerRecorded
from domain.notices import Notice, NoticeKind, NoticeStatus, notice_key
from domain.outbox import OutboxItem
from domain.records import (
    AttendanceEvent,
    AttendanceKind,
    AttendanceSource,
    AuditEntry,
    OutboxStatus,
    Rsvp,
    RsvpAnswer,
    TelegramBinding,
)
from storage.engine import create_engine
from storage.migrate import current_revision, head_revision, upgrade
from storage.repositories import Store
from storage.tables import metadata, outbox

T0 = datetime(2022, 10, 1, 9, 0, tzinfo=UTC)


def _notice(delegate: str, kind: NoticeKind = NoticeKind.INVITATION, due: datetime = T0) -> Notice:
    return Notice(
        key=notice_key("icmec-xx", kind, delegate),
        kind=kind,
        session_id="icmec-xx",
        delegate_id=delegate,
        due_at=due,
        channels=("telegram", "email"),
        status=NoticeStatus.SCHEDULED,
    )


async def test_migrations_create_exactly_the_declared_schema(database_url: str) -> None:
    assert await current_revision(database_url) is None
    await upgrade(database_url)
    await upgrade(database_url)  # a second run is harmless
    assert await current_revision(database_url) == head_revision()
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(lambda sync: compare_metadata(MigrationContext.configure(sync), metadata))
    finally:
        await engine.dispose()
    assert diff == []


async def test_outbox_enqueue_is_idempotent_and_keeps_times_in_utc(store: Store) -> None:
    moscow = datetime(2022, 10, 19, 13, 50, tzinfo=timezone(timedelta(hours=3)))
    notices = [_notice("kgz-asanov", due=moscow), _notice("rus-head")]
    assert await store.outbox.enqueue([OutboxItem(n) for n in notices], now=T0) == 2
    assert await store.outbox.enqueue([OutboxItem(n) for n in [*notices, _notice("blr-head")]], now=T0) == 1
    entry = await store.outbox.entry(notice_key("icmec-xx", NoticeKind.INVITATION, "kgz-asanov"))
    assert entry is not None
    assert entry.due_at == datetime(2022, 10, 19, 10, 50, tzinfo=UTC)
    assert entry.due_at.tzinfo is not None
    assert entry.status is OutboxStatus.PENDING
    assert entry.channels == ("telegram", "email")
    assert entry.attempts == 0
    assert await store.outbox.counts() == {"pending": 3}
    assert (await store.outbox.ledger()).settled == frozenset()


async def test_settled_keys_are_the_sent_failed_and_skipped_ones(store: Store) -> None:
    await store.outbox.enqueue([OutboxItem(_notice(d)) for d in ("a1", "a2", "a3", "a4")], now=T0)
    async with store.engine.begin() as conn:
        for delegate, status in (("a1", "sent"), ("a2", "failed"), ("a3", "skipped")):
            key = notice_key("icmec-xx", NoticeKind.INVITATION, delegate)
            await conn.execute(outbox.update().where(outbox.c.key == key).values(status=status, last_error="x"))
    settled = (await store.outbox.ledger()).settled
    assert settled == {notice_key("icmec-xx", NoticeKind.INVITATION, d) for d in ("a1", "a2", "a3")}


async def test_outbox_key_is_unique_at_the_database_level(store: Store) -> None:
    await store.outbox.enqueue([OutboxItem(_notice("kgz-asanov"))], now=T0)
    row = {
        "key": notice_key("icmec-xx", NoticeKind.INVITATION, "kgz-asanov"),
        "kind": "invitation",
        "session_id": "icmec-xx",
        "delegate_id": "kgz-asanov",
        "channels": "email",
        "due_at": T0,
        "status": "pending",
        "attempts": 0,
        "created_at": T0,
        "updated_at": T0,
    }
    with pytest.raises(IntegrityError):
        async with store.engine.begin() as conn:
            await conn.execute(outbox.insert().values(**row))


async def test_enqueue_many_in_batches(store: Store) -> None:
    notices = [OutboxItem(_notice(f"d{i:04d}")) for i in range(1234)]
    assert await store.outbox.enqueue(notices, now=T0) == 1234
    assert await store.outbox.counts() == {"pending": 1234}


async def test_telegram_binding_round_trip_and_rebinding(store: Store) -> None:
    binding = TelegramBinding(
        delegate_id="kgz-asanov",
        telegram_user_id=5_000_000_001,
        chat_id=5_000_000_001,
        username="asanov_kg",
        bound_at=T0,
    )
    await store.bindings.bind(binding)
    assert await store.bindings.get("kgz-asanov") == binding
    assert await store.bindings.delegate_for(5_000_000_001) == "kgz-asanov"
    # The same Telegram account bound by another delegate moves to them.
    moved = binding.model_copy(update={"delegate_id": "kgz-mamytova", "bound_at": T0 + timedelta(hours=1)})
    await store.bindings.bind(moved)
    assert await store.bindings.get("kgz-asanov") is None
    assert await store.bindings.delegate_for(5_000_000_001) == "kgz-mamytova"
    assert await store.bindings.unbind("kgz-mamytova") is True
    assert await store.bindings.unbind("kgz-mamytova") is False


async def test_rsvp_latest_answer_wins(store: Store) -> None:
    first = Rsvp(session_id="icmec-xx", delegate_id="kgz-asanov", answer=RsvpAnswer.IN_PERSON, answered_at=T0)
    await store.answers.record(first)
    second = Rsvp(
        session_id="icmec-xx",
        delegate_id="kgz-asanov",
        answer=RsvpAnswer.SUBSTITUTE,
        substitute_id="kgz-mamytova",
        comment="Заменит заместитель",
        answered_at=T0 + timedelta(days=1),
    )
    await store.answers.record(second)
    other = Rsvp(session_id="icmec-xx", delegate_id="arm-head", answer=RsvpAnswer.REMOTE, answered_at=T0)
    await store.answers.record(other)
    assert await store.answers.for_session("icmec-xx") == [other, second]
    assert await store.answers.for_session("icmec-xviii") == []


async def test_attendance_events_are_recorded_once_per_external_id(store: Store) -> None:
    join = AttendanceEvent(
        session_id="icmec-xx",
        delegate_id="kgz-asanov",
        state="KGZ",
        source=AttendanceSource.VIDEO,
        kind=AttendanceKind.JOIN,
        occurred_at=T0,
        external_id="evt-1",
    )
    assert await store.attendance.add(join, recorded_at=T0) is True
    assert await store.attendance.add(join, recorded_at=T0) is False
    check_in = AttendanceEvent(
        session_id="icmec-xx",
        delegate_id="rus-head",
        state="RUS",
        source=AttendanceSource.VENUE,
        kind=AttendanceKind.CHECK_IN,
        occurred_at=T0 - timedelta(minutes=5),
    )
    assert await store.attendance.add(check_in, recorded_at=T0) is True
    assert await store.attendance.add(check_in, recorded_at=T0) is True  # no external id: each check-in counts
    events = await store.attendance.for_session("icmec-xx")
    assert [e.kind for e in events] == [AttendanceKind.CHECK_IN, AttendanceKind.CHECK_IN, AttendanceKind.JOIN]
    assert events[-1] == join


async def test_attendance_facts_written_together_are_each_recorded_once(store: Store) -> None:
    def join(key: str | None, who: str = "kgz-asanov") -> AttendanceEvent:
        return AttendanceEvent(
            session_id="icmec-xx",
            delegate_id=who,
            state=who[:3].upper(),
            source=AttendanceSource.VIDEO if key else AttendanceSource.SECRETARIAT,
            kind=AttendanceKind.JOIN if key else AttendanceKind.PRESENT,
            occurred_at=T0,
            external_id=key,
            participant_id="w_1" if key else None,
            participant_name="Асанов" if key else None,
        )

    assert await store.attendance.add_many([join("evt-1")], T0) == [True]
    batch = [join("evt-1"), join("evt-2"), join("evt-2"), join(None, "rus-head"), join("evt-3", "rus-head")]
    assert await store.attendance.add_many(batch, T0) == [False, True, False, True, True]
    assert await store.attendance.add_many([], T0) == []
    stored = await store.attendance.for_session("icmec-xx")
    assert sorted((e.external_id or "", e.delegate_id or "") for e in stored) == [
        ("", "rus-head"),
        ("evt-1", "kgz-asanov"),
        ("evt-2", "kgz-asanov"),
        ("evt-3", "rus-head"),
    ]
    assert {e.participant_name for e in stored if e.external_id} == {"Асанов"}


async def test_a_large_batch_of_facts_is_stored_as_one_at_a_time_would_be(store: Store) -> None:
    """More facts than one statement takes, some repeated, stored with the same values (to the microsecond,
    in the same order by time) as facts added one by one, and the repeats refused across chunks."""

    def video(n: int, at: datetime) -> AttendanceEvent:
        return AttendanceEvent(
            session_id="icmec-xx",
            delegate_id="kgz-asanov",
            state="KGZ",
            source=AttendanceSource.VIDEO,
            kind=AttendanceKind.JOIN if n % 2 else AttendanceKind.LEAVE,
            occurred_at=at,
            external_id=f"evt-{n}",
            participant_id=f"w_{n}",
            participant_name="Асанов «КР»",
            room="breakout 1" if n % 3 == 0 else None,
        )

    alone = video(0, T0 + timedelta(microseconds=150))
    assert await store.attendance.add(alone, recorded_at=T0) is True
    batch = [video(n, T0 + timedelta(microseconds=n)) for n in range(1, 301)]
    batch[200] = video(7, T0 + timedelta(microseconds=7))  # repeats one of the first chunk
    new = await store.attendance.add_many([*batch, alone], T0 + timedelta(seconds=1))
    assert new == [True] * 200 + [False] + [True] * 99 + [False]
    stored = await store.attendance.for_session("icmec-xx")
    assert len(stored) == 300
    assert stored == sorted(stored, key=lambda e: e.occurred_at)
    assert stored[149] == alone  # its time, written alone, sorts among the batch's
    assert {e.external_id: e for e in stored}["evt-299"] == batch[298]


async def test_many_changes_logged_together_are_read_back_in_order(store: Store) -> None:
    events = [AnswerRecorded("icmec-xx", f"d-{n}", "yes") for n in range(150)]
    before = await store.changes.last()
    await store.changes.append_many(events, "replica-a", T0)
    read = await store.changes.since(before)
    assert [event for _, _, event in read] == events
    assert {origin for _, origin, _ in read} == {"replica-a"}
    assert [position for position, _, _ in read] == sorted(position for position, _, _ in read)


async def test_audit_log_newest_first(store: Store) -> None:
    for i in range(3):
        await store.audit.append(
            AuditEntry(
                at=T0 + timedelta(minutes=i),
                actor="secretariat:100000001",
                action="session.cancel",
                subject="icmec-xx" if i != 1 else "icmec-wg",
                details={"step": i, "reason": "Перенос"},
            )
        )
    trail = await store.audit.trail()
    assert [e.details["step"] for e in trail] == [2, 1, 0]
    assert trail[0].details["reason"] == "Перенос"
    assert [e.details["step"] for e in await store.audit.trail(subject="icmec-xx")] == [2, 0]


async def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(Exception, match="timezone-aware"):
        await store.outbox.enqueue([OutboxItem(_notice("x", due=datetime(2022, 10, 1, 9, 0)))], now=T0)


async def test_claims_are_exclusive_and_leases_expire(store: Store) -> None:
    await store.outbox.enqueue([OutboxItem(_notice(f"d{i}")) for i in range(5)], now=T0)
    first = await store.outbox.claim_due(T0, "worker-a", lease_seconds=30, limit=3)
    second = await store.outbox.claim_due(T0, "worker-b", lease_seconds=30, limit=10)
    assert len(first) == 3
    assert len(second) == 2
    assert not {i.key for i in first} & {i.key for i in second}
    assert await store.outbox.claim_due(T0 + timedelta(seconds=10), "worker-c", 30, 10) == []
    # worker-a dies: after its lease, its rows are taken back, and its late answer no longer counts.
    rescued = await store.outbox.claim_due(T0 + timedelta(seconds=31), "worker-c", 30, 10)
    assert {i.key for i in rescued} == {i.key for i in first} | {i.key for i in second}
    assert await store.outbox.mark_sent(first[0], "email", T0 + timedelta(seconds=32)) is False
    mine = next(i for i in rescued if i.key == first[0].key)
    assert await store.outbox.mark_sent(mine, "email", T0 + timedelta(seconds=32)) is True
    entry = await store.outbox.entry(first[0].key)
    assert entry is not None
    assert entry.status is OutboxStatus.SENT
    assert entry.channel_used == "email"
    assert entry.attempts == 1


async def test_retry_waits_and_failure_settles(store: Store) -> None:
    await store.outbox.enqueue([OutboxItem(_notice("d1")), OutboxItem(_notice("d2"))], now=T0)
    one, two = await store.outbox.claim_due(T0, "w", 30, 10)
    later = T0 + timedelta(minutes=5)
    assert await store.outbox.mark_retry(one, "SMTP 451 try later", later, channel_index=0, now=T0)
    assert await store.outbox.mark_failed(two, "Forbidden: bot was blocked by the user", now=T0)
    assert await store.outbox.claim_due(T0 + timedelta(minutes=1), "w", 30, 10) == []
    again = await store.outbox.claim_due(later, "w", 30, 10)
    assert [i.key for i in again] == [one.key]
    assert again[0].attempts == 1
    assert (await store.outbox.ledger()).settled == {two.key}
    assert await store.outbox.release("w", later) == 1
    assert (await store.outbox.counts()) == {"pending": 1, "failed": 1}


async def test_stale_notices_are_recorded_as_skipped(store: Store) -> None:
    stale = Notice(
        key="icmec-xviii:reminder:PT1H@20201127T0800Z:kgz-asanov",
        kind=NoticeKind.REMINDER,
        session_id="icmec-xviii",
        delegate_id="kgz-asanov",
        due_at=T0,
        channels=("email",),
        status=NoticeStatus.STALE,
    )
    await store.outbox.enqueue([OutboxItem(stale)], now=T0)
    assert await store.outbox.claim_due(T0 + timedelta(days=1), "w", 30, 10) == []
    assert stale.key in (await store.outbox.ledger()).settled


async def test_ledger_knows_who_was_told_and_what_was_announced(store: Store) -> None:
    from domain.ledger import SessionRecord

    await store.outbox.enqueue([OutboxItem(_notice(d)) for d in ("d1", "d2")], now=T0)
    claimed = await store.outbox.claim_due(T0, "w", 30, 10)
    await store.outbox.mark_sent(claimed[0], "email", T0)
    record = SessionRecord(digest="abc", snapshot={"start": "2022-10-19T14:00"}, sequence=0, updated_at=T0)
    await store.announcements.save({"icmec-xx": record})
    await store.announcements.save({"icmec-xx": SessionRecord("def", {"start": "x"}, 1, T0)})
    ledger = await store.outbox.ledger()
    assert ledger.told == {"icmec-xx": {claimed[0].delegate_id}}
    assert ledger.sessions["icmec-xx"].sequence == 1
    assert ledger.sessions["icmec-xx"].snapshot == {"start": "x"}


async def test_an_older_database_learns_what_each_delegate_holds(database_url: str) -> None:
    from sqlalchemy import text

    from domain.ledger import RecipientRecord

    await upgrade(database_url, "0006")
    engine = create_engine(database_url)
    # kgz-asanov got the invitation; rus-head got it and was uninvited; rus-head also got "old", since cancelled
    rows = [
        ("icmec-xx:invitation:kgz-asanov", "invitation", "icmec-xx", "kgz-asanov"),
        ("icmec-xx:invitation:rus-head", "invitation", "icmec-xx", "rus-head"),
        ("icmec-xx:cancellation:rus-head", "cancellation", "icmec-xx", "rus-head"),
        ("old:invitation:rus-head", "invitation", "old", "rus-head"),
        ("old:cancellation:rus-head", "cancellation", "old", "rus-head"),
    ]
    try:
        async with engine.begin() as conn:
            for key, kind, session, delegate in rows:
                await conn.execute(
                    text(
                        "INSERT INTO outbox (key, kind, session_id, delegate_id, channels, due_at, status, attempts,"
                        " channel_index, sent_at, created_at, updated_at) VALUES (:key, :kind, :session, :delegate,"
                        " 'email', :at, 'sent', 1, 0, :at, :at, :at)"
                    ),
                    {"key": key, "kind": kind, "session": session, "delegate": delegate, "at": T0.replace(tzinfo=None)},
                )
            for session, status, sequence in (("icmec-xx", "scheduled", 2), ("old", "cancelled", 1)):
                await conn.execute(
                    text(
                        "INSERT INTO session_records (session_id, digest, snapshot, sequence, updated_at)"
                        " VALUES (:s, 'x', :snap, :seq, :at)"
                    ),
                    {"s": session, "snap": f'{{"status": "{status}"}}', "seq": sequence, "at": T0.replace(tzinfo=None)},
                )
    finally:
        await engine.dispose()
    await upgrade(database_url)
    engine = create_engine(database_url)
    try:
        held = await Store(engine).announcements.recipients()
    finally:
        await engine.dispose()
    assert held["icmec-xx"]["kgz-asanov"] == RecipientRecord(invited=True, revision=0, holds=True, sequence=2)
    assert held["icmec-xx"]["rus-head"] == RecipientRecord(invited=False, revision=1, holds=False, sequence=3)
    assert held["old"]["rus-head"] == RecipientRecord(invited=True, revision=0, holds=False, sequence=1)


async def test_one_recipient_is_read_by_its_key(store: Store) -> None:
    from domain.ledger import RecipientRecord

    records = {
        ("icmec-xx", "d1"): RecipientRecord(invited=True, revision=2, holds=True, sequence=3),
        ("icmec-xx", "d2"): RecipientRecord(invited=False, revision=1, holds=False, sequence=None),
    }
    await store.announcements.save_recipients(records, T0)
    assert await store.announcements.recipient("icmec-xx", "d1") == records[("icmec-xx", "d1")]
    assert await store.announcements.recipient("icmec-xx", "d2") == records[("icmec-xx", "d2")]
    assert await store.announcements.recipient("icmec-xx", "d3") is None
    assert await store.announcements.recipient("icmec-xix", "d1") is None


async def test_the_recipients_of_some_delegates_are_read_by_their_keys(store: Store) -> None:
    from domain.ledger import RecipientRecord

    held = RecipientRecord(invited=True, revision=0, holds=True, sequence=1)
    records = {(s, d): held for s in ("icmec-xx", "icmec-xix") for d in ("d1", "d2", "d3")}
    await store.announcements.save_recipients(records, T0)
    found = await store.announcements.recipients_of([("icmec-xx", "d1"), ("icmec-xix", "d3"), ("icmec-xx", "d9")])
    assert found == {"icmec-xx": {"d1": held}, "icmec-xix": {"d3": held}}
