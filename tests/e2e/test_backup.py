"""A backup as docs/deployment.md tells an operator to make it: ``pg_dump`` of the running service's PostgreSQL
database, ``pg_restore`` into a fresh one, and the service run on the restored database — which knows what was
sent (nothing goes twice) and goes on with what was still to come."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _drop_postgres_database, _postgres_database
from tests.doubles.smtp import smtp_server
from tests.e2e.test_crash import wait_for
from tests.e2e.test_failover import configure, kinds
from tests.e2e.test_processes import environment, free_port, launch, stop

pytestmark = pytest.mark.postgres

DELEGATES = 20
CLOCK_START = "2030-06-09T10:59:40Z"
"""20 seconds before the reminders fall due: the backup is made before them, the restored service sends them."""


def postgres_tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/lib/postgresql/15/bin")
    if found is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is not installed (Debian's postgresql-client)")
        pytest.skip(f"{name} is not installed (Debian's postgresql-client)")
    return found


def tool(*command: str) -> None:
    """Run a PostgreSQL client program; it must succeed."""
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def libpq(url: str) -> list[str]:
    """The connection options of a SQLAlchemy URL, for the PostgreSQL client programs."""
    parsed = make_url(url)
    return ["-h", parsed.host or "127.0.0.1", "-p", str(parsed.port or 5432), "-U", parsed.username or "postgres"]


async def test_a_pg_dump_restored_into_a_fresh_database_runs_on_without_sending_anything_twice(
    postgres_url: str, tmp_path: Path
) -> None:
    dump, restore = postgres_tool("pg_dump"), postgres_tool("pg_restore")
    config = tmp_path / "config"
    configure(config, delegates=DELEGATES)
    everyone = {f"d{i:03d}@example.org" for i in range(DELEGATES)}
    backup = tmp_path / "plenary.dump"
    fresh = await _postgres_database()
    assert fresh is not None
    restored_url, restored_name = fresh
    try:
        with smtp_server() as smtp:
            mail = {"SMTP_HOST": smtp.host, "SMTP_PORT": str(smtp.port), "SMTP_TLS": "none"}
            log = tmp_path / "before.log"
            env = environment(tmp_path, postgres_url, free_port(), **mail)
            first = launch(config, env, log, "--clock-start", CLOCK_START)
            try:
                await wait_for(smtp, lambda: set(kinds(smtp, "invitation")) == everyone, 60, log)
                await asyncio.sleep(1.0)  # recorded as sent
                name = make_url(postgres_url).database or ""
                await asyncio.to_thread(tool, dump, *libpq(postgres_url), "--format=custom", f"--file={backup}", name)
            finally:
                stop(first, log)
            assert not kinds(smtp, "reminder")  # the backup was made before them

            await asyncio.to_thread(
                tool, restore, *libpq(restored_url), "--no-owner", f"--dbname={restored_name}", str(backup)
            )
            log = tmp_path / "after.log"
            env = environment(tmp_path / "restored", restored_url, free_port(), **mail)
            second = launch(config, env, log, "--clock-start", CLOCK_START)
            try:
                started = time.monotonic()
                await wait_for(smtp, lambda: set(kinds(smtp, "reminder")) == everyone, 90, log)
                await asyncio.sleep(1.0)
            finally:
                stop(second, log)
            assert time.monotonic() - started < 90
    finally:
        await _drop_postgres_database(restored_name)
    invitations: Counter[str] = kinds(smtp, "invitation")
    assert max(invitations.values()) == 1, "the restored service sent an invitation again"
    assert max(kinds(smtp, "reminder").values()) == 1
