"""The running service's bot, on SQLite and PostgreSQL: a delegate follows the link from their invitation
e-mail, is bound, answers and reads the agenda with a tap each, and their next notice reaches them in
Telegram instead of by e-mail."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from domain.records import RsvpAnswer, RsvpSource
from messages.conversation import Phrasebook
from tests.doubles.smtp import SmtpServer
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.e2e.harness import start

TOKOEV = TgUser(6001, "Бакыт", username="tokoev", language_code="ru")


async def test_a_delegate_binds_from_the_invitation_and_gets_the_next_notice_in_telegram(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeBotApi, tmp_path: Path
) -> None:
    # 12 October, 10:00 UTC: the XX invitation goes at once by e-mail; the agenda falls due at 11:00 UTC, a
    # simulated hour (six real seconds) later: time enough to bind.
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 12, 10, 0, tzinfo=UTC), 600)
    try:
        await h.settle()
        invitation = next(r for r in h.emails("invitation") if r.recipients == ("b.tokoev@kgz.example.org",))
        text = invitation.message.get_body(("plain",)).get_content()
        link = re.search(r"https://t\.me/plenary_test_bot\?start=(b[A-Za-z0-9_-]{32})", text)
        assert link is not None, text
        telegram.push(telegram.command_update(TOKOEV, f"/start {link.group(1)}"))
        await telegram.wait_for(lambda: len(telegram.sent_to(TOKOEV.id)) >= 2, within=10)
        welcome, card = telegram.sent_to(TOKOEV.id)
        assert "Бакыт Токоев" in (welcome.text or "")  # in Kyrgyz, the delegate's language, with their name
        binding = await h.store.bindings.get("kgz-tokoev")
        assert binding is not None
        assert binding.chat_id == TOKOEV.id
        # Their next session's card: one tap answers, one tap brings the agenda. Not a word typed.
        say = Phrasebook().say
        press = card.button(say("ky", "answer.in_person"))["callback_data"]
        telegram.push(telegram.callback_update(TOKOEV, card, press))
        await telegram.wait_for(lambda: card.history, within=10)
        ticked = [b["text"] for b in telegram.message(TOKOEV.id, card.message_id).buttons if b["text"].startswith("✓")]
        assert ticked == ["✓ " + say("ky", "answer.in_person")]
        mine = [r for (_, d), r in (await h.store.answers.all()).items() if d == "kgz-tokoev"]
        assert [(r.answer, r.source) for r in mine] == [(RsvpAnswer.IN_PERSON, RsvpSource.TELEGRAM)]
        telegram.push(telegram.callback_update(TOKOEV, card, card.button(say("ky", "button.agenda"))["callback_data"]))
        await telegram.wait_for(lambda: len(telegram.sent_to(TOKOEV.id)) >= 3, within=10)
        await h.until(datetime(2022, 10, 12, 11, 30, tzinfo=UTC))
        await h.settle()
    finally:
        await h.service.stop()
    # The XX agenda, due after the binding, came in Telegram (in Kyrgyz), and not by e-mail.
    asked, *notices = [m.text or "" for m in telegram.sent_to(TOKOEV.id)[2:]]
    assert asked.startswith("Күн тартиби")  # the agenda the button asked for
    assert [n for n in notices if n.startswith("Күн тартиби: XX заседание МКВЭС ОДКБ")]
    by_email = [r.message["X-Plenary-Session"] for r in h.emails("agenda") if "b.tokoev@" in r.recipients[0]]
    assert "icmec-xx" not in by_email
