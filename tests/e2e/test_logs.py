"""`plenary run`'s logs as an operator collects them: no secret ever in them, in text or JSON; under JSON every
line is an object and every delivery line names its session, notice, delegate and replica.

The service runs the example on a simulated clock through a week of the XX meeting's notices (the invitations
late, so sent at once, then the agendas, reminders and join links), against the Bot API double and a real SMTP
server that wants a login, both told to fail now and then (so that retries, refusals and fallbacks are logged
too), with a mailbox that cannot be reached (its errors logged again and again), every secret setting set to a
value of its own, and on PostgreSQL a password in the database URL.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from domain.records import TelegramBinding
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.conftest import ROOT
from tests.doubles.smtp import free_port, smtp_server
from tests.doubles.telegram_api import Fault
from tests.doubles.telegram_bot_api import FakeBotApi

REPLICA = "replica-logs-test"
BOUND = {"kgz-asanov": 5001, "rus-head": 5002}
"""Delegates with a Telegram account: their notices go through the Bot API double."""
REFUSED = ("kgz-tokoev", "b.tokoev@kgz.example.org")
"""The SMTP server refuses this delegate's address for good: failed, with the reason."""
SMTP_USER = "plenary-mailer"
VIDEO_SECRETS = ("ICMEC_BBB_SECRET", "ICMEC_JITSI_SECRET", "ICMEC_JITSI_EVENTS_TOKEN", "ICMEC_XX_PASSCODE")
"""The example's ``${ENV}`` references: the video platforms' secrets and the XX meeting's passcode."""
KEY = re.compile(r"^[a-z0-9-]+:[a-z_]+:")
"""A delivery line begins with its notice's key, ``session:kind[:detail]:delegate``."""


def secret(prefix: str) -> str:
    """A value found nowhere else, with characters that URL-encoding changes."""
    return f"{prefix}-{secrets.token_hex(8)}/{secrets.token_hex(4)}+{secrets.token_hex(4)}!"


def forms(value: str) -> set[str]:
    """The value as it might leak: itself, URL-encoded, in base64."""
    out = {value, quote(value, safe=""), quote(value), quote_plus(value)}
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        out.add(encode(value.encode()).decode().rstrip("="))
    return out


def leaks(output: str, values: dict[str, str]) -> list[str]:
    """Which of the secrets appear, in any form, in ``output``."""
    return sorted(
        f"{name} ({form!r})" for name, value in values.items() for form in forms(value) if form and form in output
    )


async def bind(database_url: str) -> None:
    await upgrade(database_url)
    engine = create_engine(database_url)
    store = Store(engine)
    try:
        for delegate, chat in BOUND.items():
            await store.bindings.bind(
                TelegramBinding(delegate_id=delegate, telegram_user_id=chat, chat_id=chat, bound_at=datetime.now(UTC))
            )
    finally:
        await engine.dispose()


