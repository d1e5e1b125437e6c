"""The dispatcher: drains the outbox, sends through the channels, retries, falls back, records outcomes."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from domain.delivery import DeliveryError, Outcome
from domain.notices import NoticeKind
from domain.outbox import ClaimedItem
from domain.ports import Channel, Clock, Composer, Outbox

log = logging.getLogger(__name__)

RESEND_WHEN_UNKNOWN = frozenset(
    {NoticeKind.INVITATION, NoticeKind.UPDATE, NoticeKind.CANCELLATION, NoticeKind.START, NoticeKind.AGENDA}
)
"""Kinds sent again when a channel cannot tell whether they arrived: a loss would be worse than a duplicate.
Reminders, deadline reminders and summaries are recorded as sent with a note instead."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, up to a number of attempts per channel."""

    first_delay: float = 30.0
    factor: float = 2.0
    max_delay: float = 3600.0
    jitter: float = 0.2
    max_attempts: int = 8

    def delay(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds (on the service clock) to wait before attempt number ``attempts + 1``."""
        base = min(self.first_delay * self.factor ** max(attempts - 1, 0), self.max_delay)
        base *= 1 + random.uniform(-self.jitter, self.jitter)
        return max(base, retry_after or 0.0)


class _SentRecorder:
    """Records deliveries in groups: one write for the sends that finish within a few milliseconds.

    Each sender waits until its own delivery is recorded, so the crash window stays what is in flight.
    """

    def __init__(self, outbox: Outbox, clock: Clock, linger: float = 0.02, limit: int = 200) -> None:
        self.outbox, self.clock, self.linger, self.limit = outbox, clock, linger, limit
        self._pending: dict[str, list[tuple[ClaimedItem, asyncio.Future[None]]]] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def record(self, item: ClaimedItem, channel: str) -> None:
        """Record one delivery; returns once it is written."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(channel, []).append((item, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon())
        await future

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.linger)
        # Records that arrive while this group is written start a group of their own.
        pending, self._pending, self._flusher = self._pending, {}, None
        for channel, entries in pending.items():
            for start in range(0, len(entries), self.limit):
                chunk = entries[start : start + self.limit]
                try:
                    await self.outbox.mark_sent_many([item for item, _ in chunk], channel, self.clock.now())
                except Exception as exc:  # the senders will see it
                    for _, future in chunk:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for _, future in chunk:
                    if not future.done():
                        future.set_result(None)


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
        lease_seconds: float = 300.0,
        idle_seconds: float = 1.0,
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
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._recorder = _SentRecorder(outbox, clock)

    def wake(self) -> None:
        """Look at the outbox now (new notices were enqueued)."""
        self._wake.set()

    async def run(self) -> None:
        """Deliver until ``stop`` is called."""
        while not self._stopping.is_set():
            claimed = await self.drain_once()
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
        items = await self.outbox.claim_due(self.clock.now(), self.worker, self.lease_seconds, self.batch)
        if not items:
            return 0
        tasks = [asyncio.create_task(self._deliver_guarded(item)) for item in items]
        self._in_flight.update(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            self._in_flight.difference_update(tasks)
        return len(items)

    async def stop(self, grace: float = 10.0) -> None:
        """Stop claiming, let in-flight sends finish (up to ``grace`` seconds), and give back what is left."""
        self._stopping.set()
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=grace)
        released = await self.outbox.release(self.worker, self.clock.now())
        if released:
            log.info("released %d notices for the next start", released)

    async def _deliver_guarded(self, item: ClaimedItem) -> None:
        async with self._slots:
            try:
                await self.deliver(item)
            except Exception:  # one bad row must not stop the others
                log.exception("delivering %s failed unexpectedly", item.key)
                await self.outbox.mark_retry(
                    item,
                    "internal error",
                    self.clock.now() + timedelta(seconds=self.retry.delay(item.attempts + 1)),
                    item.channel_index,
                    self.clock.now(),
                )

    async def deliver(self, item: ClaimedItem) -> None:
        """Send one claimed notice through its channels in order, and record what happened."""
        errors: list[str] = []
        index = item.channel_index
        while index < len(item.channels):
            name = item.channels[index]
            channel = self.channels.get(name)
            delivery = await self.composer.compose(item, name) if channel is not None else None
            if channel is None or delivery is None:
                index += 1
                continue
            try:
                await channel.send(delivery)
            except DeliveryError as exc:
                now = self.clock.now()
                reason = f"{name}: {exc.reason}"
                if exc.outcome is Outcome.PERMANENT:
                    log.warning("%s: %s: permanent failure, trying the next channel", item.key, reason)
                    errors.append(reason)
                    index += 1
                    continue
                if exc.outcome is Outcome.UNKNOWN and item.kind not in RESEND_WHEN_UNKNOWN:
                    await self.outbox.mark_sent(item, name, now, note=f"outcome unknown: {reason}")
                    return
                if item.attempts + 1 >= self.retry.max_attempts:
                    errors.append(f"{reason} (gave up after {item.attempts + 1} attempts)")
                    index += 1
                    continue
                delay = self.retry.delay(item.attempts + 1, exc.retry_after)
                log.info("%s: %s: retrying in %.0f s", item.key, reason, delay)
                await self.outbox.mark_retry(item, reason, now + timedelta(seconds=delay), index, now)
                return
            await self._recorder.record(item, name)
            return
        reason = "; ".join(errors) or "no channel can reach this delegate"
        log.warning("%s: not delivered: %s", item.key, reason)
        await self.outbox.mark_failed(item, reason, self.clock.now())
