"""SIGKILL in the middle of a 500-delegate fan-out, then a restart: nothing lost, duplicates only in flight."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import ROOT
from tests.doubles.smtp import SmtpServer, smtp_server

DELEGATES = 500
IN_FLIGHT_BOUND = 32
"""The most notices that can be sent (or being sent) and not yet recorded (docs/delivery.md)."""


def write_config(folder: Path) -> None:
    folder.mkdir()
    (folder / "commission.yaml").write_text(
        """\
commission:
  id: crash
  name: Crash test commission
  languages: [ru, en]
  timezone: Europe/Moscow
  secretariat: {email: secretariat@example.org}
  notifications: {invitation: 21d, agenda: null, reminders: [], start: null, summary: null}
states:
  - {code: KGZ, name: Kyrgyzstan, timezone: Asia/Bishkek, language: ru}
""",
        encoding="utf-8",
    )
    people = "\n".join(
        f"    - {{id: d{i:03d}, name: Delegate {i}, role: {'head' if i == 0 else 'member'}, "
        f"email: d{i:03d}@example.org}}"
        for i in range(DELEGATES)
    )
    (folder / "kgz.yaml").write_text(f"delegation:\n  state: KGZ\n  delegates:\n{people}\n", encoding="utf-8")
    (folder / "session.yaml").write_text(
        """\
session:
  id: big
  title: {ru: Заседание, en: Meeting}
  format: video
  start: 2030-06-10T14:00
  end: 2030-06-10T17:00
  video: {url: https://meet.example.org/big}
  invited: {states: all}
""",
        encoding="utf-8",
    )


def start_service(config: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-c",
        "from app.cli import main; main()",
        "run",
        str(config),
        "--clock-start",
        "2030-06-01T00:00:00Z",
    ]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=out)


async def wait_for(smtp: SmtpServer, predicate: object, limit: float, log: Path) -> None:
    deadline = time.monotonic() + limit
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            tail = log.read_text(encoding="utf-8", errors="replace")[-4000:]  # noqa: ASYNC240 (failing anyway)
            raise AssertionError(f"timed out; {len(smtp.received)} messages received; the service said:\n{tail}")
        await asyncio.sleep(0.05)


async def test_sigkill_mid_fanout_then_restart(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    write_config(config)
    log = tmp_path / "service.log"
    with smtp_server() as smtp:
        env = {
            **os.environ,
            "PLENARY_DATA_DIR": str(tmp_path / "data"),
            "PLENARY_DATABASE_URL": database_url,
            "PLENARY_WORKER_ID": "crash-worker-1",
            "PLENARY_LEASE_SECONDS": "5",
            "PLENARY_HTTP_PORT": "0",
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "SMTP_TLS": "none",
        }
        env.pop("TELEGRAM_BOT_TOKEN", None)
        first = start_service(config, env, log)
        try:
            await wait_for(smtp, lambda: len(smtp.received) >= 120, 90, log)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        at_kill = len(smtp.received)
        assert at_kill < DELEGATES, "the fan-out finished before the kill: nothing was tested"

        # Another worker takes over: on PostgreSQL the dead one's claims come back when their lease runs out;
        # on SQLite the one process of the database takes back whatever was claimed.
        second = start_service(config, {**env, "PLENARY_WORKER_ID": "crash-worker-2"}, log)
        try:
            await wait_for(smtp, lambda: len({r.recipients[0] for r in smtp.received}) >= DELEGATES, 120, log)
            await asyncio.sleep(1.0)  # anything still to come would come now
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0, log.read_text(encoding="utf-8")[-3000:]

    per_delegate = Counter(r.recipients[0] for r in smtp.received)
    assert set(per_delegate) == {f"d{i:03d}@example.org" for i in range(DELEGATES)}
    duplicates = sum(count - 1 for count in per_delegate.values())
    assert all(count <= 2 for count in per_delegate.values())
    assert duplicates <= IN_FLIGHT_BOUND, f"{duplicates} duplicates after a kill at {at_kill} messages"
    print(f"killed after {at_kill} messages; {duplicates} duplicate(s) after the restart")
