"""What ``plenary plan`` prints, as a secretariat reads it: on a terminal, piped, as JSON, and after an edit."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import EXAMPLES, ROOT
from tests.e2e.test_cli import PLENARY, plenary

NOW = "2022-10-01T00:00:00Z"
NOTICE_FIELDS = {
    "key",
    "kind",
    "status",
    "due",
    "local",
    "timezone",
    "session",
    "delegate",
    "state",
    "agency",
    "role",
    "language",
    "channels",
    "detail",
}
CALENDAR_KINDS = {"invitation", "update", "cancellation"}


def on_terminal(*args: str, env: dict[str, str]) -> str:
    """Run ``plenary`` with its output on a pseudo-terminal, as in a secretariat's shell; return what it showed."""
    environ = {**os.environ, "PLENARY_DATA_DIR": str(Path("/nonexistent-plenary-data")), "TERM": "xterm", **env}
    for name in ("FORCE_COLOR", "PLENARY_DATABASE_URL", *(() if "NO_COLOR" in env else ("NO_COLOR",))):
        environ.pop(name, None)
    leader, follower = pty.openpty()
    process = subprocess.Popen([*PLENARY, *args], stdout=follower, stderr=subprocess.DEVNULL, env=environ, cwd=ROOT)
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0
    return shown.decode()


def test_plan_text_is_styled_on_a_terminal_and_plain_when_piped_or_with_no_color() -> None:
    args = ("plan", "config/examples/", "--now", NOW, "--session", "icmec-xx")
    styled = on_terminal(*args, env={})
    assert "\x1b[1mWednesday, October 19, 2022" in styled  # day headers in bold on a terminal
    piped = plenary(*args)
    assert piped.returncode == 0, piped.stderr
    assert "\x1b" not in piped.stdout
    assert "Wednesday, October 19, 2022" in piped.stdout.splitlines()
    without_colour = on_terminal(*args, env={"NO_COLOR": "1"})
    assert "\x1b" not in without_colour
    assert without_colour.replace("\r\n", "\n") == piped.stdout  # the same words, only unstyled


def test_plan_text_keeps_each_notice_on_one_line_when_piped_narrow() -> None:
    result = plenary("plan", "config/examples/", "--now", NOW, "--session", "icmec-xx", env={"COLUMNS": "40"})
    line = next(x for x in result.stdout.splitlines() if "start" in x and "kgz-asanov" in x)
    assert line.strip().startswith("10:50")
    assert line.rstrip().endswith("telegram, email")


def test_plan_json_has_the_documented_fields() -> None:
    result = plenary("plan", "config/examples/", "--now", NOW, "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert set(doc) == {"format", "commission", "now", "counts", "notices"}
    assert doc["format"] == "plenary.plan/1"
    assert doc["commission"] == "icmec"
    assert doc["now"] == NOW
    assert doc["counts"]["notices"] == len(doc["notices"]) > 0
    assert sum(doc["counts"]["by_kind"].values()) == len(doc["notices"])
    for notice in doc["notices"]:
        extra = {"sequence"} if notice["kind"] in CALENDAR_KINDS else set()
        assert set(notice) == NOTICE_FIELDS | extra, notice["key"]
    invitation = next(n for n in doc["notices"] if n["key"] == "icmec-xx:invitation:kgz-asanov")
    assert invitation["sequence"] == 0  # nothing announced yet: the first SEQUENCE
    assert invitation["channels"] == ["telegram", "email"]


async def _deliver_invitations(config: Path, data: Path) -> int:
    """Run the service's timeline on the configuration and record every queued invitation as sent by e-mail."""
    from config.loader import load
    from scheduler.service import Timeline
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store
    from tests.doubles.channels import FakeClock

    url = f"sqlite+aiosqlite:///{data / 'plenary.db'}"
    await upgrade(url)
    engine = create_engine(url)
    try:
        store = Store(engine)
        clock = FakeClock(datetime(2022, 10, 1, tzinfo=UTC))
        deployment = load([str(config)], {}).deployment
        assert deployment is not None
        await Timeline(store.outbox, store.announcements, clock, lambda: None).apply(deployment)
        claimed = await store.outbox.claim_due(clock.now(), "test", 60, 10_000)
        invitations = [item for item in claimed if item.kind == "invitation"]
        return await store.outbox.mark_sent_many(invitations, "email", clock.now())
    finally:
        await engine.dispose()


def test_plan_after_an_edit_shows_what_each_update_will_say(tmp_path: Path) -> None:
    config, data = tmp_path / "config", tmp_path / "data"
    shutil.copytree(EXAMPLES, config)
    data.mkdir()
    sent = asyncio.run(_deliver_invitations(config, data))
    assert sent >= 20
    session_file = config / "sessions" / "2022-10-19-xx.yaml"
    text = session_file.read_text()
    assert "start: 2022-10-19T14:00" in text
    session_file.write_text(text.replace("start: 2022-10-19T14:00", "start: 2022-10-19T15:00"))
    env = {"PLENARY_DATA_DIR": str(data)}

    doc = json.loads(plenary("plan", str(config), "--now", NOW, "--json", env=env).stdout)
    updates = [n for n in doc["notices"] if n["kind"] == "update"]
    assert {n["session"] for n in updates} == {"icmec-xx"}
    assert len(updates) == 20  # every delegate who was sent the invitation
    for update in updates:
        assert update["changes"] == [{"field": "start", "old": "2022-10-19T14:00", "new": "2022-10-19T15:00"}]
        assert update["sequence"] == 1  # one more than the invitation they hold
    assert not any("changes" in n for n in doc["notices"] if n["kind"] != "update")

    shown = plenary("plan", str(config), "--now", NOW, "--session", "icmec-xx", env=env)
    assert shown.returncode == 0, shown.stderr
    told = [line for line in shown.stdout.splitlines() if line.strip().startswith("start:")]
    assert told == ["    start: Wed 19 Oct 2022 14:00 Europe/Moscow → Wed 19 Oct 2022 15:00 Europe/Moscow"]
    lines = shown.stdout.splitlines()
    last_update = max(i for i, line in enumerate(lines) if line.startswith("  ") and " update " in line)
    assert lines[last_update + 1] == told[0]  # under the session's update lines, once
