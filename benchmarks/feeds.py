"""Calendar-feed serving: requests per second and p99 latency, full body and 304, beside a bare aiohttp.

    python -m benchmarks.feeds [--events 1000] [--clients 50] [--seconds 5]

A delegate invited to 1,000 sessions gets a personal feed of 1,000 events. The real HTTP server (the same
``web.create_app`` the service runs, with its metrics middleware and the feed service behind it) answers
``--clients`` concurrent clients for ``--seconds``, first for the full body (gzip, as calendar clients ask)
and then for the conditional request that gets 304. In the same run a bare aiohttp application answers the
same bytes from memory with no work at all, as the baseline. The load comes from a second process on
127.0.0.1, so that the client does not share the server's event loop. Targets: the full body at ≥ 0.5 of
the baseline's requests per second, the 304 path at ≥ 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from aiohttp import web

from app.bootstrap import bootstrap
from app.clock import SimulatedClock
from benchmarks._common import positive, verdict
from config.loader import load_texts
from config.settings import Settings
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from web.app import Metrics, create_app

TARGET_FULL = 0.5
TARGET_304 = 0.9


def configuration(events: int) -> dict[str, str]:
    """A commission with one delegate invited to ``events`` sessions, one a day."""
    commission = """\
commission:
  id: bench
  name: {ru: Комиссия, en: Commission}
  languages: [ru, en]
  timezone: Europe/Moscow
  secretariat: {email: secretariat@example.org}
states:
  - {code: KGZ, name: Kyrgyzstan, timezone: Asia/Bishkek, language: ru}
delegation:
  state: KGZ
  delegates:
    - {id: d1, name: Делегат, role: head, email: d1@example.org}
