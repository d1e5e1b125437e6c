"""The database goes away under the running service for 30 s: readiness says so, and nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from sqlalchemy.engine import make_url

from tests.doubles.smtp import SmtpServer
from tests.doubles.tcp_proxy import CuttableProxy
from tests.doubles.telegram_api import FakeTelegramApi
from tests.e2e.harness import BOUND, Harness, start

OUTAGE = 30.0
"""Real seconds the database is away."""


@contextlib.asynccontextmanager
async def outage_switch(database_url: str) -> AsyncIterator[tuple[str, Callable[[], None], Callable[[], None]]]:
    """The URL the service should use, and how to take the database away and give it back.

    PostgreSQL: the service connects through a TCP proxy on loopback, which drops every connection and refuses
    new ones. SQLite: another connection holds an exclusive lock, as a backup tool would.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "postgresql":
        async with CuttableProxy(url.host or "127.0.0.1", url.port or 5432) as proxy:
            through = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            yield through, proxy.cut, proxy.restore
        return
    release = threading.Event()
    holder: list[threading.Thread] = []

    def hold() -> None:
        conn = sqlite3.connect(url.database or "", timeout=30, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        release.wait(OUTAGE * 3)
        conn.execute("ROLLBACK")
        conn.close()

    def cut() -> None:
        release.clear()
        thread = threading.Thread(target=hold, daemon=True)
        thread.start()
        holder.append(thread)

    def restore() -> None:
        release.set()
        for thread in holder:
            thread.join(10)

    try:
        yield database_url, cut, restore
    finally:
        restore()


async def readiness(port: int) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
        return r.status, await r.json()


async def wait_ready(port: int, wanted: int, limit: float) -> dict[str, object]:
    """Poll /readyz as a probe does until it answers ``wanted``; return its body."""
    last: dict[str, object] = {}
    try:
        async with asyncio.timeout(limit):
            while True:
                status, last = await readiness(port)
                if status == wanted:
                    return last
                await asyncio.sleep(0.25)
    except TimeoutError:
        raise AssertionError(f"/readyz did not answer {wanted} within {limit} s; last: {last}") from None


async def test_a_database_outage_of_30_seconds_loses_nothing_and_sends_nothing_twice(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    # 60 times faster: the XX agenda falls due at 11:00 UTC on 12 October, inside the outage.
    at = datetime(2022, 10, 12, 10, 50, tzinfo=UTC)
    async with outage_switch(database_url) as (service_url, cut, restore):
        h: Harness = await start(database_url, config_dir, smtp, telegram, tmp_path, at, 60, service_url=service_url)
        try:
            await h.settle()
            assert h.clock.now() < datetime(2022, 10, 12, 11, 0, tzinfo=UTC), "the outage began too late"
            port = h.service.http_port
            assert (await readiness(port))[0] == 200
            cut()
            down = await wait_ready(port, 503, limit=20)
            assert "dispatcher" in str(down["problems"]) or "database" in str(down["problems"])
            await asyncio.sleep(max(OUTAGE - 20, 0))
            await h.until(datetime(2022, 10, 12, 11, 20, tzinfo=UTC))  # the agenda's time has come and gone
            restore()
            await wait_ready(port, 200, limit=45)
            await h.settle(limit=60)
        finally:
            restore()
            await h.service.stop()
    deployment = h.service.deployment
    assert deployment is not None
    expected = {deployment.delegates[d].email for d in deployment.invitations["icmec-xx"] if d not in BOUND}
    agendas = Counter(r.recipients[0] for r in h.emails("agenda") if r.message["X-Plenary-Session"] == "icmec-xx")
    assert set(agendas) == expected
    assert all(n == 1 for n in agendas.values()), agendas
    invitations = Counter(
        r.recipients[0] for r in h.emails("invitation") if r.message["X-Plenary-Session"] == "icmec-xx"
    )
    assert all(n == 1 for n in invitations.values()), invitations
    counts = await h.store.outbox.counts()
    assert not counts.get("pending"), counts
    assert not counts.get("claimed"), counts
    assert not counts.get("failed"), counts
    await h.store.engine.dispose()
