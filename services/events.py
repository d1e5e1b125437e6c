"""Change events: published to this process's subscribers at once, and to other processes through the database."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from domain.events import Event
from domain.ports import ChangeLog, Clock, Transactions
from services.supervision import Loops, backoff

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Event], Awaitable[None]]


class EventBus:
    """Implements ``EventSink``: local subscribers hear an event when it is published; the change log carries
    it to the other processes, whose ``follow`` loop hands it to their subscribers within ``poll`` seconds."""

    def __init__(
        self,
        log_: ChangeLog | None,
        clock: Clock,
        origin: str,
        poll: float = 0.5,
        transactions: Transactions | None = None,
    ) -> None:
        self.changes = log_
        self.transactions = transactions
        self.clock = clock
        self._origin = origin
        self.poll = poll
        self._handlers: dict[type[Event], list[Handler]] = {}
        self._remote: dict[type[Event], list[Handler]] = {}
        self._position = 0
        self._wake = asyncio.Event()
        self.pushed = False
        self._push_wanted = False
        """Whether the database wakes the follower (PostgreSQL NOTIFY); otherwise it looks every ``poll`` s."""

    def subscribe(self, kind: type[E], handler: Callable[[E], Awaitable[None]], *, remote: bool = False) -> None:
        """Call ``handler`` for every event of this type published here or by another process (``remote``: only
        those another process published)."""
        (self._remote if remote else self._handlers).setdefault(kind, []).append(handler)  # type: ignore[arg-type]

    async def publish(self, event: Event) -> None:
        """Record the event in the change log, then tell this process's subscribers; inside a transaction, the
        event is logged in it and the subscribers hear of it once it is committed (never, if rolled back)."""
        if self.changes is not None:
            await self.changes.append(event, self._origin, self.clock.now())
        if self.transactions is not None and self.transactions.after_commit(lambda: self._dispatch(event)):
            return
        await self._dispatch(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish events in their order: logged in one statement, then heard one by one as ``publish`` does."""
        if self.changes is not None:
            await self.changes.append_many(events, self._origin, self.clock.now())
        await self.logged(events)

    @property
    def origin(self) -> str | None:
        """The name this process logs its events under; None with no change log."""
        return self._origin if self.changes is not None else None

    async def logged(self, events: Sequence[Event]) -> None:
        """Tell this process's subscribers of events a repository wrote to the change log itself, in the
        transaction of what they tell of; inside a transaction, once it commits."""
        for event in events:
            later = functools.partial(self._dispatch, event)
            if self.transactions is None or not self.transactions.after_commit(later):
                await self._dispatch(event)

    async def _dispatch(self, event: Event, *, remote: bool = False) -> None:
        for handler in (*self._handlers.get(type(event), ()), *(self._remote.get(type(event), ()) if remote else ())):
            try:
                await handler(event)
            except Exception:  # one subscriber's failure must not stop the others or the publisher
                log.exception("a subscriber of %s failed", event.name)

    async def start(self) -> None:
        """Begin after the newest event already in the log (what came before is in the state read at start), and
        have the database wake the follower when another process logs one, where it can."""
        if self.changes is not None:
            self._position = await self.changes.last()
            self.pushed = self._push_wanted = await self.changes.listen(self.wake)

    async def stop(self) -> None:
        """Stop listening to the database."""
        if self.changes is not None:
            await self.changes.unlisten()

    def wake(self) -> None:
        """Read the change log now (another process announced a change, e.g. by PostgreSQL NOTIFY)."""
        self._wake.set()

    async def catch_up(self) -> int:
        """Hand every event other processes logged since the last look to the subscribers; return how many."""
        if self.changes is None:
            return 0
        count = 0
        while True:
            batch = await self.changes.since(self._position)
            for position, origin, event in batch:
                self._position = position
                if origin != self._origin:
                    count += 1
                    await self._dispatch(event, remote=True)
            if len(batch) < 500:
                return count

    async def follow(self, loops: Loops, name: str = "changes") -> None:
        """Follow the change log until cancelled; a failure (the database) is reported, backed off from, survived."""
        loops.register(name)
        while True:
            try:
                await self.catch_up()
            except Exception as exc:
                failures = loops.failed(name, exc)
                delay = backoff(failures)
                log.warning(
                    "cannot read the change log (%s: %s); trying again in %.1f s", type(exc).__name__, exc, delay
                )
                await asyncio.sleep(delay)
                continue
            loops.ok(name, next_within=self.poll)
            if self.changes is not None and self._push_wanted:
                # Free while the LISTEN connection lives; after a server restart or a cut, listen again.
                self.pushed = await self.changes.listen(self.wake)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll)
