"""Benchmark: answer presses by webhook, Plenary's bot beside a bare python-telegram-bot Application.

    python -m benchmarks.bot_updates [--delegates 1000] [--presses 5000] [--latency-presses 2000] [--seconds 35]

1,000 delegates (``benchmarks.config_plan``'s generator) invited to one hybrid session a month ahead are bound in
a migrated SQLite store (``--database URL``: an empty one of another kind) and sent their session card through
``FakeBotApi`` (no rate limit), untimed. Presses of the cards' answer buttons (round-robin, each a different answer
from the delegate's last, unique update and query ids) are POSTed with the secret header first to a bare
Application built the same way (no updater, no job queue, the same concurrency) whose one handler answers the
query, then to Plenary's (``bot.application.build`` behind ``bot.webhook.Webhook``, over the services as
``app.bootstrap`` wires them). Each gets a warm-up; a throughput run with at most 64 presses unanswered (answered
/ first POST to last answerCallbackQuery at the double; no new press after ``--seconds``); a latency run open
loop at half the bare throughput, timed from each scheduled POST (so that a busy loop cannot hide queueing) to its
answer at the double, offering stopped once 2 s worth are unanswered. The double and the client (the POSTs, their
schedule, the bound on unanswered presses) run in processes of their own (``benchmarks._bot_api_peer``), so that
the bot under test is alone in this process's event loop; times are ``time.monotonic()`` in each, the same clock.
Then: every press answered? every POST 200? each delegate's last answer stored? Exit code 0 regardless.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hmac
import json
import math
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import yaml
from aiohttp import web
from sqlalchemy import func, select
from telegram import Bot, Update
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, ContextTypes

from app.bootstrap import Services, bootstrap
from app.clock import SimulatedClock
from benchmarks._bot_api_peer import IN_FLIGHT, Body, Double, LoadClient, Target, ms, peers
from benchmarks._common import in_store, positive, verdict
from benchmarks.config_plan import Shape, _commission, _delegation
from bot.application import AnyApplication, build
from bot.webhook import HEADER, Webhook, webhook_path
from config.loader import load_texts
from config.settings import Settings
from domain.callbacks import ANSWERS_BY_CODE, short, sign
from domain.deployment import Deployment
from domain.records import TelegramBinding
from integrations.telegram.request import bot_requests
from storage.repositories import Store
from storage.tables import rsvp_history

DESCRIPTION = "Answer presses by webhook: Plenary's bot beside a bare python-telegram-bot Application."
CONCURRENCY = 64
"""Updates handled at once: ``bot.application.PerChat``'s default, given to the bare Application too."""
WARM_UP = 100
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0
SECRET = bytes(range(32))
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
SESSION_ID = "bench-plenary"
SESSION = (
    f"session: {{id: {SESSION_ID}, title: {{ru: Заседание, en: Meeting}}, format: hybrid, start: 2027-01-15T10:00, "
    "end: 2027-01-15T13:00, venue: {name: Дом приёмов, city: Москва}, invited: {states: all}, "
    "video: {provider: static, url: 'https://meet.example.org/bench'}}"
)
CODES = ("i", "r", "n")
"""In person, remote, not attending, in turn (a substitute would add a message of its own)."""
FIRST_USER = 700_000_001
BARE_TOKEN = "a-bare-webhook-secret-of-the-same-kind-0123456789abcdef0123456789ab"


@dataclass(slots=True)
class Person:
    delegate_id: str
    user_id: int
    """Their private chat's id too."""
    name: str
    card: int
    """The message id of the card with their answer buttons."""
    pressed: int = 0


@dataclass(frozen=True, slots=True)
class Press:
    query_id: str
    person: Person
    code: str
    body: bytes


@dataclass(frozen=True, slots=True)
class Rig:
    """What every run uses: the double and the client (each in its own process), the delegates, the presses of the
    throughput and latency runs, the throughput run's time cap, and the webhook's answers by status (0: none)."""

    api: Double
    client: LoadClient
    people: list[Person]
    counts: tuple[int, int]
    budget: float
    statuses: Counter[int] = field(default_factory=Counter)


@dataclass(frozen=True, slots=True)
class Result:
    posted: list[Press]
    answered: int
    seconds: float
    p50_ms: float = math.nan
    p99_ms: float = math.nan
    lag_p99_ms: float = math.nan

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Measured:
    throughput: Result
    latency: Result
    offered: float
    presses: list[Press]
    """Every press POSTed, the warm-up's included."""


@dataclass(frozen=True, slots=True)
class Checks:
    unanswered: tuple[int, int]
    """Presses with no accepted answer at the double, bare and Plenary."""
    refused: int
    """answerCallbackQuery calls the double refused."""
    store: tuple[int, int, int]
    """What ``check_store`` says."""


