"""The running service reads the secretariat's mailbox (Debian's Dovecot on loopback), on SQLite and PostgreSQL:
a delegate presses Accept in their calendar and the secretariat sees the answer in /status beside the Telegram
ones, with its source."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from domain.records import RsvpAnswer, RsvpSource
from messages.conversation import Phrasebook
from tests.doubles.dovecot import dovecot_server, require_dovecot
from tests.doubles.smtp import SmtpServer
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.e2e.harness import start

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"
ADMIN = TgUser(100000001, "Secretariat", language_code="ru")


async def test_an_accept_in_the_calendar_is_an_answer_the_secretariat_sees(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeBotApi, tmp_path: Path
) -> None:
    require_dovecot()
    at = datetime(2022, 10, 12, 10, 0, tzinfo=UTC)
    async with dovecot_server(tmp_path / "imap") as server:
        url = f"imap://{server.user}@{server.host}:{server.port}/INBOX"
        h = await start(
            database_url,
            config_dir,
            smtp,
            telegram,
            tmp_path,
            at,
            1.0,
            imap_url=url,
            imap_password=server.password,
            imap_poll_seconds=5.0,
        )
        try:
            await h.settle()
            await server.append((SAMPLES / "outlook-accepted.eml").read_bytes())  # rus-deputy accepts in Outlook
            for _ in range(100):  # IDLE wakes the reader at once; give it ten seconds at most
                if await h.store.answers.get("icmec-xx", "rus-deputy") is not None:
                    break
                await asyncio.sleep(0.1)
            recorded = await h.store.answers.get("icmec-xx", "rus-deputy")
            assert recorded is not None
            assert (recorded.answer, recorded.source) == (RsvpAnswer.ATTENDING, RsvpSource.CALENDAR)
            telegram.push(telegram.command_update(ADMIN, "/status icmec-xx"))
            await telegram.wait_for(lambda: telegram.sent_to(ADMIN.id), within=10)
        finally:
            await h.service.stop()
        [(_, flags, _)] = await server.messages()
    say = Phrasebook().say
    status = telegram.sent_to(ADMIN.id)[-1].text or ""
    by = say("ru", "status.by.calendar", n="1")
    assert by in status
    assert "$PlenaryRead" in flags
