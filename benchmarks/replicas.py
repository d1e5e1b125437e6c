"""Benchmark: draining one session's invitations with 1, 2 and 3 replicas of ``plenary run`` on one PostgreSQL,
beside the single process on SQLite.

Each row is a fresh start of everything: a commission of N delegates (default 5,000; the crash test's
configuration, ``tests.e2e.test_crash.write_config``, with N delegates who have only an e-mail address), one
session whose invitation is already due when the simulated clock starts and nothing else planned; a fresh
database (an empty PostgreSQL database on 127.0.0.1:5432, made and dropped as the tests do, or a SQLite data
directory of its own); a fresh aiosmtpd in a process of its own (``tests.doubles.smtp.smtp_server_process``);
and K real ``plenary run`` processes (``tests.e2e.test_processes.launch``), each with its own
``PLENARY_WORKER_ID`` and HTTP port. The leader plans the N invitations into the outbox; every replica claims
rows (``FOR UPDATE SKIP LOCKED``) and sends them by SMTP.

Reported for each row: notices per second, N / the time from the first message the server accepted to the one
that made N distinct recipients; that time; the wall time from the first process's start to the same moment;
duplicates (messages beyond one per recipient, counted after a short wait for stragglers), and whether every
delegate got exactly one invitation. The baseline, measured in the same run, is the SQLite row (one process):
each PostgreSQL row's rate is given as a ratio to it. Below the table: when the leader had planned (its log's
"new notices in the outbox", from the start), and how many messages each replica sent (its log's "sent by
email" lines). It is a report, not a test: the exit code is 0 whatever the figures. A row that has not
finished after 600 s is stopped and reported as it stands.

Run it from the project root::

    python -m benchmarks.replicas
    python -m benchmarks.replicas --notices 1000 --replicas 1,3 --skip-sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from benchmarks._common import positive, verdict
from tests.conftest import _drop_postgres_database, _postgres_database
from tests.doubles.smtp import ProcessSmtpServer, smtp_server_process
from tests.e2e.test_crash import write_config
from tests.e2e.test_processes import environment, free_port, launch

DESCRIPTION = "Draining an outbox of e-mail invitations with 1, 2 and 3 replicas on PostgreSQL, beside SQLite."

RUN_LIMIT = 600.0
"""Seconds after which a row is stopped and reported as it stands."""
SETTLE = 2.0
"""Seconds to wait, once every delegate has a message, for any duplicate still on its way."""
POLL = 0.1
CLOCK_START = "2030-06-01T00:00:00Z"
"""Ten days after the crash test's invitation (21 days before 10 June) fell due: still useful, sent at once."""


def write_commission(folder: Path, count: int) -> list[str]:
    """The crash test's commission with ``count`` delegates, each with only an e-mail address; their addresses."""
    folder.parent.mkdir(exist_ok=True)
    write_config(folder)
    ids = [f"d{i:0{max(3, len(str(count - 1)))}d}" for i in range(count)]
    people = "\n".join(
        f"    - {{id: {d}, name: Delegate {i}, role: {'head' if i == 0 else 'member'}, email: {d}@example.org}}"
        for i, d in enumerate(ids)
    )
    (folder / "kgz.yaml").write_text(f"delegation:\n  state: KGZ\n  delegates:\n{people}\n", encoding="utf-8")
    return [f"{d}@example.org" for d in ids]


@dataclass
class Row:
    """One configuration's run."""

    store: str
    replicas: int
    notices: int = 0
    """Distinct delegates who got a message."""
    span: float = 0.0
    wall: float = 0.0
    duplicates: int = 0
    missing: int = 0
    aborted: str = ""
    planned: float | None = None
    """Seconds from the start to the leader's log line saying the outbox was filled."""
    first: float = 0.0
    """Seconds from the start to the first message."""
    shares: list[tuple[str, int, bool]] = field(default_factory=list)
    """Each replica's name, messages it sent, and whether it led."""

    @property
    def rate(self) -> float:
        return self.notices / self.span if self.span > 0 else 0.0

    @property
    def exact(self) -> bool:
        return not self.missing and not self.duplicates and not self.aborted


def halt(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process still running, then wait for each (SIGKILL after 30 s)."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def until_everyone(
    smtp: ProcessSmtpServer, expected: set[str], processes: Sequence[subprocess.Popen[bytes]], started: float
) -> str:
    """Wait until every expected address has a message; '' then, else why it stopped waiting."""
    while True:
        lines = smtp.record.read_bytes().count(b"\n") if smtp.record.exists() else 0
        if lines >= len(expected) and expected <= {rcpt for message in smtp.received for rcpt in message.recipients}:
            return ""
        if all(process.poll() is not None for process in processes):
            return "every replica exited"
        if time.monotonic() - started > RUN_LIMIT:
            return f"not finished after {RUN_LIMIT:g} s"
        await asyncio.sleep(POLL)


def read_logs(row: Row, logs: Sequence[Path], started_wall: float) -> None:
    """Each replica's sends, who led, and when the leader had filled the outbox, from the logs."""
    for n, log in enumerate(logs):
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        sent = sum(1 for line in lines if ": sent by email," in line)
        led = row.store == "sqlite" or any(" leads, term " in line for line in lines)
        row.shares.append((f"replica-{n}", sent, led))
        for line in lines:
            if "new notices in the outbox" in line:
                at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                row.planned = min(at - started_wall, row.planned or float("inf"))
    if row.aborted:
        print(f"  ABORTED: {row.store} × {len(logs)}: {row.aborted}; the last replica said:")
        print("    " + "\n    ".join(lines[-8:]))