# --- the deployment, the bindings and the cards ---------------------------------------------------------


def deployment(delegates: int, session: str = SESSION) -> Deployment:
    """Five member states of four agencies, enough delegates in each; all invited to one session (``session``,
    its YAML: by default a hybrid one)."""
    shape = Shape(seed=11, states=5, agencies=4, delegates=math.ceil(delegates / 20), sessions=1)
    rng = random.Random(shape.seed)
    texts = {"commission.yaml": yaml.safe_dump(_commission(), allow_unicode=True), "sessions/bench.yaml": session}
    for index in range(shape.states):
        data, info, _ = _delegation(rng, shape, index)
        texts[f"delegations/{info.code.lower()}.yaml"] = yaml.safe_dump(data, allow_unicode=True)
    result = load_texts(texts, {})
    if result.deployment is None:
        raise SystemExit("the generated configuration does not validate:\n" + "\n".join(map(str, result.problems)))
    return result.deployment


async def prepare(api: Double, services: Services, chosen: Deployment, count: int) -> tuple[list[Person], str]:
    """Bind ``count`` delegates and send each their session card; say how long it took."""
    began = time.perf_counter()
    ids = list(chosen.delegates)[:count]
    for i, delegate_id in enumerate(ids):
        user_id = FIRST_USER + i
        binding = TelegramBinding(delegate_id=delegate_id, telegram_user_id=user_id, chat_id=user_id, bound_at=NOW)
        await services.store.bindings.bind(binding)
    bound = time.perf_counter() - began
    session, gate = chosen.sessions[SESSION_ID], asyncio.Semaphore(32)

    async def send(bot: Bot, i: int, delegate_id: str) -> Person:
        async with gate:
            text, markup = await services.conversation.card(chosen.delegates[delegate_id], session)
            sent = await bot.send_message(FIRST_USER + i, text, reply_markup=markup)
        return Person(delegate_id, FIRST_USER + i, f"Delegate {i}", sent.message_id)

    began = time.perf_counter()
    async with Bot(api.token, base_url=api.base_url) as bot:
        people = await asyncio.gather(*(send(bot, i, d) for i, d in enumerate(ids)))
    return list(people), f"bound in {bound:.2f} s, {count:,} cards sent in {time.perf_counter() - began:.2f} s"


async def presses(rig: Rig, count: int) -> list[Press]:
    """``count`` presses round-robin over the delegates, each a different answer from their previous one (the
    double builds the updates: its callback queries on the cards as they stand)."""
    chosen: list[tuple[Person, str]] = []
    for i in range(count):
        person = rig.people[i % len(rig.people)]
        chosen.append((person, CODES[person.pressed % len(CODES)]))
        person.pressed += 1
    specs = [(p.user_id, p.name, p.card, sign(SECRET, "a", short(SESSION_ID), code)) for p, code in chosen]
    updates = await rig.api.updates(specs)
    out = [Press(query_id, p, code, body) for (p, code), (query_id, body) in zip(chosen, updates, strict=True)]
    gc.collect()
    gc.freeze()  # what the benchmark holds need not be traversed by the bots' collections
    return out


# --- the two bots behind their webhooks -----------------------------------------------------------------


@contextlib.asynccontextmanager
async def served(route: Callable[[web.Application, str], None]) -> AsyncIterator[None]:
    """Serve on a free port of 127.0.0.1 the routes that ``route`` adds, given the base URL, before the start."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = web.Application()
    route(app, f"http://127.0.0.1:{sock.getsockname()[1]}")
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def bare_bot(api: Double) -> AsyncIterator[Target]:
    """The bare Application behind its webhook route."""
    builder = ApplicationBuilder().token(api.token).base_url(api.base_url).updater(None).job_queue(None)
    application: AnyApplication = builder.concurrent_updates(CONCURRENCY).build()

    async def answer_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.callback_query is not None:
            await update.callback_query.answer()

    application.add_handler(CallbackQueryHandler(answer_only))
    urls: list[str] = []

    async def receive(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get(HEADER, "").encode(), BARE_TOKEN.encode()):
            return web.Response(status=403)
        await application.update_queue.put(Update.de_json(json.loads(await request.read()), application.bot))
        return web.Response(status=200)

    def route(app: web.Application, base: str) -> None:
        app.router.add_post(webhook_path(SECRET), receive)
        urls.append(base + webhook_path(SECRET))

    async with application, served(route):
        await application.start()
        try:
            yield urls[0], BARE_TOKEN
        finally:
            await application.stop()


@contextlib.asynccontextmanager
async def plenary_bot(api: Double, services: Services) -> AsyncIterator[Target]:
    """Plenary's Application behind its ``Webhook``; the secret is the one it registered with the double."""
    hooks: list[Webhook] = []

    def route(app: web.Application, base: str) -> None:
        application = build(api.token, services.conversation, api.base_url, webhook=True, requests=bot_requests())
        hooks.append(Webhook(application, services.conversation, base, SECRET))
        hooks[0].route(app)

    async with served(route):
        await hooks[0].start()
        try:
            yield hooks[0].url, await api.webhook_secret()
        finally:
            await hooks[0].stop()


