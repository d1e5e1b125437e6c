"""What the video doubles share: an HTTP server on loopback and a webhook sender with recorded deliveries.

:class:`WebhookDouble` is the base of :class:`tests.doubles.jitsi.FakeJitsi` and
:class:`tests.doubles.zoom.FakeZoom`. It serves the double's :class:`aiohttp.web.Application` on a free port of
127.0.0.1 and sends the events the double emits, first attempts one at a time in event order, to the receiver;
it records every attempt, schedules the retries the platform asks for, and injects the faults every double
has (:data:`DUPLICATE`, :data:`REORDER`; each double's ``Fault`` may add its own, which its sender applies).

What stays with each double: its routes (:meth:`WebhookDouble._application`) and one delivery attempt
(:meth:`WebhookDouble._deliver`): the URL, headers and signature, the record it keeps and whether and when
to retry.
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import aiohttp
from aiohttp import web

DUPLICATE = "duplicate"
"""The fault every double has: deliver the event twice (the second copy's fault is ``"duplicate"``)."""
REORDER = "reorder"
"""The fault every double has: hold the event back and deliver it after the next one."""
REDELIVERED = "redelivered"
"""The fault recorded on a delivery :meth:`WebhookDouble.redeliver` sent."""


class Recorded(Protocol):
    """What :meth:`WebhookDouble.redeliver` needs of a recorded delivery."""

    @property
    def event(self) -> str: ...

    @property
    def body(self) -> bytes: ...


class JsonBody:
    """Gives a delivery record with a JSON ``body`` its :attr:`payload`."""

    __slots__ = ()
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        """The JSON body."""
        return dict(json.loads(self.body))


@dataclass(slots=True)
class Outgoing:
    """An event on its way: every attempt at it (the first, each retry) sends this body."""

    event: str
    body: bytes
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class Posted:
    """How one HTTP POST went."""

    status: int | None
    """The receiver's status, once its status line came (even if the body then failed)."""
    body: bytes | None
    """The answer's body, when it was read in full."""
    error: str | None
    """``"timeout"`` (the timeout passed) or ``"connection"`` (any other failure), else None."""
    started: float
    """``time.monotonic()`` as the request went out."""
    latency: float


D = TypeVar("D", bound=Recorded)
F = TypeVar("F", bound=enum.StrEnum)
W = TypeVar("W", bound="WebhookDouble[Any, Any]")


class WebhookDouble(Generic[D, F]):
    """A double serving HTTP on 127.0.0.1 and sending webhooks; ``D`` is its delivery record, ``F`` its faults."""

    def __init__(self, faults: type[F]) -> None:
        self.deliveries: list[D] = []
        """Every attempt, in the order made."""
        self.port = 0
        self._fault_type = faults
        self._faults: deque[F] = deque()
        self._held: list[Outgoing] = []
        self._outbox: asyncio.Queue[Outgoing] = asyncio.Queue()
        self._retries: set[asyncio.Task[None]] = set()
        self._recorded = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self._worker: asyncio.Task[None] | None = None

    # what each double supplies

    def _application(self) -> web.Application:
        """The double's routes."""
        raise NotImplementedError

    async def _deliver(self, outgoing: Outgoing, attempt: int) -> tuple[D, float | None]:
        """Attempt number ``attempt`` at ``outgoing``: its record, and the seconds until the next attempt or None."""
        raise NotImplementedError

    # lifecycle

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1 and start the webhook sender."""
        self._runner = web.AppRunner(self._application(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = int(self._runner.addresses[0][1])
        self._session = aiohttp.ClientSession()
        self._worker = asyncio.create_task(self._send_loop())

    async def close(self) -> None:
        """Stop sending (pending events and retries are dropped) and serving."""
        tasks = [*self._retries, *([self._worker] if self._worker else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # faults and records

    def inject(self, fault: F | str, n: int = 1) -> None:
        """Apply ``fault`` (a ``Fault`` of the double's, or its value) to each of the next ``n`` events."""
        self._faults.extend([self._fault_type(fault)] * n)

    async def redeliver(self, delivery: D) -> None:
        """Send a recorded delivery's body again, once, as its own event (headers and signature made afresh)."""
        self._outbox.put_nowait(Outgoing(delivery.event, delivery.body, REDELIVERED))

    async def settle(self) -> None:
        """Wait until every event, held one and scheduled retry has been sent."""
        while True:
            for held in self._held:
                self._outbox.put_nowait(held)
            self._held.clear()
            await self._outbox.join()
            if not self._retries:
                return
            await asyncio.gather(*self._retries, return_exceptions=True)

    async def wait_for_deliveries(self, count: int) -> list[D]:
        """Wait until ``count`` deliveries were made (bound it with asyncio.timeout)."""
        while len(self.deliveries) < count:
            self._recorded.clear()
            await self._recorded.wait()
        return list(self.deliveries)

    # sending

    def _queue(self, event: str, body: bytes) -> None:
        """Send an event, with the next injected fault if there is one.

        The first copy's fault is the injected one's value (None for a duplicate); an event held back by
        :data:`REORDER` goes out after the next one, or at :meth:`settle`.
        """
        fault = self._faults.popleft() if self._faults else None
        outgoing = Outgoing(event, body, fault.value if fault is not None and fault != DUPLICATE else None)
        held, self._held = self._held, []
        if fault == REORDER:
            self._held.append(outgoing)
        else:
            self._outbox.put_nowait(outgoing)
            if fault == DUPLICATE:
                self._outbox.put_nowait(Outgoing(event, body, DUPLICATE))
        for late in held:
            self._outbox.put_nowait(late)

    async def _send_loop(self) -> None:
        while True:
            outgoing = await self._outbox.get()
            try:
                await self._attempt(outgoing, 1)
            finally:
                self._outbox.task_done()

    async def _attempt(self, outgoing: Outgoing, attempt: int) -> None:
        delivery, retry_in = await self._deliver(outgoing, attempt)
        self.deliveries.append(delivery)
        self._recorded.set()
        if retry_in is not None:
            task = asyncio.create_task(self._retry(outgoing, attempt + 1, retry_in))
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(self, outgoing: Outgoing, attempt: int, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._attempt(outgoing, attempt)

    async def _http_post(self, url: str, body: bytes, headers: Mapping[str, str], within: float) -> Posted:
        """POST ``body`` to ``url``, giving up (``"timeout"``) when ``within`` seconds have passed in all."""
        assert self._session is not None
        status: int | None = None
        answer: bytes | None = None
        error: str | None = None
        started = time.monotonic()
        try:
            limit = aiohttp.ClientTimeout(total=within)
            async with self._session.post(url, data=body, headers=headers, timeout=limit) as response:
                status = response.status
                answer = await response.read()
        except TimeoutError:
            error = "timeout"
        except (aiohttp.ClientError, OSError):
            error = "connection"
        return Posted(status, answer, error, started, time.monotonic() - started)


def compact_json(value: Mapping[str, Any]) -> bytes:
    """``value`` as JSON with no spaces, UTF-8 (not ASCII-escaped): how the platforms send bodies."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


@asynccontextmanager
async def running(double: W) -> AsyncIterator[W]:
    """Start ``double``, and close it when the block ends."""
    await double.start()
    try:
        yield double
    finally:
        await double.close()
