"""Benchmark: signed BigBlueButton join/leave webhooks into the live attendance table, beside bare aiohttp.

    python -m benchmarks.attendance [--delegates 1000] [--webhooks 20000] [--seconds 120] [--database URL]

1,000 delegates (``benchmarks.config_plan``'s generator) are invited to one ``format: video`` session on ``provider:
bigbluebutton`` begun an hour ago (a ``SystemClock``: it runs now). Each joins and leaves ten times, each join a
participant of its own (bbb-web's ``w_…`` internal user id): most stay long enough to be remote, some only moments
(briefly: under the session's ``minimum``), some are on the call now (their last two joins, as from two devices, not
left). The 20,000 events are bbb-webhooks v3 callbacks (form ``domain``, ``event``, ``timestamp``; the ``checksum``
query parameter over the callback URL as registered + the body + the secret) in their timestamps' order, shuffled
within windows of ``WINDOW``, ``HELD`` of them delivered last, newest first (as retried after failures);
``DUPLICATES`` are delivered again a little later (a fresh ``timestamp`` field). A client in a process of its own
(``benchmarks._webhook_peer``) POSTs them closed loop over 50 connections to a bare aiohttp server answering 200 to
whatever it read and to Plenary's application (``web.app.create_app`` over the services ``app.bootstrap`` wires,
the real providers), each after a warm-up of callbacks for a meeting no session has: in ``ROUNDS`` consecutive
parts, each part to the bare server, then to Plenary's, so that a drift of the machine's speed falls on both.
Accepted: answered 200, a second of the parts' time (each from its first POST to its last answer); latency from
each POST to its answer; no POST begun after ``--seconds`` (a part's share of them). Then the table
(``services.attendance.table`` at the moment the plan was made) is compared with what the accepted events give,
worked out here: each delegate's minutes (to 0.1), presence and being on the call now, and every state's tally.
Store: a migrated SQLite in a temporary directory (``--database URL``: an empty one of another kind). Exit code 0
regardless.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy import func, select

from app.bootstrap import Services, bootstrap
from app.clock import SystemClock
from app.service import settle_collector
from benchmarks._common import in_store, positive, verdict
from benchmarks._webhook_peer import CONNECTIONS, LoadClient, Request, Run, load_client
from benchmarks.bot_updates import deployment as generated
from config.settings import Settings
from domain.attendance import AttendanceTable, Presence, Tally
from domain.deployment import Deployment
from domain.values import localize
from integrations.video import providers
from messages.pages import WebPages
from storage.repositories import Store
from storage.tables import attendance_events
from tests.doubles.bigbluebutton import callback_checksum, form_encode
from web.app import Metrics, create_app

DESCRIPTION = "Signed BigBlueButton webhooks into the attendance table: Plenary beside a bare aiohttp server."
TARGET_RATIO = 0.5
SECRET = bytes(range(32))
BBB_SECRET = "bench-bigbluebutton-shared-secret"
ALGORITHM = "sha1"
"""bbb-webhooks' default ``hookChecksumAlgorithm``."""
ZONE = "Europe/Moscow"
SESSION_ID = "bench-video"
MEETING = "3b8f1d5ad0e3c1f2a4b6c8d0e2f4a6b8c0d2e4f6-1767225600000"
"""bbb-web's internal meeting id: sha1 of the meetingID, then the create time."""
MINIMUM = timedelta(minutes=10)
PATH = "/webhooks/bigbluebutton"
WINDOW = 100
DUPLICATES = 0.05
HELD = 0.02
WARM_UP = 200
ROUNDS = 3
"""Parts the deliveries are sent in, each to the bare server, then to Plenary's."""
SHARES = (("steady", 0.7), ("brief", 0.2), ("staying", 0.1))


@dataclass(frozen=True, slots=True)
class Stay:
    """One participant: a delegate's join (bbb-web's internal user id) and leave, ms since the epoch."""

    delegate_id: str
    internal: str
    joined: int
    left: int | None


@dataclass(frozen=True, slots=True)
class Plan:
    """The session's window, the moment the table is read at, the stays, their events (a stay, and whether its
    join), the deliveries (each an event's index) and their requests; events sent twice, leaves before joins."""

    start: datetime
    end: datetime
    now: datetime
    stays: list[Stay]
    events: list[tuple[Stay, bool]]
    deliveries: list[int]
    requests: list[Request]
    twice: int
    early: int


