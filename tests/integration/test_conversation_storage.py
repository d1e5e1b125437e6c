"""What the bot keeps between updates, on SQLite and PostgreSQL: answers with their history and source, updates
handled once, delegates' own choices, nudges and substitutions; and the migration that adds them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from domain.records import Preferences, Rsvp, RsvpAnswer, RsvpSource, Substitution
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store

T0 = datetime(2022, 10, 5, 9, 0, tzinfo=UTC)


def rsvp(answer: RsvpAnswer, minutes: int, source: RsvpSource = RsvpSource.TELEGRAM, **extra: str) -> Rsvp:
    return Rsvp(
        session_id="icmec-xx",
        delegate_id="kgz-asanov",
        answer=answer,
        answered_at=T0 + timedelta(minutes=minutes),
        source=source,
        **extra,  # type: ignore[arg-type]
    )


async def test_every_answer_is_kept_and_the_latest_is_in_force(store: Store) -> None:
    await store.answers.record(rsvp(RsvpAnswer.IN_PERSON, 0))
    await store.answers.record(rsvp(RsvpAnswer.REMOTE, 5, RsvpSource.WEB))
    await store.answers.record(rsvp(RsvpAnswer.SUBSTITUTE, 9, RsvpSource.CALENDAR, substitute_id="kgz-mamytova"))
    latest = (await store.answers.all())[("icmec-xx", "kgz-asanov")]
    assert (latest.answer, latest.source, latest.substitute_id) == (
        RsvpAnswer.SUBSTITUTE,
        RsvpSource.CALENDAR,
        "kgz-mamytova",
    )
    history = await store.answers.history("icmec-xx", "kgz-asanov")
    assert [(r.answer, r.source, r.answered_at) for r in history] == [
        (RsvpAnswer.IN_PERSON, RsvpSource.TELEGRAM, T0),
        (RsvpAnswer.REMOTE, RsvpSource.WEB, T0 + timedelta(minutes=5)),
        (RsvpAnswer.SUBSTITUTE, RsvpSource.CALENDAR, T0 + timedelta(minutes=9)),
    ]
    assert await store.answers.history("icmec-xx", "rus-head") == []


async def test_an_update_is_handled_once_by_another_process_or_after_a_restart(store: Store, database_url: str) -> None:
    assert await store.updates.first_time(1001, T0)
    assert not await store.updates.first_time(1001, T0 + timedelta(seconds=1))
    await store.updates.noted(1001)  # acknowledged to Telegram only now: a replay may come anywhere
    assert await store.updates.first_time(1002, T0 + timedelta(days=2))
    await store.updates.noted(1002)
    other = Store(create_engine(database_url))  # a replica's engine on PostgreSQL; on SQLite, the next start's
    try:
        assert not await other.updates.first_time(1001, T0 + timedelta(days=2))
        assert not await other.updates.first_time(1002, T0 + timedelta(days=2))
        assert await other.updates.first_time(1003, T0 + timedelta(days=2))
        await other.updates.noted(1003)
    finally:
        await other.engine.dispose()
    assert await store.updates.prune(T0 + timedelta(days=1)) == 1
    assert await store.updates.first_time(1001, T0 + timedelta(days=3))  # forgotten after the prune
    assert not await store.updates.first_time(1002, T0 + timedelta(days=3))


async def test_an_update_whose_note_could_not_be_stored_is_handled_when_it_comes_again(store: Store) -> None:
    assert await store.updates.first_time(1101, T0)
    await store.updates.noted(1101)
    async with store.engine.begin() as conn:  # the table is gone: the next note cannot be stored
        await conn.execute(sa.text("ALTER TABLE telegram_updates RENAME TO telegram_updates_away"))
    try:
        if store.engine.dialect.name == "sqlite":  # this process's memory decides at once; the note is behind
            assert await store.updates.first_time(1102, T0)
            with pytest.raises(sa.exc.DBAPIError):
                await store.updates.noted(1102)
        else:  # the primary key decides, before the update is handled
            with pytest.raises(sa.exc.DBAPIError):
                await store.updates.first_time(1102, T0)
    finally:
        async with store.engine.begin() as conn:
            await conn.execute(sa.text("ALTER TABLE telegram_updates_away RENAME TO telegram_updates"))
    assert await store.updates.first_time(1102, T0 + timedelta(seconds=5))  # Telegram's next delivery
    await store.updates.noted(1102)
    assert not await store.updates.first_time(1101, T0 + timedelta(seconds=5))  # the stored one is still a replay


async def test_a_delegates_choices_replace_their_earlier_ones(store: Store) -> None:
    assert await store.preferences.get("kgz-asanov") is None
    await store.preferences.put(Preferences(delegate_id="kgz-asanov", language="ky", updated_at=T0))
    await store.preferences.put(
        Preferences(delegate_id="kgz-asanov", language="ky", timezone="Asia/Bishkek", updated_at=T0)
    )
    await store.preferences.put(Preferences(delegate_id="rus-head", timezone="Europe/Moscow", updated_at=T0))
    chosen = await store.preferences.get("kgz-asanov")
    assert chosen is not None
    assert (chosen.language, chosen.timezone) == ("ky", "Asia/Bishkek")
    assert set(await store.preferences.all()) == {"kgz-asanov", "rus-head"}


async def test_nudges_remember_the_last_time_per_delegate(store: Store) -> None:
    await store.nudges.record("icmec-xx", ["kgz-asanov", "rus-head"], T0)
    await store.nudges.record("icmec-xx", ["kgz-asanov"], T0 + timedelta(days=1))
    await store.nudges.record("icmec-xx", [], T0 + timedelta(days=2))
    await store.nudges.record("other", ["kgz-asanov"], T0)
    assert await store.nudges.last("icmec-xx") == {"kgz-asanov": T0 + timedelta(days=1), "rus-head": T0}


async def test_a_substitution_can_be_named_changed_and_withdrawn(store: Store) -> None:
    first = Substitution(
        session_id="icmec-xx",
        delegate_id="kgz-tokoev",
        substitute_id="kgz-osmonov",
        named_by="delegate:kgz-asanov",
        named_at=T0,
    )
    await store.substitutions.name(first)
    await store.substitutions.name(first.model_copy(update={"substitute_id": "kgz-alymbekov"}))
    [held] = await store.substitutions.for_session("icmec-xx")
    assert held.substitute_id == "kgz-alymbekov"
    assert await store.substitutions.withdraw("icmec-xx", "kgz-tokoev")
    assert not await store.substitutions.withdraw("icmec-xx", "kgz-tokoev")
    assert await store.substitutions.for_session("icmec-xx") == []


async def test_the_migration_keeps_the_answers_recorded_before_it(database_url: str) -> None:
    await upgrade(database_url, "0007")
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "INSERT INTO rsvps (session_id, delegate_id, answer, answered_at) "
                    "VALUES ('icmec-xx', 'kgz-asanov', 'remote', :at)"
                ),
                {"at": T0.replace(tzinfo=None) if database_url.startswith("sqlite") else T0},
            )
        await upgrade(database_url)
        store = Store(engine)
        [kept] = await store.answers.history("icmec-xx", "kgz-asanov")
        assert (kept.answer, kept.source, kept.answered_at) == (RsvpAnswer.REMOTE, RsvpSource.TELEGRAM, T0)
        assert (await store.answers.all())[("icmec-xx", "kgz-asanov")].source is RsvpSource.TELEGRAM
    finally:
        await engine.dispose()


async def test_the_service_forgets_updates_too_old_to_come_back(store: Store) -> None:
    import asyncio

    from services.housekeeping import prune_updates
    from tests.doubles.channels import FakeClock

    assert await store.updates.first_time(2001, T0)
    assert await store.updates.first_time(2002, T0 + timedelta(days=3))
    task = asyncio.create_task(prune_updates(store.updates, FakeClock(T0 + timedelta(days=3, hours=1)), every=0.01))
    try:
        for _ in range(200):
            if await store.updates.first_time(2001, T0 + timedelta(days=3)):
                break  # forgotten: it counts as new again
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the two-day-old update was never forgotten")
    finally:
        task.cancel()
    assert not await store.updates.first_time(2002, T0 + timedelta(days=3))  # a recent one is kept
