"""The peers of ``benchmarks.bot_updates``, each in a process of its own: the Bot API double and the client.

The measuring process runs only the bot under test. ``peers()`` spawns two children and talks to each over a pipe
(a request is a tuple, its first item the command's name; the child answers each with one object):

* **The double** (``FakeBotApi``, unchanged) serves on a free port of 127.0.0.1 and builds the presses' updates
  (it must: it keeps the queries and the messages they refer to). It notes ``time.monotonic()`` when each
  accepted answerCallbackQuery arrives, and passes the query id on to the client through a third, one-way pipe.
* **The client** POSTs the updates to the webhook: the throughput run with at most ``IN_FLIGHT`` unanswered (it
  waits for the double's word), the latency run open loop. It says when it began (``time.monotonic()``, the same
  clock as the double's on Linux), how many it POSTed, the answers by status and how late the sender was.

The measuring process asks the double for the answer times at the end of a run and works the figures out.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import SpawnContext
from multiprocessing.process import BaseProcess
from typing import Any

import aiohttp

from bot.webhook import HEADER

DOUBLE = "tests.doubles.telegram_bot_api"
"""Imported at run time, not by mypy: the double has type errors of its own that the project's ``mypy`` would
otherwise report through this file (``Any`` stands for its classes here)."""
IN_FLIGHT = 64
ANSWER_LIMIT = 30.0
BACKLOG_SECONDS = 2.0
START_LIMIT = 60.0
Target = tuple[str, str]
"""A webhook's URL and the secret its header must carry."""
Body = tuple[str, bytes]
"""A press as the client sends it: the callback query's id and the update's JSON."""
Spec = tuple[int, str, int, str]
"""A press as the double builds it: the user's id (their chat's too), their first name, the card's message id and
the button's callback data."""


@dataclass(frozen=True)
class Offered:
    """What the client did in one run: ``started`` is ``time.monotonic()`` at the first POST (the latency run:
    the first scheduled one, the i-th being ``i / rate`` later), ``posted`` the presses POSTed (the first ones),
    ``seconds`` the time spent offering them, ``statuses`` the webhook's answers (0: none), ``lags`` how late
    each POST left after its scheduled time (the latency run only)."""

    started: float
    posted: int
    seconds: float
    statuses: dict[int, int]
    lags: list[float]


async def receive(conn: Connection) -> Any:
    """The next object from the pipe, waiting without blocking the event loop (EOFError: the other end is gone)."""
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), readable)
    try:
        await ready
    finally:
        loop.remove_reader(conn.fileno())
    return conn.recv()


async def serve(conn: Connection, commands: dict[str, Callable[..., Awaitable[Any]]]) -> None:
    """Answer requests from the pipe with ``commands`` until asked to stop."""
    while (request := await receive(conn))[0] != "stop":
        conn.send(await commands[request[0]](*request[1:]))
    conn.send(None)


# --- the double's process -------------------------------------------------------------------------------


def double_main(conn: Connection, answers: Connection) -> None:
    """The double's process: serve until asked to stop."""
    asyncio.run(_double(conn, answers))


async def _double(conn: Connection, answers: Connection) -> None:
    module = importlib.import_module(DOUBLE)
    async with module.FakeBotApi() as api:
        at: dict[str, float] = {}
        answer = api._methods["answercallbackquery"]

        async def timed(params: dict[str, Any]) -> Any:
            arrived = time.monotonic()
            response = await answer(params)
            if response.status == 200:
                query_id = str(params.get("callback_query_id") or "")
                at[query_id] = arrived
                answers.send_bytes(query_id.encode())
            return response

        async def updates(specs: Sequence[Spec]) -> list[Body]:
            out: list[Body] = []
            for user_id, name, message_id, data in specs:
                update = api.callback_update(module.TgUser(user_id, name), api.message(user_id, message_id), data)
                out.append((str(update["callback_query"]["id"]), json.dumps(update).encode()))
            gc.collect()
            gc.freeze()  # what the double holds need not be traversed by its collections
            return out

        async def times(query_ids: Sequence[str]) -> list[float | None]:
            return [at.get(query_id) for query_id in query_ids]

        async def secret() -> str:
            return str(api.webhook_secret)

        async def refused() -> int:
            return sum(not a.accepted for a in api.callback_answers)

        api._methods["answercallbackquery"] = timed
        conn.send((api.base_url, api.token))
        await serve(conn, {"updates": updates, "times": times, "secret": secret, "refused": refused})


# --- the client's process -------------------------------------------------------------------------------


def client_main(conn: Connection, answers: Connection) -> None:
    """The client's process: run what it is asked to until asked to stop."""
    asyncio.run(_client(conn, answers))


async def _client(conn: Connection, answers: Connection) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as http:
        client = Client(http, answers)
        conn.send(None)
        await serve(conn, {"throughput": client.throughput, "latency": client.latency})


