"""Replicas of ``plenary run`` on one PostgreSQL, as an operator runs them (real processes), and their leader lost:
killed with SIGKILL in the middle of a 500-delegate fan-out, or paused with SIGSTOP past its lease and resumed.

What must hold: every delegate has their invitation (a notice being sent when its sender died may go twice: those
are counted, and bounded); a new leader takes over within 15 s of the kill (measured from it, printed); the
reminders that fall due after the kill are sent exactly once; the terms the database recorded never overlap; a
paused leader, resumed, makes no write and steps down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import func, select

from storage.engine import create_engine
from storage.tables import leader_lease, leader_terms
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.e2e.test_crash import DELEGATES, IN_FLIGHT_BOUND, wait_for, write_config
from tests.e2e.test_processes import PLENARY, environment, free_port, launch, stop

pytestmark = pytest.mark.postgres

TAKEOVER_LIMIT = 15.0
"""The longest a replica may take to lead once the leader is gone (the lease is 8 s, renewed every 1.5 s)."""
CLOCK_START = "2030-06-09T10:59:25Z"
"""35 seconds before the reminders (a day before the 11:00 UTC start) fall due: after the kill and the takeover."""


def configure(folder: Path, delegates: int = DELEGATES) -> None:
    """The crash test's commission, with a reminder a day before the session."""
    write_config(folder)
    commission = folder / "commission.yaml"
    commission.write_text(commission.read_text().replace("reminders: []", "reminders: [1d]"), encoding="utf-8")
    if delegates != DELEGATES:
        people = (folder / "kgz.yaml").read_text().splitlines()
        (folder / "kgz.yaml").write_text("\n".join(people[: 3 + delegates]) + "\n", encoding="utf-8")


async def current(url: str) -> tuple[str, int, bool]:
    """The lease's holder, term and whether it is unexpired now."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    select(
                        leader_lease.c.holder,
                        leader_lease.c.term,
                        (leader_lease.c.expires_at > func.clock_timestamp()).label("alive"),
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    return str(row.holder), int(row.term), bool(row.alive)


async def until_led(url: str, *, not_by: str | None, limit: float) -> tuple[str, int, float]:
    """Wait until a replica other than ``not_by`` holds an unexpired lease; its holder, term, and how long."""
    started = time.monotonic()
    while True:
        try:
            holder, term, alive = await current(url)
        except Exception:  # no lease row yet: nobody has campaigned
            holder, term, alive = "", 0, False
        if alive and holder and holder != not_by:
            return holder, term, time.monotonic() - started
        if time.monotonic() - started > limit:
            raise AssertionError(f"no replica led within {limit} s (lease: {holder!r}, term {term}, alive {alive})")
        await asyncio.sleep(0.05)


async def terms_of(url: str) -> list[tuple[int, str, datetime, datetime | None]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(select(leader_terms).order_by(leader_terms.c.term))).all()
    finally:
        await engine.dispose()
    return [(int(r.term), str(r.holder), r.started_at, r.ended_at) for r in rows]


def assert_no_overlap(terms: list[tuple[int, str, datetime, datetime | None]]) -> None:
    for (term, holder, _, ended), (_, _, started, _) in itertools.pairwise(terms):
        assert ended is not None, f"term {term} of {holder} never ended, yet another began"
        assert ended <= started, f"term {term} of {holder} ended at {ended}, after the next began at {started}"


def kinds(smtp: SmtpServer, kind: str) -> Counter[str]:
    return Counter(r.recipients[0] for r in smtp.received if r.message["X-Plenary-Kind"] == kind)


PORTS: dict[Path, int] = {}
"""Each replica's HTTP port, by its log file."""