"""
    sessions = []
    start = datetime(2027, 1, 1)
    for i in range(events):
        day = start.toordinal() + i
        date = datetime.fromordinal(day).strftime("%Y-%m-%d")
        sessions.append(
            f"""  - id: s{i:04d}
    title: {{ru: "Заседание {i}", en: "Meeting {i}"}}
    format: hybrid
    start: {date}T10:00
    end: {date}T13:00
    venue: {{name: "Дом приёмов, зал {i % 7}", city: Москва}}
    video: {{url: https://meet.example.org/s{i}}}
    invited: {{delegates: [d1]}}
    agenda:
      - title: "О ходе выполнения решений {i}"
"""
        )
    return {"commission.yaml": commission, "sessions.yaml": "sessions:\n" + "".join(sessions)}


async def client(url: str, etag: str | None, clients: int, seconds: float) -> dict[str, object]:
    """Hammer one URL from ``clients`` connections for ``seconds``; return counts and latencies."""
    headers = {"Accept-Encoding": "gzip"}
    if etag:
        headers["If-None-Match"] = etag
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as http:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with http.get(url, headers=headers) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(time.perf_counter() - started)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
        "median_ms": statistics.median(latencies) * 1000 if latencies else 0.0,
        "statuses": statuses,
    }


def load_from_another_process(url: str, etag: str | None, clients: int, seconds: float) -> dict[str, object]:
    """Run the client in a separate process, twice, and keep the better run (this machine is noisy)."""
    runs = [_one_load(url, etag, clients, seconds / 2) for _ in range(2)]
    return max(runs, key=lambda run: float(run["rps"]))  # type: ignore[arg-type]


def _one_load(url: str, etag: str | None, clients: int, seconds: float) -> dict[str, object]:
    command = [sys.executable, "-m", "benchmarks.feeds", "--client", url, "--clients", str(clients)]
    command += ["--seconds", str(seconds)] + (["--etag", etag] if etag else [])
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 120)
    result: dict[str, object] = json.loads(out.stdout)
    return result


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start an application on a free loopback port."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []
    port = int(sockets[0].getsockname()[1]) if sockets else 0
    return runner, port


def baseline_app(body: bytes, gzipped: bytes, etag: str) -> web.Application:
    """aiohttp answering the same bytes from memory, and 304 for the same ETag, with no other work."""

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=gzipped, headers={"ETag": etag, "Content-Encoding": "gzip"}, content_type="text/calendar"
        )

    app = web.Application()
    app.router.add_get("/feed.ics", handler)
    return app


async def measure(events: int, clients: int, seconds: float) -> int:
    """Build the feed, serve it, load it, and print the report."""
    with tempfile.TemporaryDirectory(prefix="plenary-feeds-") as tmp:
        result = load_texts(configuration(events), {})
        deployment = result.deployment
        if deployment is None:
            print("\n".join(str(p) for p in result.problems[:20]), file=sys.stderr)
            return 1
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'db.sqlite'}"
        await upgrade(url)
        engine = create_engine(url)
        store = Store(engine)
        clock = SimulatedClock(datetime(2026, 12, 1, tzinfo=UTC))
        services = bootstrap(Settings(), clock, store=store, channels={}, secret=b"benchmark-secret")
        await services.timeline.apply(deployment)
        await services.configuration.accept(deployment)
        feeds = services.feeds
        token = feeds.links(deployment, {})[0].token
        runner, port = await serve(create_app(services.health, Metrics(), feeds))
        feed_url = f"http://127.0.0.1:{port}/calendar/{token}.ics"
        async with aiohttp.ClientSession() as http, http.get(feed_url) as response:
            body, etag = await response.read(), response.headers["ETag"]
        feed = await feeds.feed(token)
        assert feed is not None
        assert feed.gzipped is not None
        print(f"Calendar-feed benchmark (Python {sys.version.split()[0]}; {clients} clients, {seconds:g} s each)")
        print(f"feed: {events:,} events, {len(body):,} bytes ({len(feed.gzipped):,} gzipped)")
        figures: dict[str, dict[str, object]] = {}
        for label, target_url, tag in (("full", feed_url, None), ("304", feed_url, etag)):
            figures[f"plenary {label}"] = await asyncio.to_thread(
                load_from_another_process, target_url, tag, clients, seconds
            )
        await runner.cleanup()
        base_runner, base_port = await serve(baseline_app(body, feed.gzipped, etag))
        base_url = f"http://127.0.0.1:{base_port}/feed.ics"
        for label, tag in (("full", None), ("304", etag)):
            figures[f"baseline {label}"] = await asyncio.to_thread(
                load_from_another_process, base_url, tag, clients, seconds
            )
        await base_runner.cleanup()

        await engine.dispose()

    print()
    print(f"{'':<16}{'requests':>10}{'req/s':>10}{'median ms':>11}{'p99 ms':>9}  statuses")
    for name, f in figures.items():
        row = f"{name:<16}{f['requests']:>10,}{f['rps']:>10.0f}{f['median_ms']:>11.2f}{f['p99_ms']:>9.2f}"
        print(f"{row}  {f['statuses']}")
    full = float(figures["plenary full"]["rps"]) / float(figures["baseline full"]["rps"])  # type: ignore[arg-type]
    cond = float(figures["plenary 304"]["rps"]) / float(figures["baseline 304"]["rps"])  # type: ignore[arg-type]
    print()
    print("targets")
    print(f"  full body ≥ {TARGET_FULL:g} of the baseline        {full:6.2f}  {verdict(full >= TARGET_FULL)}")
    print(f"  304 path ≥ {TARGET_304:g} of the baseline         {cond:6.2f}  {verdict(cond >= TARGET_304)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options; run the benchmark, or (with --client) be its load generator."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.feeds", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=positive, default=1000, help="events in the feed (default %(default)s)")
    parser.add_argument("--clients", type=positive, default=50, help="concurrent clients (default %(default)s)")
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="seconds per measurement, in two runs (default %(default)s)"
    )
    parser.add_argument("--client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--etag", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        print(json.dumps(asyncio.run(client(args.client, args.etag, args.clients, args.seconds))))
        return 0
    return asyncio.run(measure(args.events, args.clients, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
