"""Keeping the plan: on start, on reload and when notices fall due, put what is due in the outbox."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from domain.changes import changes
from domain.deployment import Deployment
from domain.ledger import Ledger, SessionRecord
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from domain.ports import Announcements, Clock, Outbox
from scheduler.plan import plan, session_digest
from services.supervision import Loops, backoff

log = logging.getLogger(__name__)

WAKE_JOB = "plenary-wake"
LOOP = "timeline"


class PlanningError(Exception):
    """A configuration that validated cannot be planned; the one in force stays."""


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
    ) -> None:
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

    async def stop(self) -> None:
        """Stop the timer and wait for a synchronisation in progress; the next start plans again."""
        self._stopped = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        async with self._lock:
            pass

    async def apply(self, deployment: Deployment) -> SyncReport:
        """Take a (new) configuration and synchronise at once; one that cannot be planned is refused.

        ``PlanningError``: the configuration in force stays. Any other error (the database) leaves the new
        configuration in force and a synchronisation is tried again after a backoff.
        """
        async with self._lock:
            ledger = await self.outbox.ledger()
            now = self.clock.now()
            try:
                notices = plan(deployment, now, ledger)
            except Exception as exc:
                raise PlanningError(f"the configuration cannot be planned: {type(exc).__name__}: {exc}") from exc
            self.deployment = deployment
            return await self._guarded(deployment, ledger, notices, now)

    async def sync(self) -> SyncReport:
        """Enqueue every notice due now, record stale ones, remember what was announced, set the next wake."""
        async with self._lock:
            deployment = self.deployment
            if deployment is None or self._stopped:
                return SyncReport()
            return await self._guarded(deployment, None, None, None)

    async def _wake(self) -> None:
        """The timer's job: synchronise; a failure was logged and a retry is set."""
        try:
            await self.sync()
        except Exception:
            return

    async def _guarded(
        self, deployment: Deployment, ledger: Ledger | None, notices: list[Notice] | None, now: datetime | None
    ) -> SyncReport:
        try:
            if ledger is None or notices is None or now is None:
                now = self.clock.now()
                ledger = await self.outbox.ledger()
                notices = plan(deployment, now, ledger)
            report = await self._sync(deployment, ledger, notices, now)
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

    async def _sync(self, deployment: Deployment, ledger: Ledger, notices: list[Notice], now: datetime) -> SyncReport:
        report = SyncReport()
        items: list[OutboxItem] = []
        snapshots = {session_id: session_digest(deployment, session_id) for session_id in deployment.sessions}
        payloads = self._update_payloads(snapshots, ledger, notices)
        for notice in notices:
            if notice.status is NoticeStatus.SCHEDULED and notice.due_at > now:
                if report.next_due is None or notice.due_at < report.next_due:
                    report.next_due = notice.due_at
                continue
            items.append(
                OutboxItem(notice, payloads.get(notice.session_id, {}) if notice.kind is NoticeKind.UPDATE else {})
            )
            if notice.status is NoticeStatus.STALE:
                report.skipped += 1
            else:
                report.by_kind[notice.kind.value] += 1
        report.enqueued = await self.outbox.enqueue(items, now)
        # Only after the updates are safely queued is the new state of each session recorded.
        await self.announcements.save(self._records(snapshots, ledger, now))
        self._schedule(report.next_due)
        return report

    @staticmethod
    def _update_payloads(
        snapshots: dict[str, tuple[str, dict[str, object]]], ledger: Ledger, notices: list[Notice]
    ) -> dict[str, dict[str, object]]:
        wanted = {n.session_id for n in notices if n.kind is NoticeKind.UPDATE}
        payloads: dict[str, dict[str, object]] = {}
        for session_id in wanted:
            record = ledger.sessions.get(session_id)
            if record is None:
                continue
            _, snap = snapshots[session_id]
            payloads[session_id] = {
                "changes": [[c.field, c.old, c.new] for c in changes(dict(record.snapshot), snap)],
                "sequence": record.sequence + 1,
            }
        return payloads

    @staticmethod
    def _records(
        snapshots: dict[str, tuple[str, dict[str, object]]], ledger: Ledger, now: datetime
    ) -> dict[str, SessionRecord]:
        records: dict[str, SessionRecord] = {}
        for session_id, (digest, snap) in snapshots.items():
            old = ledger.sessions.get(session_id)
            if old is not None and old.digest == digest:
                continue
            sequence = 0 if old is None else old.sequence + 1
            records[session_id] = SessionRecord(digest=digest, snapshot=snap, sequence=sequence, updated_at=now)
        return records

    def _schedule(self, next_due: datetime | None) -> None:
        if not self.scheduler.running:
            return
        if next_due is None:
            if self.scheduler.get_job(WAKE_JOB):
                self.scheduler.remove_job(WAKE_JOB)
            return
        self._schedule_in(self.clock.real_seconds_until(next_due))

    def _schedule_in(self, real_seconds: float) -> None:
        if not self.scheduler.running or self._stopped:
            return
        run_at = datetime.now(UTC) + timedelta(seconds=real_seconds)
        self.scheduler.add_job(self._wake, DateTrigger(run_date=run_at), id=WAKE_JOB, replace_existing=True)
