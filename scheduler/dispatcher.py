"""The dispatcher: drains the outbox, sends through the channels, retries, falls back, records outcomes."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from domain.delivery import Delivery, DeliveryError, NoticeObsolete, Outcome
from domain.notices import NoticeKind
from domain.outbox import ClaimedItem
from domain.ports import Channel, Clock, Composer, EventSink, Outbox
from scheduler.recording import SentRecorder, persist
from services.supervision import Loops, backoff, sleep_unless

log = logging.getLogger(__name__)

LOOP = "dispatcher"


RESEND_WHEN_UNKNOWN = frozenset(
    {NoticeKind.INVITATION, NoticeKind.UPDATE, NoticeKind.CANCELLATION, NoticeKind.START, NoticeKind.AGENDA}
)
"""Kinds sent again when a channel cannot tell whether they arrived: a loss would be worse than a duplicate.
Reminders, deadline reminders and summaries are recorded as sent with a note instead."""

Delivered = Callable[[str, str, float], None]
"""Told of each send a channel accepted: the channel, the kind of notice, and the seconds from its due time to
then (on the service's clock) — what ``plenary_delivery_seconds`` observes."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to a number of attempts per channel."""

    first_delay: float = 30.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 8
    """Attempts per channel before the next channel is tried."""
    internal_attempts: int = 3
    """Tries of a row that fails for a reason of ours before it is marked failed."""

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds (on the service clock) to wait before attempt number ``attempts + 1``."""
        base = min(self.first_delay * self.factor ** max(attempts - 1, 0), self.max_delay)
        base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, retry_after or 0.0)


def in_order(queue: list[ClaimedItem]) -> list[ClaimedItem]:
    """One delegate's notices in the order they were planned, the calendar ones by rising SEQUENCE."""
    ordered = sorted(queue, key=lambda i: (i.due_at, i.id))
    slots = [n for n, item in enumerate(ordered) if "sequence" in item.payload]
    by_sequence = sorted((ordered[n] for n in slots), key=lambda i: (int(i.payload["sequence"]), i.id))
    for n, item in zip(slots, by_sequence, strict=True):
        ordered[n] = item
    return ordered


class Dispatcher:
    """Claims due outbox rows under a lease and delivers them; state changes are conditional on the lease."""

    def __init__(
        self,
        outbox: Outbox,
        channels: Mapping[str, Channel],
        composer: Composer,
        clock: Clock,
        worker: str,
        *,
        retry: RetryPolicy | None = None,
        batch: int = 200,
        concurrency: int = 64,
        in_flight: int = 32,
        lease_seconds: float = 60.0,
        idle_seconds: float = 1.0,
        loops: Loops | None = None,
        wall: Callable[[], datetime] = lambda: datetime.now(UTC),
        events: EventSink | None = None,
        delivered: Delivered | None = None,
    ) -> None:
        self.outbox = outbox
        self.channels = channels
        self.composer = composer
        self.clock = clock
        self.worker = worker
        self.retry = retry or RetryPolicy()
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.idle_seconds = idle_seconds
        self._slots = asyncio.Semaphore(concurrency)
        self._unrecorded = asyncio.Semaphore(in_flight)
        """Sends begun and not yet recorded: what a crash can duplicate (docs/delivery.md) never exceeds this."""
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._recorder = SentRecorder(outbox, clock, self._stopping, events)
        self.loops = loops or Loops()
        self.wall = wall
        """Real time, for leases: they measure whether a process is alive, whatever the service's clock shows."""
        self.delivered = delivered
        """Told of every accepted send (the metrics' latency histogram); set it once the metrics exist."""

    def fields(self, item: ClaimedItem, channel: str | None = None) -> dict[str, str]:
        """What every log line about one delivery carries (``extra=``): a log collector's keys to search by."""
        out = {
            "session": item.session_id,
            "notice": item.key,
            "delegate": item.delegate_id,
            "kind": item.kind,
            "replica": self.worker,
        }
        if channel is not None:
            out["channel"] = channel
        return out

    def wake(self) -> None:
        """Look at the outbox now (new notices were enqueued)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop`` is called; any failure is logged, backed off from and survived."""
        self.loops.register(LOOP)
        renewer = asyncio.create_task(self._renew_leases(), name="lease-renewal")
        try:
            await self._run()
        finally:
            renewer.cancel()

    async def _renew_leases(self) -> None:
        """While sends are in progress, keep their rows ours: a batch may outlive one lease (Telegram's pace)."""
        while not self._stopping.is_set():
            await sleep_unless(self._stopping, self.lease_seconds / 3)
            if not self._in_flight or self._stopping.is_set():
                continue
            try:
                await self.outbox.renew(self.worker, self.wall(), self.lease_seconds)
            except Exception as exc:  # the next round tries again; the lease has two more rounds to go
                log.warning("could not renew the leases of the notices in hand: %s", exc)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self.drain_once()
            except Exception as exc:  # the database went away, a channel misbehaved: go on after a pause
                failures = self.loops.failed(LOOP, exc)
                delay = backoff(failures)
                log.error("delivery paused for %.1f s: %s: %s", delay, type(exc).__name__, exc, exc_info=failures == 1)
                await sleep_unless(self._stopping, delay)
                continue
            self.loops.ok(LOOP, next_within=self.idle_seconds)
            if claimed:
                continue
            self._wake.clear()
            sleep = asyncio.ensure_future(self._wake.wait())
            stop = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait({sleep, stop}, timeout=self.idle_seconds, return_when=asyncio.FIRST_COMPLETED)
            sleep.cancel()
            stop.cancel()

    async def drain_once(self) -> int:
        """Claim one batch of due rows and deliver them; return how many were claimed."""
        items = await self.outbox.claim_due(
            self.clock.now(), self.worker, self.lease_seconds, self.batch, lease_now=self.wall()
        )
        if not items:
            return 0
        # One delegate's notices about one session go one after the other, oldest SEQUENCE first: a calendar
        # must never receive an older version after a newer one. Different delegates go in parallel.
        queues: dict[tuple[str, str], list[ClaimedItem]] = {}
        for item in items:
            queues.setdefault((item.session_id, item.delegate_id), []).append(item)
        tasks = [asyncio.create_task(self._deliver_in_order(queue)) for queue in queues.values()]
        self._in_flight.update(tasks)
        try:
            await asyncio.gather(*tasks)
            await self._recorder.idle()  # a batch is done when its deliveries are recorded and announced
        finally:
            self._in_flight.difference_update(tasks)
        return len(items)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let in-flight sends finish (up to ``grace`` seconds), and give back what is left."""
        self._stopping.set()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
        try:
            released = await self.outbox.release(self.worker, self.clock.now())
        except Exception as exc:  # the rows come back when their lease runs out
            log.warning("could not give back the notices in hand (%s); their lease will run out", exc)
            return
        if released:
            log.info("released %d notices for the next start", released)

    async def _deliver_in_order(self, queue: list[ClaimedItem]) -> None:
        for item in in_order(queue):
            await self._deliver_guarded(item)

    async def _deliver_guarded(self, item: ClaimedItem) -> None:
        async with self._slots:
            try:
                await self.deliver(item)
            except Exception as exc:  # a bug on one row (rendering, an address) must not stop the others
                await self._internal_error(item, exc)

    async def _internal_error(self, item: ClaimedItem, exc: Exception) -> None:
        """Retry a row that failed for a reason of ours a few times, then mark it failed with the reason."""
        reason = f"internal error: {type(exc).__name__}: {exc}"[:500]
        errors = item.internal_errors + 1
        log.error(
            "notice %s (session %s, delegate %s) failed: %s",
            item.key,
            item.session_id,
            item.delegate_id,
            reason,
            exc_info=exc,
            extra=self.fields(item),
        )
        now = self.clock.now()
        if errors >= self.retry.internal_attempts:
            await persist(
                item.key,
                lambda: self.outbox.mark_failed(item, f"{reason} (after {errors} tries)", now),
                self._stopping,
                self.fields(item),
            )
            return
        later = now + timedelta(seconds=self.retry.delay(errors))
        await persist(
            item.key,
            lambda: self.outbox.mark_retry(
                item,
                reason,
                later,
                item.channel_index,
                now,
                channel_attempts=item.channel_attempts,
                internal_errors=errors,
            ),
            self._stopping,
            self.fields(item),
        )

    async def deliver(self, item: ClaimedItem) -> None:
        """Send one claimed notice through its channels in order, and record what happened.

        Each channel has its own retry budget: falling back to the next channel starts that channel's count.
        """
        errors: list[str] = []
        index = item.channel_index
        while index < len(item.channels):
            name = item.channels[index]
            channel = self.channels.get(name)
            try:
                delivery = await self.composer.compose(item, name) if channel is not None else None
            except NoticeObsolete as exc:
                log.info("%s: not sent: %s", item.key, exc, extra=self.fields(item, name))
                now = self.clock.now()
                await persist(
                    item.key,
                    partial(self.outbox.mark_skipped, item, str(exc), now),
                    self._stopping,
                    self.fields(item, name),
                )
                return
            if channel is None or delivery is None:
                index += 1
                continue
            async with self._unrecorded:
                done = await self._send(item, index, name, channel, delivery, errors)
            if done:
                return
            index += 1
        reason = "; ".join(errors) or "no channel can reach this delegate"
        log.warning("%s: not delivered: %s", item.key, reason, extra=self.fields(item))
        now = self.clock.now()
        await persist(item.key, partial(self.outbox.mark_failed, item, reason, now), self._stopping, self.fields(item))

    async def _send(
        self, item: ClaimedItem, index: int, name: str, channel: Channel, delivery: Delivery, errors: list[str]
    ) -> bool:
        """One attempt on one channel, its outcome recorded; False when the next channel is to be tried."""
        try:
            await channel.send(delivery)
        except DeliveryError as exc:
            now = self.clock.now()
            reason = f"{name}: {exc.reason}"
            if exc.outcome is Outcome.PERMANENT:
                log.warning(
                    "%s: %s: permanent failure, trying the next channel",
                    item.key,
                    reason,
                    extra=self.fields(item, name),
                )
                errors.append(reason)
                return False
            if exc.outcome is Outcome.UNKNOWN and item.kind not in RESEND_WHEN_UNKNOWN:
                note = f"outcome unknown: {reason}"
                log.warning("%s: %s: recorded as sent, not sent again", item.key, note, extra=self.fields(item, name))
                await persist(
                    item.key,
                    partial(self.outbox.mark_sent, item, name, now, note=note),
                    self._stopping,
                    self.fields(item, name),
                )
                return True
            tried = (item.channel_attempts if index == item.channel_index else 0) + 1
            if tried >= self.retry.max_attempts:
                errors.append(f"{reason} (gave up after {tried} attempts)")
                log.warning("%s: %s: gave up after %d attempts", item.key, reason, tried, extra=self.fields(item, name))
                return False
            delay = self.retry.delay(tried, exc.retry_after)
            log.info("%s: %s: retrying in %.0f s", item.key, reason, delay, extra=self.fields(item, name))
            later = now + timedelta(seconds=delay)
            retry = partial(self.outbox.mark_retry, item, reason, later, index, now, channel_attempts=tried)
            await persist(item.key, retry, self._stopping, self.fields(item, name))
            return True
        sent_at = self.clock.now()
        latency = max((sent_at - item.due_at).total_seconds(), 0.0)
        self._observe(item, name, latency)
        companion = self.composer.companion(item, name, self.clock.now())
        if companion is not None:  # queued before the send is recorded: a crash between repeats, never loses it
            await persist(
                item.key,
                partial(self.outbox.enqueue, [companion], self.clock.now()),
                self._stopping,
                self.fields(item, name),
            )
            self.wake()
        await self._recorder.record(item, name)
        log.info("%s: sent by %s, %.0f s after it was due", item.key, name, latency, extra=self.fields(item, name))
        return True

    def _observe(self, item: ClaimedItem, channel: str, latency: float) -> None:
        if self.delivered is None:
            return
        try:
            self.delivered(channel, item.kind, latency)
        except Exception as exc:  # a metric must never stand in the way of a delivery
            log.warning("could not observe a delivery's latency: %s", exc, extra=self.fields(item, channel))
