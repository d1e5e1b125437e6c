"""The ``plenary`` command as a secretariat runs it: in a subprocess, on real files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from storage.migrate import head_revision
from tests.conftest import EXAMPLES, ROOT

PLENARY = [sys.executable, "-c", "from app.cli import main; main()"]


def plenary(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # By default a data folder with no database, whatever the developer's own ./.plenary holds.
    empty = Path(tempfile.gettempdir()) / "plenary-cli-tests-no-database"
    environ = {**os.environ, "PLENARY_DATA_DIR": str(empty), **(env or {})}
    environ.pop("PLENARY_DATABASE_URL", None)
    return subprocess.run([*PLENARY, *args], capture_output=True, text=True, env=environ, cwd=cwd, timeout=120)


def test_every_subcommand_has_help() -> None:
    for command in (["--help"], ["validate", "--help"], ["plan", "--help"], ["init", "--help"], ["db", "--help"]):
        result = plenary(*command)
        assert result.returncode == 0, result.stderr
        assert "Usage:" in result.stdout
    assert "--now" in plenary("plan", "--help").stdout


def test_plan_json_lists_the_xx_meeting_for_every_invited_delegate() -> None:
    result = plenary("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", "--json")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["format"] == "plenary.plan/1"
    assert doc["now"] == "2022-10-01T00:00:00Z"
    xx = [n for n in doc["notices"] if n["session"] == "icmec-xx"]
    kinds = Counter(n["kind"] for n in xx)
    delegates = {n["delegate"] for n in xx}
    assert len(delegates) == 20
    assert kinds["invitation"] == 20
    assert kinds["agenda"] == 20
    assert kinds["reminder"] == 40
    assert kinds["start"] == 20
    asanov = {n["kind"]: n for n in xx if n["delegate"] == "kgz-asanov" and n["kind"] in ("agenda", "start")}
    # 14:00 Moscow on 19 October; the agenda 7 days before; the join link 10 minutes before, 16:50 in Bishkek.
    assert asanov["agenda"]["due"] == "2022-10-12T11:00:00Z"
    assert asanov["start"]["local"] == "2022-10-19T16:50:00+06:00"
    assert asanov["start"]["timezone"] == "Asia/Bishkek"
    assert asanov["start"]["channels"] == ["telegram", "email"]
    assert doc["counts"]["notices"] == len(doc["notices"])


def test_plan_output_is_identical_byte_for_byte_across_runs() -> None:
    args = ("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", "--json")
    first = plenary(*args, env={"PYTHONHASHSEED": "1"})
    second = plenary(*args, env={"PYTHONHASHSEED": "2"})
    assert first.returncode == 0
    assert first.stdout == second.stdout
    text1 = plenary("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", env={"PYTHONHASHSEED": "3"})
    text2 = plenary("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", env={"PYTHONHASHSEED": "4"})
    assert text1.stdout == text2.stdout


def test_plan_text_is_grouped_by_day_with_local_times() -> None:
    result = plenary("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", "--session", "icmec-xx")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "Wednesday, October 19, 2022" in lines
    line = next(x for x in lines if "start" in x and "kgz-asanov" in x)
    assert line.strip().startswith("10:50")
    assert "16:50 Asia/Bishkek" in " ".join(line.split())
    assert "\x1b[" not in result.stdout  # no colour codes when not on a terminal


def test_plan_refuses_a_naive_now_and_unknown_filters() -> None:
    naive = plenary("plan", "config/examples/", "--now", "2022-10-01T00:00:00")
    assert naive.returncode == 2
    assert "no offset" in naive.stderr
    unknown = plenary("plan", "config/examples/", "--session", "icmec-xxi")
    assert unknown.returncode == 2
    assert "unknown session 'icmec-xxi'" in unknown.stderr


def test_init_writes_a_starter_that_validates_and_plans_at_once(tmp_path: Path) -> None:
    target = tmp_path / "my-commission"
    result = plenary("init", str(target))
    assert result.returncode == 0, result.stderr
    assert (target / "commission.yaml").exists()
    assert "#" in (target / "commission.yaml").read_text(encoding="utf-8")
    validated = plenary("validate", str(target))
    assert validated.returncode == 0, validated.stdout + validated.stderr
    assert validated.stdout.startswith("OK:")
    planned = plenary("plan", str(target), "--json")
    doc = json.loads(planned.stdout)
    statuses = Counter(n["status"] for n in doc["notices"])
    # Sessions lie in the coming weeks: something is due now, the rest is scheduled, nothing is stale.
    assert statuses["due"] > 0
    assert statuses["scheduled"] > 0
    assert statuses["stale"] == 0
    again = plenary("init", str(target))
    assert again.returncode == 1
    assert "--force" in again.stderr


def test_db_upgrade_creates_the_sqlite_database_in_the_data_dir(tmp_path: Path) -> None:
    env = {"PLENARY_DATA_DIR": str(tmp_path / "data")}
    env.pop("PLENARY_DATABASE_URL", None)
    os.environ.pop("PLENARY_DATABASE_URL", None)
    assert "empty database" in plenary("db", "current", env=env).stdout
    result = plenary("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "data" / "plenary.db").exists()
    assert plenary("db", "current", env=env).stdout.strip() == head_revision()


def test_validate_the_example() -> None:
    result = plenary("validate", str(EXAMPLES))
    assert result.returncode == 0, result.stdout
    assert result.stdout.count("\n") == 1
    assert result.stdout.startswith("OK: icmec: 6 states")


def test_plan_leaves_out_what_the_service_already_delivered(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from domain.notices import Notice, NoticeKind, NoticeStatus
    from domain.outbox import OutboxItem
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    key = "icmec-xx:invitation:kgz-asanov"
    data = tmp_path / "data"

    async def deliver() -> None:
        url = f"sqlite+aiosqlite:///{data / 'plenary.db'}"
        await upgrade(url)
        engine = create_engine(url)
        store = Store(engine)
        now = datetime(2022, 10, 1, tzinfo=UTC)
        notice = Notice(key, NoticeKind.INVITATION, "icmec-xx", "kgz-asanov", now, ("email",), NoticeStatus.DUE)
        await store.outbox.enqueue([OutboxItem(notice)], now)
        [item] = await store.outbox.claim_due(now, "w", 60, 10)
        await store.outbox.mark_sent(item, "email", now)
        await engine.dispose()

    env = {"PLENARY_DATA_DIR": str(data)}
    args = ("plan", "config/examples/", "--now", "2022-10-01T00:00:00Z", "--json")
    before = json.loads(plenary(*args, env=env).stdout)
    assert key in {n["key"] for n in before["notices"]}
    assert not (data / "plenary.db").exists()  # planning never creates a database
    asyncio.run(deliver())
    after = json.loads(plenary(*args, env=env).stdout)
    assert key not in {n["key"] for n in after["notices"]}
    assert after["counts"]["notices"] == before["counts"]["notices"] - 1
    everything = json.loads(plenary(*args, "--no-ledger", env=env).stdout)
    assert key in {n["key"] for n in everything["notices"]}


def test_links_lists_every_delegate_and_rotation_changes_one(tmp_path: Path) -> None:
    env = {"PLENARY_DATA_DIR": str(tmp_path / "data"), "PUBLIC_URL": "https://plenary.example.org"}
    first = json.loads(plenary("links", "config/examples/", "--json", env=env).stdout)
    delegates = [row for row in first if row["scope"] == "delegate"]
    assert len(delegates) == 26
    asanov = next(row for row in delegates if row["id"] == "kgz-asanov")
    assert asanov["state"] == "KGZ"
    assert asanov["agency"] == "industry"
    assert asanov["role"] == "head"
    assert asanov["https"].startswith("https://plenary.example.org/calendar/")
    assert asanov["webcal"] == "webcal://" + asanov["https"].removeprefix("https://")
    assert {row["id"] for row in first if row["scope"] == "delegation"} == {"ARM", "BLR", "KAZ", "KGZ", "RUS", "TJK"}
    assert len({row["https"] for row in first}) == len(first)
    again = json.loads(plenary("links", "config/examples/", "--json", env=env).stdout)
    assert again == first  # the same links every time, until rotated
    rotated = plenary("links", "config/examples/", "--json", "--rotate", "kgz-asanov", env=env)
    assert rotated.returncode == 0, rotated.stderr
    after = {row["id"]: row["https"] for row in json.loads(rotated.stdout)}
    before = {row["id"]: row["https"] for row in first}
    assert [key for key in before if before[key] != after[key]] == ["kgz-asanov"]
    csv_out = plenary("links", "config/examples/", "--csv", env=env).stdout.splitlines()
    assert csv_out[0] == "scope,id,state,agency,role,https,webcal,telegram"
    assert len(csv_out) == 1 + len(first)
    unknown = plenary("links", "config/examples/", "--rotate", "nobody", env=env)
    assert unknown.returncode == 2


def test_links_give_each_delegate_a_telegram_link_and_its_qr_code(tmp_path: Path) -> None:
    import segno

    env = {"PLENARY_DATA_DIR": str(tmp_path / "data"), "TELEGRAM_BOT_USERNAME": "icmec_bot"}
    done = plenary("links", "config/examples/", "--json", "--qr", str(tmp_path / "qr"), env=env)
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    links = {row["id"]: row["telegram"] for row in rows if row["scope"] == "delegate"}
    assert all(row["telegram"] is None for row in rows if row["scope"] == "delegation")
    pattern = re.compile(r"https://t\.me/icmec_bot\?start=b[A-Za-z0-9_-]{32}")  # 192 bits in a start parameter
    assert all(pattern.fullmatch(link) for link in links.values()), links
    assert len(set(links.values())) == len(links) == 26
    # One PNG per delegate, encoding exactly their link (segno writes the same image for the same text).
    pngs = sorted((tmp_path / "qr").iterdir())
    assert [p.stem for p in pngs] == sorted(links)
    asanov = tmp_path / "qr" / "kgz-asanov.png"
    assert asanov.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    expected = tmp_path / "expected.png"
    segno.make(links["kgz-asanov"], error="m").save(str(expected), scale=8, border=4)
    assert asanov.read_bytes() == expected.read_bytes()
    # Rotating a delegate revokes their Telegram link with their feed link; nobody else's changes.
    rotated = plenary("links", "config/examples/", "--json", "--rotate", "kgz-asanov", env=env)
    after = {row["id"]: row["telegram"] for row in json.loads(rotated.stdout) if row["scope"] == "delegate"}
    assert [d for d in links if links[d] != after[d]] == ["kgz-asanov"]
    without = plenary("links", "config/examples/", "--json", env={"PLENARY_DATA_DIR": str(tmp_path / "data")})
    assert all(row["telegram"] is None for row in json.loads(without.stdout))
    assert "set TELEGRAM_BOT_USERNAME" in without.stderr


def test_outbox_lists_failed_deliveries_with_their_reason_and_retries_one(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from domain.notices import Notice, NoticeKind, NoticeStatus
    from domain.outbox import OutboxItem
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    data = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data / 'plenary.db'}"
    failed, pending = "icmec-xx:invitation:kgz-asanov", "icmec-xx:invitation:rus-head"

    async def prepare() -> None:
        await upgrade(url)
        store = Store(create_engine(url))
        try:
            now = datetime(2022, 10, 1, tzinfo=UTC)
            for key, delegate in ((failed, "kgz-asanov"), (pending, "rus-head")):
                notice = Notice(key, NoticeKind.INVITATION, "icmec-xx", delegate, now, ("email",), NoticeStatus.DUE)
                await store.outbox.enqueue([OutboxItem(notice)], now)
            item = next(i for i in await store.outbox.claim_due(now, "w", 60, 10) if i.key == failed)
            await store.outbox.mark_failed(item, "email: recipient refused: 550 5.1.1 no such user", now)
            await store.outbox.release("w", now)
        finally:  # its connections closed while their event loop runs, not collected after it closed
            await store.engine.dispose()

    async def status(key: str) -> str:
        store = Store(create_engine(url))
        try:
            entry = await store.outbox.entry(key)
        finally:
            await store.engine.dispose()
        assert entry is not None
        return entry.status.value

    asyncio.run(prepare())
    env = {"PLENARY_DATA_DIR": str(data)}
    listed = json.loads(plenary("outbox", "--json", env=env).stdout)
    assert {row["key"]: row["status"] for row in listed} == {failed: "failed", pending: "pending"}
    only_failed = json.loads(plenary("outbox", "--failed", "--json", env=env).stdout)
    assert [row["key"] for row in only_failed] == [failed]
    assert only_failed[0]["reason"] == "email: recipient refused: 550 5.1.1 no such user"
    table = plenary("outbox", "--failed", env={**env, "COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    assert "550 5.1.1 no such user" in table.stdout
    assert "kgz-asanov" in table.stdout
    refused = plenary("outbox", "retry", pending, env=env)
    assert refused.returncode == 1
    assert f"{pending} is not a failed delivery" in refused.stderr
    retried = plenary("outbox", "retry", failed, env=env)
    assert retried.returncode == 0, retried.stderr
    assert asyncio.run(status(failed)) == "pending"
    assert json.loads(plenary("outbox", "--failed", "--json", env=env).stdout) == []


def test_checkin_code_shows_the_code_the_bot_accepts_and_its_qr_code(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    import segno

    from app.clock import SystemClock
    from app.secrets import server_secret
    from config.settings import Settings
    from domain import checkin
    from storage.engine import create_engine
    from storage.repositories import Store

    env = {"PLENARY_DATA_DIR": str(tmp_path / "data"), "TELEGRAM_BOT_USERNAME": "icmec_bot"}
    done = plenary("checkin-code", "icmec-xx", "config/examples/", "--qr", str(tmp_path / "hall.png"), env=env)
    assert done.returncode == 0, done.stderr
    code, _, rest = done.stdout.strip().partition("  ")
    assert re.fullmatch(r"\d{8}", code)
    link = f"https://t.me/icmec_bot?start=c{code}"
    assert rest.endswith(link)
    expected = tmp_path / "expected.png"
    segno.make(link, error="m").save(str(expected), scale=10, border=4)
    assert (tmp_path / "hall.png").read_bytes() == expected.read_bytes()

    # The code is the one the service checks: derived from the server's secret kept in the same database.
    settings = Settings(data_dir=tmp_path / "data")

    async def secret() -> bytes:
        store = Store(create_engine(settings.resolved_database_url()))
        try:
            return await server_secret(settings, store, SystemClock())
        finally:
            await store.engine.dispose()

    found, session = checkin.check(asyncio.run(secret()), code, ["icmec-wg-2022-10", "icmec-xx"], datetime.now(UTC))
    assert (found, session) == (checkin.CodeCheck.VALID, "icmec-xx")
    video = plenary("checkin-code", "icmec-xviii", "config/examples/", env=env)
    assert video.returncode != 0
    assert "not held at a venue" in video.stderr


def test_answers_lists_each_invited_delegates_latest_answer_with_its_source(tmp_path: Path) -> None:
    import asyncio
    from datetime import UTC, datetime

    from domain.records import Rsvp, RsvpAnswer, RsvpSource
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    data = tmp_path / "data"
    url = f"sqlite+aiosqlite:///{data / 'plenary.db'}"
    at = datetime(2022, 10, 12, 9, 0, tzinfo=UTC)

    async def answered() -> None:
        data.mkdir()
        await upgrade(url)
        store = Store(create_engine(url))
        given = [
            ("kgz-asanov", RsvpAnswer.REMOTE, RsvpSource.TELEGRAM, 0),
            ("kgz-asanov", RsvpAnswer.IN_PERSON, RsvpSource.WEB, 5),  # the latest wins
            ("rus-head", RsvpAnswer.NOT_ATTENDING, RsvpSource.SECRETARIAT, 1),
        ]
        for delegate, answer, source, minutes in given:
            when = at.replace(minute=minutes)
            await store.answers.record(
                Rsvp(session_id="icmec-xx", delegate_id=delegate, answer=answer, answered_at=when, source=source)
            )
        await store.engine.dispose()

    asyncio.run(answered())
    env = {"PLENARY_DATA_DIR": str(data), "PLENARY_DATABASE_URL": url}
    listed = plenary("answers", "icmec-xx", "config/examples/", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    rows = {row["delegate"]: row for row in json.loads(listed.stdout)}
    assert len(rows) == 20  # everyone invited to XX, answered or not
    assert (rows["kgz-asanov"]["answer"], rows["kgz-asanov"]["source"]) == ("in_person", "web")
    assert rows["kgz-asanov"]["answered_at"] == "2022-10-12T09:05:00+00:00"
    assert (rows["rus-head"]["answer"], rows["rus-head"]["source"]) == ("not_attending", "secretariat")
    assert rows["kgz-tokoev"]["answer"] is None
    text = plenary("answers", "icmec-xx", "config/examples/", env=env).stdout.splitlines()
    assert text[-1] == "20 invited: in_person 1, no answer 18, not_attending 1; by secretariat 1, web 1"
    assert any(line.startswith("KGZ industry kgz-asanov") and "in_person" in line and "web" in line for line in text)
    unknown = plenary("answers", "no-such-session", "config/examples/", env=env)
    assert unknown.returncode == 2