# --- offering the presses ---------------------------------------------------------------------------


def _bodies(batch: Sequence[Press]) -> list[Body]:
    return [(press.query_id, press.body) for press in batch]


async def throughput(rig: Rig, target: Target, batch: Sequence[Press]) -> Result:
    """The client POSTs the presses with at most ``IN_FLIGHT`` unanswered, taking no new one after the budget;
    timed from its first POST to the last answer at the double."""
    offered = await rig.client.throughput(target, _bodies(batch), rig.budget)
    rig.statuses.update(offered.statuses)
    posted = list(batch[: offered.posted])
    answers = [at for at in await rig.api.times([p.query_id for p in posted]) if at is not None]
    return Result(posted, len(answers), max(answers, default=offered.started) - offered.started)


async def latency(rig: Rig, target: Target, batch: Sequence[Press], rate: float) -> Result:
    """The client offers the presses open loop at ``rate`` a second, each timed from its scheduled POST to its
    answer at the double; offering stops once ``BACKLOG_SECONDS`` worth are unanswered (the bot is overloaded)."""
    offered = await rig.client.latency(target, _bodies(batch), rate)
    rig.statuses.update(offered.statuses)
    if offered.posted < len(batch):
        print(f"  overloaded at {rate:,.0f}/s: offering stopped after {offered.posted:,} of {len(batch):,} presses")
    posted, start = list(batch[: offered.posted]), offered.started
    at = await rig.api.times([p.query_id for p in posted])
    took = sorted(t - (start + i / rate) for i, t in enumerate(at) if t is not None)
    return Result(posted, len(took), offered.seconds, ms(took, 0.5), ms(took, 0.99), ms(sorted(offered.lags), 0.99))


async def measure(rig: Rig, label: str, target: Target, rate: float | None) -> Measured:
    """Warm up, then the throughput run, then the latency run at ``rate`` (None: half this run's throughput)."""
    done: list[Press] = []

    def sent(batch: Sequence[Press], result: Result) -> list[Press]:
        for press in batch[len(result.posted) :]:  # taken back: the next press alternates from the last sent
            press.person.pressed -= 1
        return result.posted

    for count in (min(WARM_UP, rig.counts[0]), rig.counts[0]):
        batch = await presses(rig, count)
        result = await throughput(rig, target, batch)
        done += sent(batch, result)
    if len(result.posted) < len(batch):
        print(f"  {label}: stopped after {rig.budget:g} s, {len(result.posted):,} of {len(batch):,} presses POSTed")
    await asyncio.sleep(0.5)  # the last presses' keyboards are still being edited
    offered = rate if rate is not None else max(result.rate / 2, 1.0)
    batch = await presses(rig, rig.counts[1])
    timed = await latency(rig, target, batch, offered)
    await asyncio.sleep(0.5)
    return Measured(result, timed, offered, done + sent(batch, timed))


# --- checks and the report ---------------------------------------------------------------------------


async def check_store(store: Store, done: Sequence[Press]) -> tuple[int, int, int]:
    """Delegates with no stored answer, those whose stored answer is not their last press, history rows."""
    expected = {p.person.delegate_id: ANSWERS_BY_CODE[p.code] for p in done}
    stored = {d: r.answer for (s, d), r in (await store.answers.all()).items() if s == SESSION_ID}
    wrong = sum(1 for d, answer in expected.items() if d in stored and stored[d] is not answer)
    async with store.engine.connect() as conn:
        history = int((await conn.execute(select(func.count()).select_from(rsvp_history))).scalar_one())
    return sum(1 for d in expected if d not in stored), wrong, history


async def checks(rig: Rig, store: Store, bare: Measured, plenary: Measured) -> Checks:
    """Ask the double which presses were answered and how many answers it refused; look in the store."""
    unanswered = [(await rig.api.times([p.query_id for p in m.presses])).count(None) for m in (bare, plenary)]
    return Checks((unanswered[0], unanswered[1]), await rig.api.refused(), await check_store(store, plenary.presses))


