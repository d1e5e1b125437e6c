"""Keeping the plan: on start, on reload and when notices fall due, put what is due in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from domain.changes import changes, removed_announced
from domain.deployment import Deployment
from domain.ledger import Ledger
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from domain.ports import Announcements, Clock, Outbox, Transactions
from scheduler.plan import Announced, announce, plan
from services.supervision import Loops, backoff

log = logging.getLogger(__name__)

WAKE_JOB = "plenary-wake"
LOOP = "timeline"


class PlanningError(Exception):
    """A configuration that validated cannot be planned, or removes what delegates hold; the one in force stays."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class SyncReport:
    """What one synchronisation did."""

    enqueued: int = 0
    """Rows new in the outbox (stale ones included, recorded as skipped)."""
    skipped: int = 0
    """Stale notices among those planned."""
    next_due: datetime | None = None
    by_kind: Counter[str] = field(default_factory=Counter)
    """Notices due now (or overdue and still useful), by kind, whether or not already queued."""


class Timeline:
    """Turns the plan into outbox rows at the right moments; the database, not the timer, is the record.

    APScheduler only wakes us: at each wake the plan is made again from the configuration and the ledger,
    so a lost or early timer can neither lose nor duplicate a notice.
    """

    def __init__(
        self,
        outbox: Outbox,
        announcements: Announcements,
        clock: Clock,
        on_enqueued: Callable[[], None],
        loops: Loops | None = None,
        transactions: Transactions | None = None,
        fence: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.transactions, self.fence = transactions, fence
        """A synchronisation's writes are one transaction, fenced by the leader's term (``domain.leadership``):
        a replica that no longer leads writes nothing."""
        self.leading = True
        """Whether this replica plans and queues: only the leader does; the others keep the configuration in
        force (for their HTTP, bot and dispatcher) and validate each one, but write nothing."""
        self.outbox = outbox
        self.announcements = announcements
        self.loops = loops or Loops()
        self.clock = clock
        self.on_enqueued = on_enqueued
        self.deployment: Deployment | None = None
        self.scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
        )
        self._lock = asyncio.Lock()
        self._stopped = False

    def start(self) -> None:
        """Start the timer (in the running event loop)."""
        self._stopped = False
        self.loops.register(LOOP)
        self.scheduler.start()

    async def lead(self) -> SyncReport:
        """This replica leads from now on: synchronise at once, and keep the timer."""
        self.leading = True
        return await self.sync()

    def follow(self) -> None:
        """Another replica leads: no more synchronisations, no timer."""
        self.leading = False
        if self.scheduler.running and self.scheduler.get_job(WAKE_JOB):
            self.scheduler.remove_job(WAKE_JOB)
        self.loops.ok(LOOP, next_within=float("inf"))  # idle on purpose, not stuck

    async def stop(self) -> None:
        """Stop the timer and wait for a synchronisation in progress; the next start plans again."""
        self._stopped = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        async with self._lock:
            pass

    async def apply(self, deployment: Deployment, planned: Callable[[Deployment], None] | None = None) -> SyncReport:
        """Take a (new) configuration and synchronise at once; one that cannot be planned is refused.

        ``PlanningError`` (it cannot be planned, or it removes a session or delegate that delegates hold an
        invitation of: ``domain.changes.removed_announced``): the configuration in force stays. Any other error
        (the database) leaves the new configuration in force and a synchronisation is tried again after a
        backoff. ``planned`` is called with the configuration once it is known to plan, before its notices are
        queued.
        """
        async with self._lock:
            ledger = await self.outbox.ledger()
            removed = removed_announced(deployment, ledger)
            if removed:
                raise PlanningError(removed)
            now = self.clock.now()
            try:
                announced = announce(deployment, ledger, now)
                notices = plan(deployment, now, ledger, announced)
            except Exception as exc:
                raise PlanningError([f"the configuration cannot be planned: {type(exc).__name__}: {exc}"]) from exc
            self.deployment = deployment
            if planned is not None:  # before anything is queued: what is sent is rendered from this configuration
                planned(deployment)
            if not self.leading:
                return SyncReport()
            return await self._guarded(deployment, (ledger, announced, notices, now))

    async def sync(self) -> SyncReport:
        """Enqueue every notice due now, record stale ones, remember what was announced, set the next wake."""
        async with self._lock:
            deployment = self.deployment
            if deployment is None or self._stopped or not self.leading:
                return SyncReport()
            return await self._guarded(deployment, None)

    async def _wake(self) -> None:
        """The timer's job: synchronise; a failure was logged and a retry is set."""
        try:
            await self.sync()
        except Exception:
            return

    async def _guarded(
        self, deployment: Deployment, planned: tuple[Ledger, Announced, list[Notice], datetime] | None
    ) -> SyncReport:
        try:
            if planned is None:
                now = self.clock.now()
                ledger = await self.outbox.ledger()
                announced = announce(deployment, ledger, now)
                planned = (ledger, announced, plan(deployment, now, ledger, announced), now)
            report = await self._sync(*planned)
        except Exception as exc:
            failures = self.loops.failed(LOOP, exc)
            delay = backoff(failures, first=1.0, cap=15.0)
            log.error(
                "synchronisation failed (%s: %s); trying again in %.0f s",
                type(exc).__name__,
                exc,
                delay,
                exc_info=failures == 1,
            )
            self._schedule_in(delay)
            raise
        next_in = self.clock.real_seconds_until(report.next_due) if report.next_due else float("inf")
        self.loops.ok(LOOP, next_within=next_in)
        if report.enqueued:
            log.info("%d new notices in the outbox (due now: %s)", report.enqueued, dict(report.by_kind) or "none")
            self.on_enqueued()
        return report

    async def _sync(self, ledger: Ledger, announced: Announced, notices: list[Notice], now: datetime) -> SyncReport:
        report = SyncReport()
        items: list[OutboxItem] = []
        changes_of = self._changes(announced, ledger, notices)
        for notice in notices:
            if notice.status is NoticeStatus.SCHEDULED and notice.due_at > now:
                if report.next_due is None or notice.due_at < report.next_due:
                    report.next_due = notice.due_at
                continue
            payload: dict[str, object] = {}
            if notice.sequence is not None:
                payload["sequence"] = notice.sequence
            if notice.kind is NoticeKind.UPDATE:
                payload["changes"] = changes_of.get(notice.session_id, [])
            items.append(OutboxItem(notice, payload))
            if notice.status is NoticeStatus.STALE:
                report.skipped += 1
            else:
                report.by_kind[notice.kind.value] += 1
        async with self.transactions() if self.transactions is not None else contextlib.nullcontext():
            if self.fence is not None:
                await self.fence()  # the database refuses the rest unless this replica still leads
            report.enqueued = await self.outbox.enqueue(items, now)
            # Only with the notices queued is the new state of each session and delegate recorded.
            await self.announcements.save(announced.changed)
            await self.announcements.save_recipients(announced.transitions, now)
        self._schedule(report.next_due)
        return report

    @staticmethod
    def _changes(announced: Announced, ledger: Ledger, notices: list[Notice]) -> dict[str, list[list[str]]]:
        """What each updated session's update lists: what changed since the last announcement."""
        wanted = {n.session_id for n in notices if n.kind is NoticeKind.UPDATE}
        out: dict[str, list[list[str]]] = {}
        for session_id in wanted:
            record = ledger.sessions.get(session_id)
            if record is None:
                continue
            out[session_id] = [
                [c.field, c.old, c.new] for c in changes(dict(record.snapshot), announced.snapshots[session_id])
            ]
        return out

    def _schedule(self, next_due: datetime | None) -> None:
        if not self.scheduler.running:
            return
        if next_due is None:
            if self.scheduler.get_job(WAKE_JOB):
                self.scheduler.remove_job(WAKE_JOB)
            return
        self._schedule_in(self.clock.real_seconds_until(next_due))

    def _schedule_in(self, real_seconds: float) -> None:
        if not self.scheduler.running or self._stopped or not self.leading:
            return
        run_at = datetime.now(UTC) + timedelta(seconds=real_seconds)
        self.scheduler.add_job(self._wake, DateTrigger(run_date=run_at), id=WAKE_JOB, replace_existing=True)
