"""The leader lease on PostgreSQL (``domain.leadership``): one row, taken, renewed and fenced with the database's own
clock (``clock_timestamp()``: the time of the statement, not of its transaction's start), never the replicas'.

Every statement is a plain row lock, no advisory lock: it holds through a transaction pooler (PgBouncer in
transaction mode) and a lost connection frees it with its transaction. SQLite has no leases: it serves one
process, which leads alone (``services.leadership.SoleLeadership``).
"""

from __future__ import annotations

from sqlalchemy import delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.leadership import Deposed, LeaseState, Term
from storage.engine import reader
from storage.tables import leader_lease, leader_terms, replicas

LEASE = "plenary"
"""The name of the one lease: the replicas of one database elect one leader."""


def _later(seconds: float) -> object:
    """``clock_timestamp()`` plus ``seconds``, in the database."""
    return func.clock_timestamp() + literal_column("interval '1 millisecond'") * round(seconds * 1000)


class LeaseRepository:
    """Implements ``domain.ports.Leases`` over ``leader_lease`` and ``leader_terms`` (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    def _postgresql(self) -> None:
        if self.engine.dialect.name != "postgresql":
            raise RuntimeError("the leader lease needs PostgreSQL: on SQLite one process serves alone")

    async def campaign(self, holder: str, seconds: float) -> LeaseState:
        """Take the lease if it is free or ran out (the next term, recorded, the previous one ended when its
        lease did), extend it if ``holder`` holds it; the lease as it then stands."""
        self._postgresql()
        now = func.clock_timestamp()
        lease = leader_lease.c
        async with self.engine.begin() as conn:
            await conn.execute(
                insert(leader_lease)
                .values(name=LEASE, holder="", term=0, acquired_at=now, renewed_at=now, expires_at=now)
                .on_conflict_do_nothing()
            )
            row = (
                await conn.execute(
                    select(lease.holder, lease.term, lease.expires_at, now.label("at"))
                    .where(lease.name == LEASE)
                    .with_for_update()
                )
            ).one()
            seen = await self._seen(conn, holder, seconds)
            alive = row.expires_at > row.at
            if alive and row.holder != holder:
                return LeaseState(row.holder, int(row.term), row.expires_at, row.at, mine=False, replicas=seen)
            term = int(row.term) if alive else int(row.term) + 1
            changes: dict[str, object] = {"renewed_at": now, "expires_at": _later(seconds)}
            if not alive:
                changes |= {"holder": holder, "term": term, "acquired_at": now}
            taken = (
                await conn.execute(
                    update(leader_lease)
                    .where(lease.name == LEASE)
                    .values(**changes)
                    .returning(lease.expires_at, now.label("at"))
                )
            ).one()
            if not alive:
                terms = leader_terms.c
                ended = func.least(row.expires_at, now)
                await conn.execute(
                    update(leader_terms).where(terms.term == row.term, terms.ended_at.is_(None)).values(ended_at=ended)
                )
                await conn.execute(insert(leader_terms).values(term=term, holder=holder, started_at=now))
        return LeaseState(holder, term, taken.expires_at, taken.at, mine=True, replicas=seen)

    @staticmethod
    async def _seen(conn: AsyncConnection, holder: str, seconds: float) -> int:
        """Note that ``holder`` campaigned now; how many replicas did within ``seconds`` (it included). Rows of
        replicas gone for a day are forgotten."""
        now = func.clock_timestamp()
        await conn.execute(
            insert(replicas)
            .values(holder=holder, seen_at=now)
            .on_conflict_do_update(index_elements=["holder"], set_={"seen_at": now})
        )
        await conn.execute(delete(replicas).where(replicas.c.seen_at < _later(-86400)))
        count = await conn.scalar(
            select(func.count()).select_from(replicas).where(replicas.c.seen_at > _later(-seconds))
        )
        return max(1, int(count or 0))

    async def resign(self, holder: str, term: int | None) -> None:
        """End the lease and its term now, if ``holder`` still holds it for ``term``; and no longer count it among
        the replicas (a follower's resignation does only that)."""
        self._postgresql()
        now = func.clock_timestamp()
        async with self.engine.begin() as conn:
            await conn.execute(delete(replicas).where(replicas.c.holder == holder))
            if term is None:
                return
            gave = await conn.execute(
                update(leader_lease)
                .where(leader_lease.c.name == LEASE, leader_lease.c.holder == holder, leader_lease.c.term == term)
                .values(expires_at=now)
            )
            if gave.rowcount:
                await conn.execute(
                    update(leader_terms)
                    .where(leader_terms.c.term == term, leader_terms.c.ended_at.is_(None))
                    .values(ended_at=now)
                )

    async def fence(self, holder: str, term: int) -> None:
        """In the caller's transaction: ``Deposed`` unless the lease is ``holder``'s for ``term`` and unexpired;
        the row is then share-locked, so no campaign takes it over before that transaction ends."""
        self._postgresql()
        lease = leader_lease.c
        async with self.engine.begin() as conn:
            held = (
                await conn.execute(
                    select(lease.term)
                    .where(
                        lease.name == LEASE,
                        lease.holder == holder,
                        lease.term == term,
                        lease.expires_at > func.clock_timestamp(),
                    )
                    .with_for_update(read=True)
                )
            ).first()
        if held is None:
            raise Deposed(f"term {term} of {holder} is over: the database refused the write")

    async def terms(self) -> list[Term]:
        """Every recorded term, oldest first."""
        async with self.reader.connect() as conn:
            rows = (await conn.execute(select(leader_terms).order_by(leader_terms.c.term))).all()
        return [Term(int(r.term), r.holder, r.started_at, r.ended_at) for r in rows]