def report(bare: Measured, plenary: Measured, rig: Rig, checked: Checks) -> None:
    """Print the figures, the checks and the targets."""
    ratio = plenary.throughput.rate / bare.throughput.rate if bare.throughput.rate else 0.0
    heads = ("presses", "answered", "seconds", "updates/s", "p50 ms", "p99 ms", "of")
    print(f"  {'':<26}" + "".join(f"{h:>{w}}" for h, w in zip(heads, (8, 10, 9, 11, 10, 10, 8), strict=True)))
    for label, m in (("bare python-telegram-bot", bare), ("Plenary", plenary)):
        t, lat = m.throughput, m.latency
        print(
            f"  {label:<26}{len(t.posted):>8,}{t.answered:>10,}{t.seconds:>9.2f}{t.rate:>11.1f}"
            f"{lat.p50_ms:>10.1f}{lat.p99_ms:>10.1f}{lat.answered:>8,}/{len(lat.posted):,}"
        )
    print(
        f"  p50/p99 at {bare.offered:,.0f} presses/s offered (half the bare throughput), from the scheduled POST; "
        f"sender lag p99 {bare.latency.lag_p99_ms:.1f} / {plenary.latency.lag_p99_ms:.1f} ms"
    )
    print(f"  ratio Plenary / bare  {ratio:.2f}")
    unanswered, (missing, wrong, history) = checked.unanswered, checked.store
    print("\nchecks (the warm-up included)")
    print(f"  presses unanswered, bare / Plenary             {unanswered[0]:,} / {unanswered[1]:,}")
    print(f"  answers the double refused (twice, unknown)    {checked.refused:,}")
    print(f"  webhook POSTs by status                        {dict(sorted(rig.statuses.items()))}")
    print(f"  delegates with no stored answer (lost)         {missing:,}")
    print(f"  delegates whose stored answer is not the last  {wrong:,}")
    print(f"  answers in the history / Plenary presses       {history:,} / {len(plenary.presses):,}")
    ok_ratio = ratio >= TARGET_RATIO and unanswered[1] == 0
    p99 = plenary.latency.p99_ms
    ok_p99 = p99 < TARGET_P99_MS and plenary.latency.answered == rig.counts[1]
    print("\ntargets")
    print(f"  Plenary ≥ {TARGET_RATIO:g} of bare throughput            {ratio:9.2f}     {verdict(ok_ratio)}")
    print(f"  p99 < {TARGET_P99_MS:g} ms at half the bare capacity {p99:9.1f} ms  {verdict(ok_p99)}")


async def compare(store: Store, url: str, delegates: int, counts: tuple[int, int], budget: float) -> None:
    """Start the double and the client, bind and send the cards, measure the bare Application then Plenary's."""
    chosen = deployment(delegates)
    services = bootstrap(Settings(), SimulatedClock(NOW), store=store, channels={}, secret=SECRET)
    services.configuration.put(chosen)  # in force, as tests.integration.bot_setup.bot_services does
    services.roster.base = chosen
    async with peers() as (api, client):
        people, setup = await prepare(api, services, chosen, delegates)
        rig = Rig(api, client, people, counts, budget)
        print(f"Plenary bot webhook benchmark (Python {sys.version.split()[0]}; {url.split(':', 1)[0]})")
        print(f"{delegates:,} bound delegates, one hybrid session; {setup}")
        print(
            f"at most {IN_FLIGHT} presses unanswered, {CONCURRENCY} updates at once; the double and the client "
            "in their own processes, 127.0.0.1\n"
        )
        async with bare_bot(api) as target:
            bare = await measure(rig, "bare", target, None)
        async with plenary_bot(api, services) as target:
            plenary = await measure(rig, "Plenary", target, bare.offered)
        report(bare, plenary, rig, await checks(rig, store, bare, plenary))


async def run(delegates: int, counts: tuple[int, int], budget: float, database: str | None) -> int:
    """Set up the store, compare the bots and print what was logged."""

    async def work(store: Store, url: str) -> None:
        await compare(store, url, delegates, counts, budget)

    return await in_store("plenary-bot-updates-", database, work, ("bot",))


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bot_updates", description=DESCRIPTION)
    parser.add_argument("--delegates", type=positive, default=1000, help="bound delegates (default %(default)s)")
    parser.add_argument("--presses", type=positive, default=5000, help="presses for throughput (default %(default)s)")
    parser.add_argument("--latency-presses", type=positive, default=2000, help="presses at the fixed rate (2000)")
    parser.add_argument("--seconds", type=float, default=35.0, help="time cap of a throughput run (default 35)")
    parser.add_argument("--database", metavar="URL", help="an empty database to use instead of a temporary SQLite")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.delegates, (args.presses, args.latency_presses), args.seconds, args.database))


if __name__ == "__main__":
    sys.exit(main())
