"""The secretariat's mailbox read for calendar replies: the real aioimaplib client against Debian's Dovecot on
loopback, over the real calendar-reply use case, on SQLite and PostgreSQL. Each client's sample is recorded as its
invitee's answer; a forwarded invitation's reply is nobody's; handled messages are flagged, never moved or
deleted; other mail is left as it was, unread; new mail wakes the reader (IMAP IDLE)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.mailbox import mailbox_reader
from config.settings import Settings
from domain.deployment import Deployment
from domain.records import RsvpAnswer, RsvpSource
from integrations.email.mailbox import KEYWORD, MailboxAddress, MailboxError, MailboxReader
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.dovecot import DovecotServer, dovecot_server, require_dovecot
from tests.integration.bot_setup import bot_services

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"
NOW = datetime(2022, 10, 12, 11, 0, tzinfo=UTC)
REPLIES = ("outlook-accepted.eml", "google-declined.eml", "apple-tentative.eml", "thunderbird-accepted.eml")
PLAIN = b"From: colleague@icmec.example.org\r\nTo: secretariat@icmec.example.org\r\nSubject: lunch\r\n\r\nAt one?\r\n"


def reader_for(server: DovecotServer, services: object, **settings: object) -> MailboxReader:
    url = f"imap://{server.user}@{server.host}:{server.port}/INBOX"
    built = mailbox_reader(Settings(imap_url=url, imap_password=server.password, **settings), services)  # type: ignore[arg-type]
    assert built is not None
    return built


async def test_replies_become_answers_and_nothing_else_is_touched(
    store: Store, deployment: Deployment, tmp_path: Path
) -> None:
    require_dovecot()
    services = bot_services(store, deployment, FakeClock(NOW))
    async with dovecot_server(tmp_path / "imap") as server:
        await server.append(PLAIN)
        for name in (*REPLIES, "forwarded-accepted.eml", "not-a-reply.eml"):
            await server.append((SAMPLES / name).read_bytes())
        reader = reader_for(server, services)
        try:
            assert await reader.check() == 5  # four invitees' replies and the forwarded one
            assert await reader.check() == 0  # nothing new: nothing handed on twice
        finally:
            await reader.close()
        held = await server.messages()
    answers = {d: (r.answer, r.source) for (s, d), r in (await store.answers.all()).items() if s == "icmec-xx"}
    assert answers == {
        "rus-deputy": (RsvpAnswer.ATTENDING, RsvpSource.CALENDAR),
        "kaz-head": (RsvpAnswer.NOT_ATTENDING, RsvpSource.CALENDAR),
        "arm-head": (RsvpAnswer.TENTATIVE, RsvpSource.CALENDAR),
        "kgz-asanov": (RsvpAnswer.ATTENDING, RsvpSource.CALENDAR),
    }
    assert len(held) == 7  # nothing moved, nothing deleted
    flagged = [uid for uid, flags, _ in held if KEYWORD in flags]
    assert flagged == [2, 3, 4, 5, 6]  # the replies (the forwarded one too: it was read, and refused)
    untouched = [flags for uid, flags, _ in held if uid in (1, 7)]
    assert all("\\Seen" not in flags and KEYWORD not in flags for flags in untouched)


async def test_new_mail_wakes_the_reader(store: Store, deployment: Deployment, tmp_path: Path) -> None:
    require_dovecot()
    services = bot_services(store, deployment, FakeClock(NOW))
    async with dovecot_server(tmp_path / "imap") as server:
        reader = reader_for(server, services)
        try:
            assert await reader.check() == 0
            waiting = asyncio.create_task(reader.wait(60))
            await asyncio.sleep(0.5)
            await server.append((SAMPLES / "google-declined.eml").read_bytes())
            await asyncio.wait_for(waiting, 15)  # IDLE: long before the minute
            assert await reader.check() == 1
        finally:
            await reader.close()
    assert (await store.answers.get("icmec-xx", "kaz-head")) is not None


async def test_a_wrong_password_is_reported_without_it(tmp_path: Path) -> None:
    require_dovecot()
    async with dovecot_server(tmp_path / "imap") as server:
        address = MailboxAddress(server.host, server.port, server.user, "not-the-password-123", "INBOX", tls=False)
        reader = MailboxReader(address, lambda reply: asyncio.sleep(0))
        with pytest.raises(MailboxError) as refused:
            await reader.check()
    assert "refused the login" in str(refused.value)
    assert "not-the-password-123" not in str(refused.value)


def test_the_mailbox_url_is_checked_and_its_password_kept_out_of_messages() -> None:
    address = MailboxAddress.parse("imaps://secretariat%40icmec.example.org:s3cr%2Ft@mail.example.org/Replies")
    assert (address.user, address.password, address.host, address.port, address.mailbox, address.tls) == (
        "secretariat@icmec.example.org",
        "s3cr/t",
        "mail.example.org",
        993,
        "Replies",
        True,
    )
    assert "s3cr" not in address.describe()
    assert MailboxAddress.parse("imap://u@h", "pw").port == 143
    for bad in ("https://u:p@h/INBOX", "imaps://h/INBOX", "imaps://u@h/INBOX"):
        with pytest.raises(ValueError, match="PLENARY_IMAP"):
            MailboxAddress.parse(bad)