class Client:
    """POSTs presses to a webhook; hears from the double which have been answered."""

    def __init__(self, http: aiohttp.ClientSession, answers: Connection) -> None:
        self.http, self.answers = http, answers
        self.heard = 0
        """Answers heard to presses being waited for."""
        self._waiting: dict[str, asyncio.Future[None]] = {}
        asyncio.get_running_loop().add_reader(answers.fileno(), self._hear)

    def _hear(self) -> None:
        try:
            while self.answers.poll():
                future = self._waiting.pop(self.answers.recv_bytes().decode(), None)
                if future is not None and not future.done():
                    future.set_result(None)
                    self.heard += 1
        except EOFError:
            asyncio.get_running_loop().remove_reader(self.answers.fileno())

    def _expect(self, query_id: str) -> asyncio.Future[None]:
        self._waiting[query_id] = future = asyncio.get_running_loop().create_future()
        return future

    async def _post(self, target: Target, body: bytes, statuses: Counter[int]) -> int:
        headers = {"Content-Type": "application/json", HEADER: target[1]}
        try:
            async with self.http.post(target[0], data=body, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError):
            status = 0
        statuses[status] += 1
        return status

    async def throughput(self, target: Target, batch: Sequence[Body], budget: float) -> Offered:
        """POST the presses with at most ``IN_FLIGHT`` unanswered, taking no new one after ``budget`` seconds."""
        gc.collect()
        gc.freeze()
        feed, statuses, posted = iter(batch), Counter[int](), 0
        started = time.monotonic()

        async def worker() -> None:
            nonlocal posted
            while time.monotonic() < started + budget and (press := next(feed, None)) is not None:
                posted += 1
                answer = self._expect(press[0])
                if await self._post(target, press[1], statuses) == 200:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(answer, ANSWER_LIMIT)

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        self._waiting.clear()
        return Offered(started, posted, time.monotonic() - started, dict(statuses), [])

    async def latency(self, target: Target, batch: Sequence[Body], rate: float) -> Offered:
        """Offer the presses open loop at ``rate`` a second; stop once ``BACKLOG_SECONDS`` worth are unanswered."""
        gc.collect()
        gc.freeze()
        tasks, answers, lags, statuses = list[asyncio.Task[int]](), list[asyncio.Future[None]](), [], Counter[int]()
        start, heard_before = time.monotonic() + 0.05, self.heard
        for i, (query_id, body) in enumerate(batch):
            if (delay := start + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            if len(answers) - (self.heard - heard_before) > rate * BACKLOG_SECONDS:
                break
            lags.append(time.monotonic() - (start + i / rate))
            answers.append(self._expect(query_id))
            tasks.append(asyncio.create_task(self._post(target, body, statuses)))
        sent = time.monotonic() - start
        await asyncio.gather(*tasks)
        if answers:
            await asyncio.wait(answers, timeout=ANSWER_LIMIT)
        self._waiting.clear()
        return Offered(start, len(tasks), sent, dict(statuses), lags)


# --- in the measuring process ---------------------------------------------------------------------------


class Peer:
    """A child process, asked over its pipe."""

    def __init__(self, process: BaseProcess, conn: Connection) -> None:
        self.process, self.conn = process, conn

    async def ask(self, *request: Any) -> Any:
        """Send a request and wait, not blocking the event loop, for its answer."""
        self.conn.send(request)
        return await receive(self.conn)


class Double(Peer):
    """The Bot API double in its process: ``token`` and ``base_url`` for ``telegram.Bot``."""

    token: str
    base_url: str

    async def updates(self, specs: Sequence[Spec]) -> list[Body]:
        """The presses' updates: each a new callback query on the card as it stands now."""
        return list(await self.ask("updates", list(specs)))

    async def times(self, query_ids: Sequence[str]) -> list[float | None]:
        """When each query's accepted answer reached the double (``time.monotonic()``), None if it has not."""
        return list(await self.ask("times", list(query_ids)))

    async def webhook_secret(self) -> str:
        """The secret the bot gave to setWebhook."""
        return str(await self.ask("secret"))

    async def refused(self) -> int:
        """answerCallbackQuery calls the double refused (a query answered twice, an unknown one)."""
        return int(await self.ask("refused"))


class LoadClient(Peer):
    """The client in its process."""

    async def throughput(self, target: Target, batch: Sequence[Body], budget: float) -> Offered:
        """See ``Client.throughput``."""
        offered: Offered = await self.ask("throughput", target, list(batch), budget)
        return offered

    async def latency(self, target: Target, batch: Sequence[Body], rate: float) -> Offered:
        """See ``Client.latency``."""
        offered: Offered = await self.ask("latency", target, list(batch), rate)
        return offered


def _spawn(
    context: SpawnContext, main: Callable[[Connection, Connection], None], end: Connection
) -> tuple[BaseProcess, Connection]:
    """Start ``main(pipe, end)`` in a spawned process: the process and our end of its pipe."""
    ours, theirs = context.Pipe()
    process = context.Process(target=main, args=(theirs, end), daemon=True)
    process.start()
    theirs.close()  # the child's now: we see EOF if it dies
    return process, ours


@contextlib.asynccontextmanager
async def peers() -> AsyncIterator[tuple[Double, LoadClient]]:
    """Start the double's and the client's processes, and stop them at the end."""
    context = multiprocessing.get_context("spawn")
    heard, told = context.Pipe(duplex=False)  # the double tells the client which presses were answered
    started: list[Peer] = []
    try:
        started.append(double := Double(*_spawn(context, double_main, told)))
        started.append(client := LoadClient(*_spawn(context, client_main, heard)))
        heard.close()
        told.close()
        async with asyncio.timeout(START_LIMIT):
            double.base_url, double.token = await receive(double.conn)
            await receive(client.conn)
        yield double, client
    finally:
        heard.close()
        told.close()
        for peer in reversed(started):
            with contextlib.suppress(OSError, EOFError, TimeoutError):
                async with asyncio.timeout(10):
                    await peer.ask("stop")
            peer.process.join(5)
            if peer.process.is_alive():
                peer.process.terminate()
            peer.conn.close()


def ms(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of sorted seconds, in milliseconds."""
    return values[max(0, math.ceil(q * len(values)) - 1)] * 1000 if values else math.nan
