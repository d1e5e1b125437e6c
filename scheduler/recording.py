"""Recording what the dispatcher sent: an outcome's write retried through a database outage (``persist``), and
deliveries written in groups (``SentRecorder``)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from domain.events import DeliveriesRecorded
from domain.notices import CALENDAR_KINDS
from domain.outbox import ClaimedItem
from domain.ports import Clock, EventSink, Outbox
from services.supervision import backoff, sleep_unless

log = logging.getLogger("scheduler.dispatcher")

T = TypeVar("T")


async def persist(
    what: str, write: Callable[[], Awaitable[T]], stopping: asyncio.Event, fields: Mapping[str, str] | None = None
) -> T | None:
    """Write an outcome to the outbox, retrying through a database outage until it is written or we stop.

    The send already happened: losing its record would send it again, so the write is retried rather than
    dropped. On stop the row stays claimed and is sent again after the restart (the documented in-flight bound).
    ``fields`` go with the log lines (the delivery's, see ``Dispatcher.fields``).
    """
    failures = 0
    while True:
        try:
            return await write()
        except Exception as exc:
            failures += 1
            if stopping.is_set():
                log.warning("%s: not recorded before stopping (%s); it will be sent again", what, exc, extra=fields)
                return None
            delay = backoff(failures)
            log.warning(
                "%s: recording failed (%s: %s); retrying in %.1f s", what, type(exc).__name__, exc, delay, extra=fields
            )
            await sleep_unless(stopping, delay)


class SentRecorder:
    """Records deliveries in groups: one write for the sends that finish within a few milliseconds.

    Each sender waits until its own delivery is recorded, so the crash window stays what is in flight.
    """

    def __init__(
        self,
        outbox: Outbox,
        clock: Clock,
        stopping: asyncio.Event,
        events: EventSink | None = None,
        linger: float = 0.02,
        limit: int = 200,
    ) -> None:
        self.outbox, self.clock, self.stopping, self.linger, self.limit = outbox, clock, stopping, linger, limit
        self.events = events
        self._pending: dict[str, list[tuple[ClaimedItem, asyncio.Future[None]]]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._flushing: set[asyncio.Task[None]] = set()

    async def record(self, item: ClaimedItem, channel: str) -> None:
        """Record one delivery; returns once it is written (or the dispatcher stops)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.setdefault(channel, []).append((item, future))
        if self._flusher is None or self._flusher.done():
            task = self._flusher = asyncio.create_task(self._flush_soon())
            self._flushing.add(task)
            task.add_done_callback(self._flushing.discard)
        await future

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self.linger)
        # Records that arrive while this group is written start a group of their own.
        pending, self._pending, self._flusher = self._pending, {}, None
        for channel, entries in pending.items():
            for start in range(0, len(entries), self.limit):
                chunk = entries[start : start + self.limit]
                items = [item for item, _ in chunk]
                await persist(
                    f"{len(items)} deliveries by {channel}",
                    lambda items=items, channel=channel: self.outbox.mark_sent_many(items, channel, self.clock.now()),  # type: ignore[misc]
                    self.stopping,
                )
                for _, future in chunk:
                    if not future.done():
                        future.set_result(None)
                await self._announce(items)

    async def idle(self) -> None:
        """Wait until every delivery handed in so far is recorded and announced."""
        while self._flushing:
            await asyncio.gather(*self._flushing, return_exceptions=True)

    async def _announce(self, items: list[ClaimedItem]) -> None:
        """Tell the feeds which sessions' calendar messages just went out (what delegates hold moved)."""
        calendar = [i for i in items if i.kind in CALENDAR_KINDS]
        sessions = tuple(sorted({i.session_id for i in calendar}))
        if not sessions or self.events is None:
            return
        holders = tuple(sorted({f"{i.session_id}/{i.delegate_id}" for i in calendar}))
        try:
            await self.events.publish(DeliveriesRecorded(sessions, holders))
        except Exception as exc:  # the feeds catch up at the next change; delivery goes on
            log.warning("could not announce %d deliveries: %s", len(items), exc)
