"""The leader lease on a real PostgreSQL, between processes' parts that share nothing but the database: one leads at
a time, a lease that is not renewed passes to another in a new term, a deposed leader's fenced write is refused
by the database, a fenced transaction holds a takeover off until it ends, a resignation hands over at once, and
every term is recorded with its start and end by the database's clock, never two at once. SQLite's one process
leads alone."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest

from domain.leadership import Deposed
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from services.leadership import Leadership, SoleLeadership
from storage.repositories import Store
from tests.conftest import migrated_store


def quick(store: Store, holder: str) -> Leadership:
    """A leadership with a lease of a second and a half."""
    return Leadership(store.leases, holder, lease=1.5, every=0.2, margin=0.3)


def notice(key: str) -> OutboxItem:
    at = datetime(2030, 1, 1, tzinfo=UTC)
    return OutboxItem(Notice(key, NoticeKind.BROADCAST, "s", "d", at, ("email",), NoticeStatus.DUE))


async def fenced_write(store: Store, holder: str, term: int, key: str) -> None:
    """A leader-only write: fenced by ``term``, then a notice queued, in one transaction."""
    async with store.transactions():
        await store.leases.fence(holder, term)
        await store.outbox.enqueue([notice(key)], datetime.now(UTC))


@pytest.mark.postgres
async def test_one_leads_and_a_lease_not_renewed_passes_to_another_whose_term_follows(postgres_url: str) -> None:
    async with migrated_store(postgres_url) as one, migrated_store(postgres_url) as two:
        a, b = quick(one, "replica-a"), quick(two, "replica-b")
        told: list[int | None] = []

        async def heard(term: int | None) -> None:
            told.append(term)

        a.follow(heard)
        await a.round()
        await b.round()
        assert (a.term, a.leading, b.term, b.leading) == (1, True, None, False)
        assert (b.leader, b.leader_term) == ("replica-a", 1)
        async with one.transactions():
            await a.fence()  # the leader's write goes through

        await asyncio.sleep(1.6)  # a is paused: it renews nothing
        assert not a.leading  # by its own clock it stepped down before the lease ended
        await b.round()
        assert (b.term, b.leading) == (2, True)
        with pytest.raises(Deposed):
            async with one.transactions():
                await one.leases.fence("replica-a", 1)  # the database refuses a's term whatever a believes
        await a.round()
        assert a.term is None
        assert told == [1, None]

        terms = await one.leases.terms()
        assert [(t.term, t.holder) for t in terms] == [(1, "replica-a"), (2, "replica-b")]
        assert terms[0].ended_at is not None
        assert terms[0].ended_at <= terms[1].started_at  # never two leaders at once
        assert terms[1].ended_at is None


@pytest.mark.postgres
async def test_a_fenced_write_holds_a_takeover_off_until_it_ends(postgres_url: str) -> None:
    async with migrated_store(postgres_url) as one, migrated_store(postgres_url) as two:
        a, b = quick(one, "replica-a"), quick(two, "replica-b")
        await a.round()
        committed = 0.0
        async with one.transactions():
            await a.fence()
            await one.outbox.enqueue([notice("fenced")], datetime.now(UTC))
            await asyncio.sleep(1.7)  # the lease runs out while the fenced transaction is open
            campaign = asyncio.create_task(b.round())
            await asyncio.sleep(0.3)
            assert not campaign.done()  # the row is share-locked: b waits for the write to end
            committed = time.monotonic()
        await campaign
        assert b.term == 2
        assert time.monotonic() >= committed
        [written] = await one.outbox.claim_due(datetime(2031, 1, 1, tzinfo=UTC), "w", 30, 10)
        assert written.key == "fenced"  # made before the takeover, and kept
        terms = await two.leases.terms()
        assert terms[0].ended_at is not None
        assert terms[0].ended_at <= terms[1].started_at


@pytest.mark.postgres
async def test_a_resignation_hands_over_at_the_next_round_and_a_deposed_timeline_writes_nothing(
    postgres_url: str,
) -> None:
    async with migrated_store(postgres_url) as one, migrated_store(postgres_url) as two:
        a, b = Leadership(one.leases, "replica-a"), Leadership(two.leases, "replica-b")
        counted: list[int] = []
        b.count(counted.append)
        await a.round()
        await b.round()
        assert b.term is None
        assert (a.replicas, b.replicas) == (1, 2)  # a campaigned alone; then both had: Telegram's budget halves
        await a.resign()
        assert a.term is None
        await b.round()
        assert b.term == 2  # at once, not when the lease would have run out
        assert b.replicas == 1  # a left at once: b has the whole budget again
        assert counted == [2, 1]
        with pytest.raises(Deposed):
            await a.fence()
        with pytest.raises(Deposed):
            await fenced_write(one, "replica-a", 1, "late")
        assert await one.outbox.claim_due(datetime(2031, 1, 1, tzinfo=UTC), "w", 30, 10) == []  # nothing queued
        terms = await two.leases.terms()
        assert [(t.term, t.holder, t.ended_at is None) for t in terms] == [
            (1, "replica-a", False),
            (2, "replica-b", True),
        ]


async def test_sqlite_s_one_process_leads_alone_until_it_stops(sqlite_store: Store) -> None:
    alone = SoleLeadership("only")
    with pytest.raises(Deposed):
        await alone.fence()
    await alone.round()
    assert (alone.term, alone.leading) == (1, True)
    await alone.fence()
    await alone.resign()
    with pytest.raises(Deposed):
        await alone.fence()
    with pytest.raises(RuntimeError, match="needs PostgreSQL"):
        await sqlite_store.leases.campaign("only", 10)