@dataclass(frozen=True, slots=True)
class Line:
    """A delegate's attendance as the accepted events should make it."""

    state: str
    minutes: float
    presence: Presence
    here: bool


# --- the deployment and the plan -------------------------------------------------------------------------------


def deployment(delegates: int, start: datetime) -> Deployment:
    """``benchmarks.bot_updates``' delegations, all invited to one video session on BigBlueButton from ``start``
    (local, in ``ZONE``) for three hours."""
    session = (
        f"session: {{id: {SESSION_ID}, title: {{ru: Заседание, en: Meeting}}, format: video, timezone: {ZONE}, "
        f"start: {start:%Y-%m-%dT%H:%M}, end: {start + timedelta(hours=3):%Y-%m-%dT%H:%M}, invited: {{states: all}}, "
        f"video: {{provider: bigbluebutton, url: 'http://127.0.0.1:1/bigbluebutton/', secret: {BBB_SECRET}, "
        f"checksum: {ALGORITHM}, minimum: 10m}}, quorum: majority}}"
    )
    return generated(delegates, session)


def stays(rng: random.Random, ids: Sequence[str], pairs: int, start: int, now: int) -> list[Stay]:
    """Each delegate's joins, one in each of ``pairs`` slots of the time between the start and now: steady ones
    stay 40–75 % of a slot, brief ones 5–25 s, staying ones as steady but for the last slot's two joins, not left."""
    out: list[Stay] = []
    slot = (now - start - 60_000) // pairs
    for d, delegate_id in enumerate(ids):
        kind = rng.choices([k for k, _ in SHARES], [w for _, w in SHARES])[0]
        for p in range(pairs):
            begin = start + 30_000 + p * slot + rng.randrange(slot // 5)
            internal = f"w_{d:05d}{p:03d}{rng.randrange(36**4):05d}"
            if kind == "staying" and p == pairs - 1:
                out.append(Stay(delegate_id, internal, begin, None))
                out.append(Stay(delegate_id, internal + "b", begin + rng.randrange(1_000, slot // 2), None))
            else:
                brief = kind == "brief"
                length = rng.randrange(5_000, 25_000) if brief else rng.randrange(slot * 2 // 5, slot * 3 // 4)
                out.append(Stay(delegate_id, internal, begin, begin + length))
    return out


def request(chosen: Deployment, callback: str, stay: Stay, join: bool, meeting: str, sent: int) -> Request:
    """A bbb-webhooks v3 callback of one user-joined or user-left event, signed as bbb-webhooks signs it."""
    user: dict[str, object] = {"internal-user-id": stay.internal, "external-user-id": stay.delegate_id}
    if join:  # user-left carries no name, role or presenter
        delegate = chosen.delegates.get(stay.delegate_id)
        user |= {"name": localize(delegate.name, "ru") if delegate else stay.delegate_id, "role": "VIEWER"}
        user["presenter"] = False
    user["guest"] = False
    ts = stay.joined if join else stay.left
    attributes = {"meeting": {"internal-meeting-id": MEETING, "external-meeting-id": meeting}, "user": user}
    event = {"data": {"type": "event", "id": "user-joined" if join else "user-left", "attributes": attributes}}
    event["data"]["event"] = {"ts": ts}
    text = "[" + json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "]"
    body = form_encode([("domain", "bbb.example.org"), ("event", text), ("timestamp", str(sent))])
    return f"{PATH}?checksum={callback_checksum(callback, body, BBB_SECRET, ALGORITHM)}", body.encode()


def plan(chosen: Deployment, callback: str, webhooks: int, start: datetime, now: datetime) -> Plan:
    """The stays; their events in time order, shuffled within windows, some held back to the end, some delivered
    twice; each delivery signed."""
    rng = random.Random(5)
    ids = list(chosen.invitations[SESSION_ID])
    pairs = max(1, round(webhooks / len(ids) / 2))
    made = stays(rng, ids, pairs, int(start.timestamp() * 1000), int(now.timestamp() * 1000))
    events = sorted([(s, True) for s in made] + [(s, False) for s in made if s.left is not None], key=_ts)
    order = list(range(len(events)))
    for w in range(0, len(order), WINDOW):
        window = order[w : w + WINDOW]
        rng.shuffle(window)
        order[w : w + WINDOW] = window
    held = set(rng.sample(range(len(order)), round(len(order) * HELD)))  # the callback failed: retried at the end
    order = [i for k, i in enumerate(order) if k not in held] + [order[k] for k in sorted(held, reverse=True)]
    twice = rng.sample(range(len(order)), round(len(order) * DUPLICATES))
    for position in sorted(twice, reverse=True):
        order.insert(min(len(order), position + rng.randint(1, WINDOW)), order[position])
    requests = [
        request(chosen, callback, *events[i], SESSION_ID, _ts(events[i]) + rng.randrange(5, 500)) for i in order
    ]
    first: dict[tuple[str, bool], int] = {}
    for position, i in enumerate(order):
        first.setdefault((events[i][0].internal, events[i][1]), position)
    early = sum(first[(s.internal, False)] < first[(s.internal, True)] for s in made if s.left is not None)
    return Plan(start, start + timedelta(hours=3), now, made, events, order, requests, len(twice), early)


def _ts(event: tuple[Stay, bool]) -> int:
    stay, join = event
    return stay.joined if join or stay.left is None else stay.left


# --- what the table should say -----------------------------------------------------------------------------


def expected(chosen: Deployment, plan: Plan, accepted: set[int]) -> dict[str, Line]:
    """Each invited delegate's line from the accepted events (indices into ``plan.events``): a participant's time
    runs from their join to their leave, or to now if it is not in; clipped to the session's window; a
    delegate's minutes are the union of their participants' time; remote if on the call now or for at least the
    minimum, briefly if for less, absent if never."""
    joined = {plan.events[i][0].internal for i in accepted if plan.events[i][1]}
    left = {plan.events[i][0].internal for i in accepted if not plan.events[i][1]}
    start, horizon = _ms(plan.start), min(_ms(plan.now), _ms(plan.end))
    spans: dict[str, list[tuple[int, int, bool]]] = {d: [] for d in chosen.invitations[SESSION_ID]}
    for stay in plan.stays:
        if stay.internal not in joined:
            continue
        open_ = stay.left is None or stay.internal not in left
        end = horizon if open_ or stay.left is None else min(stay.left, horizon)
        begin = max(stay.joined, start)
        if end > begin or (open_ and end >= begin):
            spans[stay.delegate_id].append((begin, end, open_))
    lines = {}
    for delegate_id, mine in spans.items():
        total, reach = 0, -1
        for begin, end, _ in sorted(mine):
            total += max(0, end - max(begin, reach))
            reach = max(reach, end)
        here = any(o for _, _, o in mine)
        if here or (total > 0 and total >= MINIMUM.total_seconds() * 1000):
            presence = Presence.REMOTE
        else:
            presence = Presence.BRIEFLY if mine else Presence.ABSENT
        lines[delegate_id] = Line(chosen.delegates[delegate_id].state, total / 60_000, presence, here)
    return lines


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _tally(presences: Sequence[Presence]) -> str:
    got = Counter(presences)
    return ", ".join(f"{p.value.replace('_', ' ')} {got[p]:,}" for p in Presence)


def _counted(tally: Tally) -> str:
    return _tally([p for p in Presence for _ in range(getattr(tally, p.value))])


def compare(lines: dict[str, Line], table: AttendanceTable) -> tuple[tuple[int, int, int, int], int, tuple[str, str]]:
    """What differs between the lines worked out here and the table: delegates, states, totals."""
    minutes = presence = here = missing = 0
    for delegate_id, line in lines.items():
        got = table.delegate(delegate_id)
        if got is None:
            missing += 1
            continue
        minutes += abs(got.minutes - line.minutes) > 0.05 + 1e-9
        presence += got.presence is not line.presence
        here += got.here != line.here
    states = 0
    for state in table.states:
        mine = [line for line in lines.values() if line.state == state.state]
        tally = _tally([line.presence for line in mine])
        states += _counted(state.tally) != tally or state.represented != any(line.here for line in mine)
    states += len({line.state for line in lines.values()} - {s.state for s in table.states})
    said = (_tally([line.presence for line in lines.values()]), _counted(table.totals))
    return (minutes, presence, here, missing), states, said


# --- the two servers -------------------------------------------------------------------------------------------


async def measure(
    apps: Sequence[tuple[web.Application, socket.socket]], client: LoadClient, budget: float
) -> list[tuple[Run, float]]:
    """Serve each app on its bound socket; the client sends each the warm-up, then the deliveries in ``ROUNDS``
    parts, each part to every server in turn (a drift of the machine's speed falls on both alike). For each
    server: its runs made one, and the CPU seconds the event loop's thread spent on the deliveries (their sum
    is what limits the rate). A server whose part stopped at the time budget is sent no later part."""
    runners, bases = [], []
    try:
        for app, sock in apps:
            runners.append(runner := web.AppRunner(app, access_log=None))
            await runner.setup()
            await web.SockSite(runner, sock).start()
            bases.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
        for base in bases:
            await client.run("warm-up", base, budget)
        parts: list[list[Run]] = [[] for _ in apps]
        cpu = [0.0] * len(apps)
        for part in range(ROUNDS):
            for i, base in enumerate(bases):
                if part and parts[i][-1].stopped:
                    continue
                began = time.thread_time()
                parts[i].append(await client.run(f"deliveries-{part}", base, budget / ROUNDS))
                cpu[i] += time.thread_time() - began
        return [(Run.joined(runs), seconds) for runs, seconds in zip(parts, cpu, strict=True)]
    finally:
        for runner in runners:
            await runner.cleanup()


def bare() -> web.Application:
    """An aiohttp application that reads a webhook's body and answers 200 at once."""

    async def ok(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=200)

    app = web.Application()
    app.router.add_post("/webhooks/{provider}", ok)
    return app


# --- the checks and the report --------------------------------------------------------------------------------


async def check(services: Services, chosen: Deployment, plan: Plan, run: Run) -> tuple[list[str], bool]:
    """The table against what the accepted events should give, and the events stored: lines to print; exact?"""
    accepted = {plan.deliveries[i] for i, status in enumerate(run.statuses) if status == 200}
    began = time.perf_counter()
    table = await services.attendance.table(SESSION_ID, plan.now)
    took = time.perf_counter() - began
    assert table is not None
    (minutes, presence, here, missing), states, totals = compare(expected(chosen, plan, accepted), table)
    async with services.store.engine.connect() as conn:
        query = select(func.count()).select_from(attendance_events)
        stored = int((await conn.execute(query.where(attendance_events.c.session_id == SESSION_ID))).scalar_one())
    exact = run.accepted == len(plan.requests) and stored == len(accepted) == len(plan.events) and not table.guests
    exact = exact and (minutes, presence, here, missing, states) == (0, 0, 0, 0, 0) and totals[0] == totals[1]
    return [
        f"events stored / unique sent (accepted)            {stored:,} / {len(plan.events):,} ({len(accepted):,})",
        f"delegates wrong: minutes / presence / on call     {minutes:,} / {presence:,} / {here:,}",
        f"delegates missing from the table, guests          {missing:,}, {len(table.guests):,}",
        f"states whose tally or representation differs      {states:,}",
        f"totals expected  {totals[0]}",
        f"totals in table  {totals[1]}",
        f"the table read in {took:.2f} s",
    ], exact


def report(plan: Plan, runs: tuple[Run, Run], cpu: tuple[float, float], checked: list[str], exact: bool) -> None:
    """Print the figures, the checks and the targets."""
    base, ours = runs
    ratio = ours.rate / base.rate if base.rate else 0.0
    heads = ("deliveries", "accepted", "seconds", "accepted/s", "p50 ms", "p99 ms", "CPU ms each")
    widths = (12, 10, 9, 12, 9, 9, 13)
    print(f"  {'':<16}" + "".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label, r, seconds in (("bare aiohttp", base, cpu[0]), ("Plenary", ours, cpu[1])):
        print(
            f"  {label:<16}{len(r.statuses):>12,}{r.accepted:>10,}{r.seconds:>9.2f}{r.rate:>12.1f}"
            f"{r.latency(0.5):>9.1f}{r.latency(0.99):>9.1f}{seconds / max(1, len(r.statuses)) * 1000:>13.3f}"
        )
    print("  CPU ms each: the server's event-loop thread's CPU time per delivery (steadier than the rates)")
    print(f"  ratio Plenary / bare  {ratio:.2f}")
    print("\nchecks" + ("" if ours.accepted == len(plan.requests) else " (of the events Plenary accepted)"))
    statuses = [dict(sorted(Counter(r.statuses).items())) for r in runs]
    print(f"  deliveries by status, bare / Plenary              {statuses[0]} / {statuses[1]}")
    print("".join(f"  {line}\n" for line in checked), end="")
    print("\ntargets")
    print(f"  {f'Plenary ≥ {TARGET_RATIO:g} of bare accepted/s':<48}{ratio:>6.2f}  {verdict(ratio >= TARGET_RATIO)}")
    print(f"  {'every delivery accepted, tallies exact':<48}{'yes' if exact else 'no':>6}  {verdict(exact)}")


async def bench(store: Store, url: str, delegates: int, webhooks: int, budget: float) -> None:
    """Plan the deliveries, start the client, measure the bare server then Plenary's, check the table."""
    began = time.perf_counter()
    local = datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None, second=0, microsecond=0) - timedelta(hours=1)
    chosen = deployment(delegates, local)
    session = chosen.sessions[SESSION_ID]
    sock = socket.create_server(("127.0.0.1", 0))
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    now = datetime.now(UTC)
    made = plan(chosen, public + PATH, webhooks, session.starts_at, now)
    warm = [request(chosen, public + PATH, stay, True, "no-such-meeting", stay.joined) for stay in made.stays[:WARM_UP]]
    planned = time.perf_counter() - began
    services = bootstrap(
        Settings(public_url=public), SystemClock(), store=store, channels={}, secret=SECRET,
        video_providers=providers(public, store.video),
    )  # fmt: skip
    services.configuration.put(chosen)
    services.roster.base = chosen
    settle_collector()  # as the service does once started; both servers run with it (and past what this holds)
    size = sum(len(body) for _, body in made.requests) / len(made.requests)
    print(
        f"Plenary attendance webhook benchmark (Python {sys.version.split()[0]}; {url.split(':', 1)[0]}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f})"
    )
    print(
        f"{len(chosen.invitations[SESSION_ID]):,} delegates invited to one video session on BigBlueButton, begun "
        f"{(now - session.starts_at).total_seconds() / 60:.0f} min ago; {len(made.events):,} join/leave events "
        f"({len(made.stays):,} participants), {len(made.requests):,} deliveries ({made.twice:,} twice; shuffled "
        f"within {WINDOW}, {round(len(made.events) * HELD):,} delivered last, newest first: {made.early:,} leaves "
        f"before their join), {size:,.0f} bytes each; planned in {planned:.2f} s"
    )
    print(
        f"closed loop over {CONNECTIONS} connections, after a warm-up of {WARM_UP} ignored callbacks, in {ROUNDS} "
        f"parts, each to the bare server, then to Plenary's; the client in its own process, 127.0.0.1\n"
    )
    async with load_client() as client:
        await client.load("warm-up", warm)
        size_of = -(-len(made.requests) // ROUNDS)
        for part in range(ROUNDS):
            await client.load(f"deliveries-{part}", made.requests[part * size_of : (part + 1) * size_of])
        app = create_app(services.health, Metrics(), services.feeds, video=(services.video, WebPages()))
        try:
            servers = [(bare(), socket.create_server(("127.0.0.1", 0))), (app, sock)]
            (baseline, bare_cpu), (ours, our_cpu) = await measure(servers, client, budget)
        finally:
            for provider in services.video.providers.values():
                await provider.close()
    if len(ours.statuses) < len(made.requests):
        print(f"  Plenary: stopped after {budget:g} s, {len(ours.statuses):,} of {len(made.requests):,} POSTed")
    report(made, (baseline, ours), (bare_cpu, our_cpu), *await check(services, chosen, made, ours))


async def run(delegates: int, webhooks: int, budget: float, database: str | None) -> int:
    """Set up the store, run the benchmark and print what was logged."""

    async def work(store: Store, url: str) -> None:
        await bench(store, url, delegates, webhooks, budget)

    return await in_store("plenary-attendance-", database, work, ())


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.attendance", description=DESCRIPTION)
    parser.add_argument("--delegates", type=positive, default=1000, help="invited delegates (default %(default)s)")
    parser.add_argument("--webhooks", type=positive, default=20000, help="join/leave events (default %(default)s)")
    parser.add_argument("--seconds", type=float, default=120.0, help="time cap of a run (default %(default)s)")
    parser.add_argument("--database", metavar="URL", help="an empty database to use instead of a temporary SQLite")
    args = parser.parse_args(argv)
    return asyncio.run(run(args.delegates, args.webhooks, args.seconds, args.database))


if __name__ == "__main__":
    sys.exit(main())
