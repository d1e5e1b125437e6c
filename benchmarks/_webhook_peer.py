"""The load client of ``benchmarks.attendance``, in a process of its own, so that the server under test is alone in
the measuring process's event loop.

``load_client()`` spawns it and talks to it over a pipe (``benchmarks._bot_api_peer``'s ``serve``): ``load`` hands
it a named list of requests once (a path with its query string, and a body), ``run`` POSTs one list to a base URL
closed loop: ``CONNECTIONS`` workers over as many keep-alive connections, each sending its next request when the
previous one was answered, none begun after the time budget. It gives back, for every request POSTed (the first
ones of the list), the status (0: no answer) and the seconds from sending it to the end of its response, read by
``time.monotonic()`` here.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import multiprocessing
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import aiohttp
import yarl

from benchmarks._bot_api_peer import START_LIMIT, Peer, receive, serve

CONNECTIONS = 50
CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
"""What bbb-webhooks sends its callbacks as."""
Request = tuple[str, bytes]
"""A webhook as the client sends it: the path with its query string (the checksum), and the form body."""


@dataclass(frozen=True)
class Run:
    """One run: ``started`` is ``time.monotonic()`` at the first POST, ``seconds`` until the last answer;
    ``statuses`` and ``latencies`` (seconds) are those of the requests POSTed, in the list's order, of the
    ``listed`` requests."""

    started: float
    seconds: float
    statuses: list[int]
    latencies: list[float]
    listed: int

    @property
    def stopped(self) -> bool:
        """Stopped at the time budget, before the end of the list."""
        return len(self.statuses) < self.listed

    @classmethod
    def joined(cls, runs: Sequence[Run]) -> Run:
        """Runs of consecutive parts of a list, one after the other, as one run of the list: their seconds
        added up (the time between them is not the server's)."""
        return cls(
            runs[0].started if runs else 0.0,
            sum(r.seconds for r in runs),
            [s for r in runs for s in r.statuses],
            [t for r in runs for t in r.latencies],
            sum(r.listed for r in runs),
        )

    @property
    def accepted(self) -> int:
        """Requests answered 200."""
        return self.statuses.count(200)

    @property
    def rate(self) -> float:
        """Accepted a second."""
        return self.accepted / self.seconds if self.seconds > 0 else 0.0

    def latency(self, q: float) -> float:
        """The ``q`` quantile (nearest rank) of the latencies, in milliseconds."""
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000 if ordered else math.nan


def client_main(conn: Connection) -> None:
    """The client's process: run what it is asked to until asked to stop."""
    asyncio.run(_client(conn))


async def _client(conn: Connection) -> None:
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as http:
        client = Client(http)
        conn.send(None)
        await serve(conn, {"load": client.load, "run": client.run})


class Client:
    """POSTs lists of webhooks, closed loop."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.lists: dict[str, list[Request]] = {}

    async def load(self, name: str, requests: Sequence[Request]) -> int:
        """Keep a list of requests under a name; how many."""
        self.lists[name] = list(requests)
        gc.collect()
        gc.freeze()  # what the client holds need not be traversed by its collections
        return len(self.lists[name])

    async def run(self, name: str, base_url: str, budget: float) -> Run:
        """POST the named list to ``base_url`` over ``CONNECTIONS`` connections, each request when its worker's
        previous one was answered; no request begun after ``budget`` seconds."""
        requests = self.lists[name]
        statuses, latencies = [0] * len(requests), [0.0] * len(requests)
        urls = [yarl.URL(base_url + path, encoded=True) for path, _ in requests]
        headers = {"Content-Type": CONTENT_TYPE}
        feed, posted, last = iter(range(len(requests))), 0, 0.0
        started = time.monotonic()

        async def worker() -> None:
            nonlocal posted, last
            while time.monotonic() < started + budget and (i := next(feed, None)) is not None:
                posted = max(posted, i + 1)
                sent = time.monotonic()
                try:
                    async with self.http.post(urls[i], data=requests[i][1], headers=headers) as response:
                        await response.read()
                        statuses[i] = response.status
                except (aiohttp.ClientError, TimeoutError):
                    statuses[i] = 0
                last = time.monotonic()
                latencies[i] = last - sent

        await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
        return Run(started, max(last - started, 0.0), statuses[:posted], latencies[:posted], len(requests))


class LoadClient(Peer):
    """The client in its process."""

    async def load(self, name: str, requests: Sequence[Request]) -> int:
        """See ``Client.load``."""
        return int(await self.ask("load", name, list(requests)))

    async def run(self, name: str, base_url: str, budget: float) -> Run:
        """See ``Client.run``."""
        run: Run = await self.ask("run", name, base_url, budget)
        return run


@contextlib.asynccontextmanager
async def load_client() -> AsyncIterator[LoadClient]:
    """Start the client's process, and stop it at the end."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=client_main, args=(theirs,), daemon=True)
    process.start()
    theirs.close()  # the child's now: we see EOF if it dies
    client = LoadClient(process, ours)
    try:
        async with asyncio.timeout(START_LIMIT):
            await receive(ours)
        yield client
    finally:
        with contextlib.suppress(OSError, EOFError, TimeoutError):
            async with asyncio.timeout(10):
                await client.ask("stop")
        process.join(5)
        if process.is_alive():
            process.terminate()
        ours.close()
