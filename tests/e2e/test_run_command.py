"""`plenary run` as an operator runs it: console and Maildir with no accounts, SIGHUP and --watch reloads."""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

XX = Path("sessions") / "2022-10-19-xx.yaml"


def kinds(maildir: Path, session: str = "icmec-xx") -> Counter[str]:
    out: Counter[str] = Counter()
    folder = maildir / "new"
    for path in folder.iterdir() if folder.exists() else ():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["X-Plenary-Session"] == session:
            out[str(msg["X-Plenary-Kind"])] += 1
    return out


def wait(predicate: Callable[[], bool], limit: float = 30.0) -> None:
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


def launch(tmp_path: Path, *extra: str) -> tuple[subprocess.Popen[str], Path, Path]:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TELEGRAM_", "PLENARY_"))}
    env["PLENARY_DATA_DIR"] = str(tmp_path / "data")
    env["PLENARY_HTTP_PORT"] = "0"
    command = [sys.executable, "-c", "from app.cli import main; main()", "run", str(config), *extra]
    # The console output goes to a file: a pipe nobody reads fills up and blocks the service's writes.
    log = (tmp_path / "console.log").open("w", encoding="utf-8")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    log.close()
    return process, config, tmp_path / "data" / "maildir"


def stop(process: subprocess.Popen[str], tmp_path: Path) -> str:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    out = (tmp_path / "console.log").read_text(encoding="utf-8")
    assert process.returncode == 0, out[-3000:]
    return out


@pytest.mark.parametrize("how", ["sighup", "watch"])
def test_run_without_accounts_then_reload(tmp_path: Path, how: str) -> None:
    extra = ("--clock-start", "2022-10-05T00:00:00Z", *(("--watch",) if how == "watch" else ()))
    process, config, maildir = launch(tmp_path, *extra)
    try:
        # 20 invited, all with an address: the 8 with Telegram get it in the console, and its calendar part by e-mail.
        wait(lambda: kinds(maildir)["invitation"] == 20)
        path = config / XX
        path.write_text(
            path.read_text(encoding="utf-8").replace("  start: 2022-10-19T14:00", "  start: 2022-10-19T15:00"),
            encoding="utf-8",
        )
        if how == "sighup":
            process.send_signal(signal.SIGHUP)
        wait(lambda: kinds(maildir)["update"] == 20)
    finally:
        out = stop(process, tmp_path)
    assert out.count("[telegram → ") >= 10  # the Telegram users' invitations and updates, in the console
    assert "Приглашение" in out
    assert kinds(maildir)["invitation"] == 20
    # The Date: header follows the service's clock (a simulated October 2022), not the machine's.
    dates = {
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)["Date"].datetime.date()
        for p in (maildir / "new").iterdir()
    }
    assert min(dates) >= date(2022, 10, 5)
    assert max(dates) <= date(2022, 10, 20)
    readers_see_their_language(maildir)


def readers_see_their_language(maildir: Path) -> None:
    """Each e-mail is in its reader's language, from the secretariat named in it (the example has five)."""
    invitations = []
    for path in (maildir / "new").iterdir():
        msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        if msg["X-Plenary-Kind"] == "invitation":
            invitations.append(msg)
    languages = {str(m["Content-Language"]) for m in invitations}
    assert languages >= {"ru", "en", "hy", "kk", "ky"}
    sender = {str(m["Content-Language"]): m["From"].addresses[0].display_name for m in invitations}
    assert sender["en"] == "ICMEC Secretariat"
    assert sender["ru"] == "Секретариат МКВЭС"
    [kyrgyz] = [
        m
        for m in invitations
        if m["X-Plenary-Session"] == "icmec-xx" and m["To"].addresses[0].addr_spec == "b.tokoev@kgz.example.org"
    ]
    assert kyrgyz["Content-Language"] == "ky"
    assert str(kyrgyz["Subject"]).startswith("Чакыруу: XX заседание МКВЭС ОДКБ")  # the frame Kyrgyz, the title Russian
    body = kyrgyz.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "Приглашаем" not in text
    assert "You are invited" not in text


def test_run_refuses_an_invalid_configuration(tmp_path: Path) -> None:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config)
    path = config / XX
    path.write_text(path.read_text(encoding="utf-8").replace("  format: hybrid", "  format: hybird"), encoding="utf-8")
    env = {**os.environ, "PLENARY_DATA_DIR": str(tmp_path / "data"), "PLENARY_HTTP_PORT": "0"}
    result = subprocess.run(
        [sys.executable, "-c", "from app.cli import main; main()", "run", str(config)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "2022-10-19-xx.yaml:9:11: session.format:" in result.stderr
    assert "not started" in result.stderr


async def test_run_refuses_a_rejected_telegram_token_without_printing_it(tmp_path: Path) -> None:
    import asyncio

    from tests.doubles.telegram_api import FakeTelegramApi

    secret = "555:SECRET-TOKEN-VALUE"
    async with FakeTelegramApi() as api:
        env = {**os.environ, "PLENARY_DATA_DIR": str(tmp_path / "data"), "PLENARY_HTTP_PORT": "0"}
        env |= {"TELEGRAM_BOT_TOKEN": secret, "TELEGRAM_API_URL": api.base_url}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from app.cli import main; main()",
            "run",
            str(EXAMPLES),
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 60)
    text = out.decode()
    assert process.returncode == 1, text
    assert "rejected TELEGRAM_BOT_TOKEN" in text
    assert "SECRET-TOKEN-VALUE" not in text
