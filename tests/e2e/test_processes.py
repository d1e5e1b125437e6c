"""Several processes on one database, as an operator runs them: `plenary run`, `plenary links --rotate`, a second
`plenary run` started by mistake, two replicas on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import EXAMPLES, ROOT
from tests.doubles.smtp import smtp_server
from tests.e2e.test_crash import DELEGATES, write_config

PLENARY = [sys.executable, "-c", "from app.cli import main; main()"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(tmp_path: Path, database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TELEGRAM_", "PLENARY_"))}
    env |= {"PLENARY_DATA_DIR": str(tmp_path / "data"), "PLENARY_HTTP_PORT": str(port), **extra}
    if not database_url.startswith("sqlite"):
        env["PLENARY_DATABASE_URL"] = database_url
    return env


def launch(config: Path, env: dict[str, str], log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([*PLENARY, "run", str(config), *extra], cwd=ROOT, env=env, stdout=out, stderr=out)


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, log.read_text(encoding="utf-8")[-3000:]


async def status_of(url: str) -> int:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status


async def until_status(url: str, wanted: int, limit: float) -> float:
    """Poll ``url`` until it answers ``wanted``; return how long that took."""
    started = time.monotonic()
    while True:
        try:
            if await status_of(url) == wanted:
                return time.monotonic() - started
        except aiohttp.ClientError:
            pass
        if time.monotonic() - started > limit:
            raise AssertionError(f"{url} did not answer {wanted} within {limit} s")
        await asyncio.sleep(0.1)


def links(config: Path, env: dict[str, str], *extra: str) -> dict[str, str]:
    result = subprocess.run(
        [*PLENARY, "links", str(config), "--json", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return {row["id"]: row["https"] for row in json.loads(result.stdout) if row["scope"] == "delegate"}


async def test_a_rotated_link_answers_404_in_the_running_service_at_once(database_url: str, tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config)
    port = free_port()
    env = environment(tmp_path, database_url, port)
    log = tmp_path / "service.log"
    service = launch(config, env, log, "--clock-start", "2022-10-05T00:00:00Z")
    try:
        old = links(config, env)["kgz-asanov"]
        await until_status(old, 200, limit=60)
        new = links(config, env, "--rotate", "kgz-asanov")["kgz-asanov"]
        assert new != old
        took = await until_status(old, 404, limit=5)
        assert await status_of(new) == 200
        assert took < 2.0, f"the running service served the revoked link for {took:.1f} s"
        assert await status_of(links(config, env)["rus-head"]) == 200  # the others' links are untouched
    finally:
        stop(service, log)


def maildir_count(folder: Path) -> int:
    new = folder / "new"
    return len(list(new.iterdir())) if new.exists() else 0


async def test_a_second_process_on_the_same_sqlite_database_is_refused_before_it_touches_anything(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config)
    log = tmp_path / "service.log"
    env = environment(tmp_path, "sqlite", free_port())
    first = launch(config, env, log, "--clock-start", "2022-10-05T00:00:00Z")
    maildir = tmp_path / "data" / "maildir"
    try:
        deadline, before, calm = time.monotonic() + 60, -1, 0
        while calm < 5 or before < 20:  # until the invitations due now are all out
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")[-3000:]
            await asyncio.sleep(0.3)
            count = maildir_count(maildir)
            calm, before = (calm + 1, count) if count == before else (0, count)
        second = subprocess.run(  # noqa: ASYNC221 (the test waits for the command, as an operator would)
            [*PLENARY, "run", str(config), "--clock-start", "2022-10-05T00:00:00Z"],
            cwd=ROOT,
            env={**env, "PLENARY_HTTP_PORT": str(free_port())},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another Plenary process" in second.stderr
        assert f"pid {first.pid}" in second.stderr
        await asyncio.sleep(1.0)
        assert maildir_count(maildir) == before  # nothing was taken back from the first, nothing sent twice
        assert first.poll() is None  # the first goes on
    finally:
        stop(first, log)


@pytest.mark.postgres
async def test_two_replicas_on_postgresql_send_each_notice_once_and_serve_the_same_links(
    postgres_url: str, tmp_path: Path
) -> None:
    database_url = postgres_url  # replicas share PostgreSQL; SQLite serves one process
    config = tmp_path / "config"
    write_config(config)
    log = tmp_path / "service.log"
    with smtp_server() as smtp:
        mail = {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_TLS": "none"}
        ports = (free_port(), free_port())
        envs = [environment(tmp_path, database_url, port, **mail) for port in ports]
        replicas = [launch(config, env, log, "--clock-start", "2030-06-01T00:00:00Z") for env in envs]
        try:
            deadline = time.monotonic() + 120
            while len({r.recipients[0] for r in smtp.received}) < DELEGATES:
                assert time.monotonic() < deadline, f"{len(smtp.received)} received"
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything still to come would come now
            path = links(config, envs[0])["d007"].split("/calendar/", 1)[1]
            assert links(config, envs[1])["d007"].endswith(path)  # one secret for every process
            etags = set()
            for port in ports:
                async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/calendar/{path}") as r:
                    assert r.status == 200
                    etags.add(r.headers["ETag"])
            assert len(etags) == 1
        finally:
            for replica in replicas:
                stop(replica, log)
    per_delegate = Counter(r.recipients[0] for r in smtp.received)
    assert len(per_delegate) == DELEGATES
    assert max(per_delegate.values()) == 1, "a notice was sent by both replicas"
    text = log.read_text(encoding="utf-8")
    assert text.count("running crash:") == 2  # both replicas ran