@contextlib.contextmanager
def replicas(
    config: Path, url: str, tmp_path: Path, smtp: SmtpServer, count: int, **extra: str
) -> Iterator[tuple[list[subprocess.Popen[bytes]], list[Path]]]:
    """``count`` replicas of ``plenary run`` on ``url``, each with its log; those still running stopped after."""
    mail = {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_TLS": "none", "PLENARY_LEASE_SECONDS": "5"}
    mail |= extra
    processes, logs = [], []
    for n in range(count):
        port = free_port()
        env = environment(tmp_path, url, port, PLENARY_WORKER_ID=f"replica-{n}", **mail)
        PORTS[tmp_path / f"replica-{n}.log"] = port
        log = tmp_path / f"replica-{n}.log"
        processes.append(launch(config, env, log, "--clock-start", CLOCK_START))
        logs.append(log)
    try:
        yield processes, logs
    finally:
        for process, log in zip(processes, logs, strict=True):
            if process.poll() is None:
                stop(process, log)


async def metrics(port: int) -> str:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/metrics") as response:
        assert response.status == 200
        return await response.text()


def index_of(holder: str) -> int:
    """The replica a lease holder's name is (``replica-N#token``)."""
    return int(holder.split("#", 1)[0].removeprefix("replica-"))


async def test_the_leader_killed_mid_fanout_is_replaced_within_15_s_and_nothing_is_lost_or_sent_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    configure(config)
    with smtp_server() as smtp, replicas(config, postgres_url, tmp_path, smtp, 3) as (processes, logs):
        holder, term, _ = await until_led(postgres_url, not_by=None, limit=60)
        await wait_for(smtp, lambda: len(smtp.received) >= 100, 60, logs[index_of(holder)])
        killed = index_of(holder)
        processes[killed].send_signal(signal.SIGKILL)
        processes[killed].wait(10)
        at_kill = len(smtp.received)
        new_holder, new_term, took = await until_led(postgres_url, not_by=holder, limit=TAKEOVER_LIMIT)
        print(f"leader {holder} (term {term}) killed after {at_kill} messages; {new_holder} led in {took:.1f} s")
        assert new_term > term
        assert at_kill < DELEGATES, "the fan-out finished before the kill: nothing was tested"
        everyone = {f"d{i:03d}@example.org" for i in range(DELEGATES)}
        await wait_for(smtp, lambda: set(kinds(smtp, "reminder")) == everyone, 120, logs[index_of(new_holder)])
        await asyncio.sleep(2.0)  # anything still to come would come now
    invitations, reminders = kinds(smtp, "invitation"), kinds(smtp, "reminder")
    assert set(invitations) == everyone
    duplicates = sum(count - 1 for count in invitations.values())
    assert max(invitations.values()) <= 2
    assert duplicates <= IN_FLIGHT_BOUND, f"{duplicates} invitations sent twice after the kill at {at_kill}"
    assert set(reminders) == everyone
    assert max(reminders.values()) == 1, "a reminder due after the kill was sent twice"
    terms = await terms_of(postgres_url)
    assert_no_overlap(terms)
    assert dict((t[0], t[1]) for t in terms)[new_term] == new_holder  # after the kill (others follow on stop)
    print(f"{duplicates} invitation(s) sent twice (in flight at the kill); terms: {[(t[0], t[1]) for t in terms]}")


async def test_a_leader_paused_past_its_lease_steps_down_when_resumed_and_writes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    configure(config, delegates=20)
    with smtp_server() as smtp, replicas(config, postgres_url, tmp_path, smtp, 2) as (processes, logs):
        holder, term, _ = await until_led(postgres_url, not_by=None, limit=60)
        paused = index_of(holder)
        await wait_for(smtp, lambda: len(kinds(smtp, "invitation")) == 20, 60, logs[paused])
        processes[paused].send_signal(signal.SIGSTOP)
        new_holder, new_term, took = await until_led(postgres_url, not_by=holder, limit=TAKEOVER_LIMIT)
        assert new_term > term
        await asyncio.sleep(3.0)  # well past the paused leader's lease
        said = logs[paused].stat().st_size
        processes[paused].send_signal(signal.SIGCONT)
        deadline = time.monotonic() + 15
        while "no longer leads" not in logs[paused].read_text(encoding="utf-8")[said:]:
            assert time.monotonic() < deadline, logs[paused].read_text(encoding="utf-8")[-3000:]
            await asyncio.sleep(0.1)
        after = logs[paused].read_text(encoding="utf-8")[said:]
        assert "new notices in the outbox" not in after, after  # it queued nothing once resumed
        holder_now, term_now, alive = await current(postgres_url)
        assert (holder_now, term_now, alive) == (new_holder, new_term, True)  # it did not take the lease back
        everyone = {f"d{i:03d}@example.org" for i in range(20)}
        await wait_for(smtp, lambda: set(kinds(smtp, "reminder")) == everyone, 90, logs[index_of(new_holder)])
        await asyncio.sleep(2.0)
    assert max(kinds(smtp, "reminder").values()) == 1
    assert max(kinds(smtp, "invitation").values()) == 1
    assert_no_overlap(await terms_of(postgres_url))
    print(f"paused leader {holder} replaced by {new_holder} in {took:.1f} s; it stepped down when resumed")


async def test_a_leader_stopped_with_sigterm_hands_over_at_once(postgres_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    configure(config, delegates=20)
    with smtp_server() as smtp, replicas(config, postgres_url, tmp_path, smtp, 2) as (processes, logs):
        holder, term, _ = await until_led(postgres_url, not_by=None, limit=60)
        leaving = index_of(holder)
        await wait_for(smtp, lambda: len(kinds(smtp, "invitation")) == 20, 60, logs[leaving])
        shown = [await metrics(PORTS[log]) for log in logs]
        stopped = time.monotonic()
        stop(processes[leaving], logs[leaving])  # SIGTERM, and it exits 0
        new_holder, new_term, _ = await until_led(postgres_url, not_by=holder, limit=TAKEOVER_LIMIT)
        took = time.monotonic() - stopped
    leads = f'plenary_leader{{replica="{holder}",term="{term}"}} 1.0'
    assert leads in shown[leaving]  # the leader says who it is and its term; the other, that it does not lead
    assert 'term=""} 0.0' in shown[1 - leaving]
    assert any('plenary_delivery_seconds_count{channel="email",kind="invitation"}' in text for text in shown)
    assert new_term == term + 1
    assert took < 5.0, f"the lead passed {took:.1f} s after SIGTERM: it was not handed over"
    ended = [t for t in await terms_of(postgres_url) if t[0] == term]
    assert ended[0][3] is not None
    print(f"{holder} stopped with SIGTERM; {new_holder} led {took:.1f} s later")


async def test_only_the_leader_polls_telegram_and_its_successor_takes_the_updates_over(
    postgres_url: str, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    configure(config, delegates=5)
    user = TgUser(7001, "Guest", language_code="en")
    with smtp_server() as smtp:
        async with FakeBotApi() as api:
            bot = {"TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_URL": api.base_url}
            with replicas(config, postgres_url, tmp_path, smtp, 2, **bot) as (processes, logs):
                holder, _, _ = await until_led(postgres_url, not_by=None, limit=60)
                api.push(api.command_update(user, "/help"))
                await api.wait_for(lambda: api.sent_to(user.id) or None, within=20)
                await asyncio.sleep(5.0)  # both running: a second poller would be told 409 Conflict
                killed = index_of(holder)
                processes[killed].send_signal(signal.SIGKILL)
                processes[killed].wait(10)
                await until_led(postgres_url, not_by=holder, limit=TAKEOVER_LIMIT)
                api.push(api.command_update(user, "/help"))
                await api.wait_for(lambda: len(api.sent_to(user.id)) >= 2 or None, within=20)
    for log in logs:
        assert "Conflict" not in log.read_text(encoding="utf-8"), "two replicas polled Telegram at once"
    assert len(api.sent_to(user.id)) == 2  # each update answered once, by whichever replica led


async def test_replicas_started_together_migrate_once_and_all_start(postgres_url: str, tmp_path: Path) -> None:
    env = environment(tmp_path, postgres_url, 0)
    commands = [
        await asyncio.create_subprocess_exec(
            *PLENARY, "db", "upgrade", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        for _ in range(4)
    ]
    outputs = await asyncio.gather(*(c.communicate() for c in commands))
    for command, (out, _) in zip(commands, outputs, strict=True):
        assert command.returncode == 0, out.decode()  # none dies of another's CREATE (pg_type_typname_nsp_index)