def with_password(database_url: str, password: str) -> str:
    """The PostgreSQL URL with a password (the test server trusts loopback: any password is let in)."""
    if not database_url.startswith("postgresql"):
        return database_url
    return database_url.replace("://postgres@", f"://postgres:{quote(password, safe='')}@", 1)


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_whole_run_logs_no_secret(database_url: str, config_dir: Path, tmp_path: Path, log_format: str) -> None:
    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
    smtp_password, mailbox_password, imap_password = secret("smtp"), secret("imap-url"), secret("imap")
    video = {name: secret(name.lower()) for name in VIDEO_SECRETS}
    values = {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_BOT_TOKEN's secret part": token.split(":", 1)[1],
        "SMTP_PASSWORD": smtp_password,
        "SMTP login (user:password, and base64 of it)": f"{SMTP_USER}:{smtp_password}",
        "SMTP login (AUTH PLAIN's, in base64)": f"\0{SMTP_USER}\0{smtp_password}",
        "PLENARY_SECRET_KEY": secrets.token_hex(32),
        "PLENARY_IMAP_URL's password": mailbox_password,
        "PLENARY_IMAP_PASSWORD": imap_password,
        **video,
    }
    url = database_url
    if database_url.startswith("postgresql"):
        values["PLENARY_DATABASE_URL's password"] = secret("pg")
        url = with_password(database_url, values["PLENARY_DATABASE_URL's password"])
    await bind(url)
    # The mailbox is where nothing listens: its errors are logged at every try.
    imap_url = f"imap://secretariat:{quote(mailbox_password, safe='')}@127.0.0.1:{free_port()}/INBOX"
    with smtp_server(login=(SMTP_USER, smtp_password)) as smtp:
        smtp.fail_at("content", "451 4.3.0 Try again later", times=3)  # retried
        smtp.refuse(REFUSED[1])  # failed for good
        async with FakeBotApi(token=token) as telegram:
            telegram.fail_next(2, Fault.SERVER_ERROR)  # retried
            telegram.block_chat(BOUND["rus-head"])  # refused for good: the e-mail goes instead
            env = {
                k: v for k, v in os.environ.items() if not k.startswith(("SMTP_", "TELEGRAM_", "PLENARY_", "ICMEC_"))
            }
            env |= {
                "PLENARY_DATA_DIR": str(tmp_path / "data"),
                "PLENARY_DATABASE_URL": url,
                "PLENARY_HTTP_PORT": "0",
                "PLENARY_WORKER_ID": REPLICA,
                "PLENARY_LOG_FORMAT": log_format,
                "PLENARY_SECRET_KEY": values["PLENARY_SECRET_KEY"],
                "PLENARY_IMAP_URL": imap_url,
                "PLENARY_IMAP_PASSWORD": imap_password,
                "PLENARY_IMAP_POLL_SECONDS": "5",
                "TELEGRAM_BOT_TOKEN": token,
                "TELEGRAM_API_URL": telegram.base_url,
                "SMTP_HOST": smtp.host,
                "SMTP_PORT": str(smtp.port),
                "SMTP_TLS": "none",
                "SMTP_USERNAME": SMTP_USER,
                "SMTP_PASSWORD": smtp_password,
                **video,
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from app.cli import main; main()",
                "run",
                str(config_dir),
                "--clock-start",
                "2022-10-12T10:00:00Z",
                "--clock-speed",
                "50000",
                "--until",
                "2022-10-19T12:00:00Z",
                cwd=ROOT,
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await asyncio.wait_for(process.communicate(), 180)
            telegram_sent = [m for m in telegram.sent if m.chat_id == BOUND["kgz-asanov"]]
        received = smtp.received
    stdout, stderr = out.decode(), err.decode()
    (tmp_path / "stdout.log").write_text(stdout, encoding="utf-8")  # for a look after a failure
    (tmp_path / "stderr.log").write_text(stderr, encoding="utf-8")
    assert process.returncode == 0, stderr[-3000:]
    assert received, "nothing reached the SMTP server: the login failed?"
    assert telegram_sent, "nothing reached the Bot API double"
    assert leaks(stdout + stderr, values) == []
    lines = stderr.splitlines()
    if log_format == "json":
        assert stdout == ""
        entries = [json.loads(line) for line in lines]  # every line is one object
        assert all({"timestamp", "level", "logger", "message"} <= entry.keys() for entry in entries)
        deliveries = [e for e in entries if e["logger"] == "scheduler.dispatcher" and KEY.match(e["message"])]
        for entry in deliveries:
            assert entry["replica"] == REPLICA, entry
            assert entry["notice"] in entry["message"], entry
            assert entry["notice"].startswith(f"{entry['session']}:"), entry
            assert f":{entry['delegate']}" in entry["notice"], entry  # a copy by e-mail adds ``/email``
        said = [e["message"] for e in deliveries]
        assert any("sent by email" in m for m in said)
        assert any("sent by telegram" in m for m in said)
        assert any("retrying in" in m for m in said)
        assert any("permanent failure" in m for m in said)
        assert any(m.endswith("not delivered: email: SMTP 550 at RCPT TO: 5.1.1 No such user") for m in said)
        assert {e["delegate"] for e in deliveries if "not delivered" in e["message"]} == {REFUSED[0]}
    else:
        sent = [line for line in lines if ": sent by email" in line]
        assert sent
        assert all(line.endswith(f"[replica={REPLICA}]") for line in sent)
        assert any("retrying in" in line for line in lines)
