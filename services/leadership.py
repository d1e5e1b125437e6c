"""Which replica leads (``domain.leadership``): a campaign every few seconds for the lease the database keeps.

The leader runs what must run once (the timeline, Telegram's long polling, the periodic housekeeping): those
start when it is elected and stop when it steps down. It steps down when another holds the lease, and also —
before its lease ends — when it cannot renew it (the database unreachable, the process paused): it counts
the lease's time from the moment it asked, by its own monotonic clock, so that a slow answer shortens it and
never lengthens it. Its leader-only writes are fenced by its term in the database all the same
(``fence``), for the case it was paused between believing and writing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from domain.leadership import Deposed, LeaseState, Term
from domain.ports import Leases

log = logging.getLogger(__name__)

LOOP = "leadership"
LEASE_SECONDS = 8.0
"""How long a lease runs from each renewal: a dead leader's successor takes over within this plus one round."""
ROUND_SECONDS = 1.5
"""How often every replica campaigns (the leader renews)."""
MARGIN_SECONDS = 2.0
"""How long before its lease ends a leader that could not renew steps down."""

Change = Callable[[int | None], Awaitable[None]]
"""Told the new term when this process is elected, None when it steps down."""


class Leadership:
    """This replica's part in the election, as ``holder``."""

    def __init__(
        self,
        leases: Leases,
        holder: str,
        *,
        lease: float = LEASE_SECONDS,
        every: float = ROUND_SECONDS,
        margin: float = MARGIN_SECONDS,
    ) -> None:
        self.leases, self.holder = leases, holder
        self.lease, self.every, self.margin = lease, every, margin
        self.term: int | None = None
        """The term this process leads in; None while it follows."""
        self.leader: str | None = None
        """Who leads, as this replica last heard from the database (itself or another)."""
        self.leader_term: int | None = None
        self._until = 0.0
        """By this process's monotonic clock, when it must have stepped down unless it renews."""
        self._listeners: list[Change] = []
        self._stopping = False
        self.replicas = 1
        """How many replicas campaign (this one included), as last seen."""
        self._counting: list[Callable[[int], None]] = []

    def follow(self, listener: Change) -> None:
        """Be told of every election and step-down of this process, in order."""
        self._listeners.append(listener)

    def count(self, listener: Callable[[int], None]) -> None:
        """Be told how many replicas campaign, whenever that changes (they share Telegram's budget)."""
        self._counting.append(listener)

    @property
    def leading(self) -> bool:
        """Whether this process leads now (a term, and time left on its lease)."""
        return self.term is not None and time.monotonic() < self._until

    async def run(self) -> None:
        """Campaign every round until cancelled; step down when the lease is lost or about to run out."""
        while not self._stopping:
            await self.round()
            wait = self.every
            if self.term is not None:  # wake in time to step down if the next renewal hangs
                wait = max(0.0, min(wait, self._until - time.monotonic()))
            await asyncio.sleep(wait)

    async def round(self) -> None:
        """One campaign: elected, renewed, stepped down or still following."""
        asked = time.monotonic()
        try:
            budget = max(0.1, self._until - asked) if self.term is not None else self.lease
            state = await asyncio.wait_for(self.leases.campaign(self.holder, self.lease), timeout=budget)
        except Exception as exc:  # the database: a leader whose lease is about to end steps down
            if self.term is not None and time.monotonic() >= self._until:
                log.error("could not renew the leader lease (%s): stepping down", type(exc).__name__)
                await self._step_down()
            elif self.term is None:
                log.warning("could not campaign for the leader lease (%s)", type(exc).__name__)
            return
        await self._heard(state, asked)

    async def _heard(self, state: LeaseState, asked: float) -> None:
        self.leader, self.leader_term = state.holder, state.term
        if state.replicas != self.replicas:
            self.replicas = state.replicas
            log.info("%d replicas share the work", state.replicas)
            for listener in self._counting:
                listener(state.replicas)
        if not state.mine:
            if self.term is not None:
                log.warning("replica %s leads now (term %d): stepping down", state.holder, state.term)
                await self._step_down()
            return
        self._until = asked + state.seconds_left - self.margin
        if self.term == state.term:
            return
        if self.term is not None:  # our lease ran out and we took it again: a new term, started afresh
            await self._step_down()
        self.term = state.term
        log.info("this replica (%s) leads, term %d", self.holder, state.term)
        await self._tell(state.term)

    async def _step_down(self) -> None:
        if self.term is None:
            return
        log.info("this replica (%s) no longer leads (term %d ended)", self.holder, self.term)
        self.term, self._until = None, 0.0
        await self._tell(None)

    async def _tell(self, term: int | None) -> None:
        for listener in self._listeners:
            try:
                await listener(term)
            except Exception:
                log.exception("a part of the leader's work did not follow the election")

    async def fence(self) -> None:
        """Inside a transaction: ``Deposed`` unless this process's term is the lease's, unexpired, as the database
        says (not as this process believes: it may have been paused since it last renewed)."""
        term = self.term
        if term is None:
            raise Deposed(f"{self.holder} does not lead: the write is not made")
        await self.leases.fence(self.holder, term)

    async def resign(self) -> None:
        """Stop campaigning and give the lease up at once (the service stopping): another takes over at its
        next round instead of when the lease would have ended."""
        self._stopping = True
        term = self.term
        await self._step_down()
        try:
            await self.leases.resign(self.holder, term)
        except Exception as exc:  # the lease then simply runs out
            log.warning("could not give up the leader lease (%s)", type(exc).__name__)


class SoleLeadership(Leadership):
    """One process alone on its database (SQLite, locked to one process): it leads from the start, in term 1."""

    def __init__(self, holder: str) -> None:
        super().__init__(_NoLeases(), holder)

    @property
    def leading(self) -> bool:
        """Whether it leads: from its first round to its resignation."""
        return self.term is not None

    async def run(self) -> None:
        """Lead until cancelled."""
        await self.round()
        await asyncio.Event().wait()

    async def round(self) -> None:
        """Take the lead, the first time."""
        if self.term is None and not self._stopping:
            self.term, self.leader, self.leader_term = 1, self.holder, 1
            await self._tell(1)

    async def fence(self) -> None:
        """Nothing to refuse: no other process writes to this database."""
        if self.term is None:
            raise Deposed(f"{self.holder} has stopped: the write is not made")


class _NoLeases:
    """No lease to keep: never asked (``SoleLeadership`` leads alone)."""

    async def campaign(self, holder: str, seconds: float) -> LeaseState:
        raise RuntimeError("one process alone keeps no lease")

    async def resign(self, holder: str, term: int | None) -> None:
        """Nothing to give up."""

    async def fence(self, holder: str, term: int) -> None:
        """Nothing to refuse."""

    async def terms(self) -> list[Term]:
        return []