def tally(row: Row, smtp: ProcessSmtpServer, expected: Sequence[str], started: float) -> None:
    """Rate, span, wall time, duplicates and missing delegates, from what the server recorded."""
    received = smtp.received
    wanted, seen = set(expected), set[str]()
    per_address = Counter(rcpt for message in received for rcpt in message.recipients)
    for message in received:
        seen.update(rcpt for rcpt in message.recipients if rcpt in wanted)
        if len(seen) == len(wanted):
            row.span, row.wall = message.at - received[0].at, message.at - started
            break
    else:
        row.wall = time.monotonic() - started
        if received:
            row.span = received[-1].at - received[0].at
    row.first = received[0].at - started if received else 0.0
    row.notices = len(seen)
    row.missing = len(wanted - seen)
    row.duplicates = sum(n - 1 for address, n in per_address.items() if address in wanted)


async def drain(folder: Path, store: str, url: str, replicas: int, count: int) -> Row:
    """Start ``replicas`` processes on ``url`` against a fresh SMTP server; measure until everyone has a message."""
    expected = write_commission(folder / "config", count)
    row = Row(store, replicas)
    processes: list[subprocess.Popen[bytes]] = []
    logs = [folder / f"replica-{n}.log" for n in range(replicas)]
    with smtp_server_process(folder) as smtp:
        mail = {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_TLS": "none"}
        started, started_wall = time.monotonic(), time.time()
        try:
            for n, log in enumerate(logs):
                env = environment(folder, url, free_port(), PLENARY_WORKER_ID=f"replica-{n}", **mail)
                processes.append(launch(folder / "config", env, log, "--clock-start", CLOCK_START))
            row.aborted = await until_everyone(smtp, set(expected), processes, started)
            tally(row, smtp, expected, started)
            if not row.aborted:
                await asyncio.sleep(SETTLE)  # duplicates still on their way would come now
                tally(row, smtp, expected, started)
        finally:
            halt(processes)
    read_logs(row, logs, started_wall)
    return row


async def on_postgres(folder: Path, replicas: int, count: int) -> Row | None:
    """One row on a fresh PostgreSQL database, dropped afterwards whatever happens; None when there is no server."""
    try:
        created = await _postgres_database()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        print(f"  PostgreSQL skipped: {exc}")
        return None
    assert created is not None
    url, name = created
    try:
        return await drain(folder / f"postgresql-{replicas}", "postgresql", url, replicas, count)
    finally:
        await _drop_postgres_database(name)


def machine() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load average {load}"


def report(rows: Sequence[Row]) -> None:
    baseline = next((row for row in rows if row.store == "sqlite" and row.rate > 0), None)
    head = f"  {'store':<12}{'replicas':>9}{'notices':>9}{'seconds':>9}{'notices/s':>11}{'duplicates':>12}"
    print(f"{head}{'wall s':>9}{'vs SQLite':>11}  every delegate once")
    for row in rows:
        ratio = f"{row.rate / baseline.rate:.2f}" if baseline and row.store != "sqlite" else "—"
        print(
            f"  {row.store:<12}{row.replicas:>9}{row.notices:>9,}{row.span:>9.2f}{row.rate:>11.1f}"
            f"{row.duplicates:>12,}{row.wall:>9.2f}{ratio:>11}  {verdict(row.exact)}"
            + (f" (missing {row.missing:,})" if row.missing else "")
        )
    print()
    print("  who did the work (messages sent, from each replica's log; * led)")
    for row in rows:
        planned = f"{row.planned:.2f} s" if row.planned is not None else "never logged"
        shares = ", ".join(f"{name}{'*' if led else ''} {sent:,}" for name, sent, led in row.shares)
        print(f"  {row.store:<12}{row.replicas:>2}  outbox filled at {planned}, first message at {row.first:.2f} s;")
        print(f"  {'':<16}{shares}")


async def run(count: int, replicas: Sequence[int], sqlite: bool) -> int:
    """Run every row asked for and print the report; return the exit code (always 0)."""
    print(f"Plenary replicas benchmark: {count:,} e-mail invitations, aiosmtpd in its own process, 127.0.0.1")
    print(f"machine: {machine()}")
    print()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="plenary-replicas-") as tmp:
        folder = Path(tmp)
        if sqlite:
            print("  running sqlite × 1 …", flush=True)
            rows.append(await drain(folder / "sqlite-1", "sqlite", "sqlite", 1, count))
        for k in replicas:
            print(f"  running postgresql × {k} …", flush=True)
            row = await on_postgres(folder, k, count)
            if row is None:
                break
            rows.append(row)
    print()
    report(rows)
    print()
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


def replica_counts(text: str) -> list[int]:
    """An argparse type: a comma-separated list of replica counts, each at least 1."""
    return [positive(part) for part in text.split(",") if part.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.replicas", description=DESCRIPTION)
    parser.add_argument(
        "--notices", type=positive, default=5000, metavar="N", help="delegates invited (default: %(default)s)"
    )
    parser.add_argument(
        "--replicas", type=replica_counts, default=[1, 2, 3], metavar="K,…", help="PostgreSQL rows (default: 1,2,3)"
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="leave out the single-process SQLite row")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.notices, args.replicas, not args.skip_sqlite))
    print("interrupted: every process stopped and every database dropped", file=sys.stderr)
    return 130


if __name__ == "__main__":
    sys.exit(main())
