"""The e-mail and Telegram channels against real protocol peers on loopback."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import icalendar
import pytest

from domain.delivery import CalendarPart, Delivery, DeliveryError, Message, Outcome
from integrations.email.channel import MaildirChannel, SmtpChannel
from integrations.telegram.channel import TelegramChannel
from integrations.telegram.limiter import PacingRateLimiter
from tests.doubles.channels import FakeClock
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_api import DEFAULT_TOKEN, FakeTelegramApi, Fault

CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Plenary//Plenary//EN\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:icmec-xx@icmec.plenary\r\nDTSTAMP:20221001T000000Z\r\n"
    "DTSTART:20221019T110000Z\r\nDTEND:20221019T140000Z\r\nSEQUENCE:0\r\n"
    "SUMMARY:XX заседание МКВЭС ОДКБ\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def delivery(address: str, key: str = "icmec-xx:invitation:kgz-asanov", calendar: bool = True) -> Delivery:
    return Delivery(
        key=key,
        kind="invitation",
        address=address,
        name="Талант Асанов",
        message=Message(
            subject="Приглашение: XX заседание МКВЭС ОДКБ, 19 октября 2022 г.",
            text="Уважаемый участник,\nприглашаем на XX заседание.",
            html="<html><body><p>Приглашаем на <b>XX заседание</b>.</p></body></html>",
            telegram_html="<b>XX заседание</b> &lt;МКВЭС&gt;",
            language="ru",
        ),
        calendar=CalendarPart("REQUEST", CALENDAR.encode()) if calendar else None,
    )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def channel_for(server: SmtpServer) -> SmtpChannel:
    return SmtpChannel(server.host, server.port, "secretariat@icmec.example.org", "Секретариат МКВЭС", tls="none")


async def test_email_layout_and_calendar_part_as_outlook_expects(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    await channel.send(delivery("t.asanov@kgz.example.org"))
    await channel.close()
    [received] = smtp.received
    msg = received.message
    assert received.recipients == ("t.asanov@kgz.example.org",)
    assert msg["Subject"] == "Приглашение: XX заседание МКВЭС ОДКБ, 19 октября 2022 г."
    assert "Талант Асанов" in str(msg["To"])
    assert msg.get_content_type() == "multipart/mixed"
    [alternative] = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    parts = list(alternative.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html", "text/calendar"]
    assert isinstance(parts[0], EmailMessage)
    assert "приглашаем" in parts[0].get_content()
    calendar_part = parts[2]
    assert calendar_part.get_param("method") == "REQUEST"
    body = calendar_part.get_content()
    parsed = icalendar.Calendar.from_ical(body)
    assert parsed["METHOD"] == calendar_part.get_param("method")
    assert str(parsed.walk("VEVENT")[0]["SUMMARY"]) == "XX заседание МКВЭС ОДКБ"
    # Every line of the raw message is 7-bit: no relay can mangle it.
    assert all(byte < 128 for byte in received.raw)


async def test_one_connection_serves_a_batch(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    for i in range(20):
        await channel.send(delivery(f"d{i}@example.org", key=f"k{i}", calendar=False))
    await channel.close()
    assert len(smtp.received) == 20
    assert smtp.handler.connections == 1


async def test_smtp_4xx_is_transient_and_5xx_permanent(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    smtp.fail_for(60, "451 4.3.0 Mail server temporarily unavailable")
    with pytest.raises(DeliveryError) as transient:
        await channel.send(delivery("a@example.org"))
    assert transient.value.outcome is Outcome.TRANSIENT
    assert "451" in transient.value.reason
    smtp.fail_for(0)
    smtp.refuse("gone@example.org")
    with pytest.raises(DeliveryError) as permanent:
        await channel.send(delivery("gone@example.org"))
    assert permanent.value.outcome is Outcome.PERMANENT
    await channel.send(delivery("a@example.org"))
    await channel.close()
    assert [r.recipients for r in smtp.received] == [("a@example.org",)]


async def test_header_injection_never_reaches_a_header(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    bad = delivery("a@example.org")
    bad = Delivery(
        key=bad.key,
        kind=bad.kind,
        address=bad.address,
        name="Evil\r\nBcc: victim@example.org",
        message=Message("Subject\r\nBcc: victim@example.org", "t", "<p>t</p>", "t", "en"),
    )
    await channel.send(bad)
    await channel.close()
    [received] = smtp.received
    assert received.recipients == ("a@example.org",)
    assert received.message["Bcc"] is None
    assert "\n" not in str(received.message["Subject"])


async def test_maildir_keeps_full_messages(tmp_path: Path) -> None:
    folder = tmp_path / "maildir"
    channel = MaildirChannel(folder, "secretariat@icmec.example.org", "Секретариат")
    await channel.start()
    await channel.send(delivery("t.asanov@kgz.example.org"))
    files = list((folder / "new").iterdir())
    assert len(files) == 1
    msg = email.message_from_bytes(files[0].read_bytes(), policy=email.policy.default)
    assert msg["To"].addresses[0].addr_spec == "t.asanov@kgz.example.org"
    assert any(p.get_content_type() == "text/calendar" for p in msg.walk())


async def test_maildir_creates_its_folder_and_the_directories_above_it(tmp_path: Path) -> None:
    folder = tmp_path / "no-data-dir-yet" / "plenary" / "maildir"
    channel = MaildirChannel(folder, "secretariat@icmec.example.org", "Секретариат")
    await channel.start()
    await channel.send(delivery("t.asanov@kgz.example.org"))
    assert len(list((folder / "new").iterdir())) == 1
    # A folder that exists but is empty (made by hand, say) gets its tmp/new/cur too.
    (tmp_path / "empty").mkdir()
    bare = MaildirChannel(tmp_path / "empty", "secretariat@icmec.example.org", "Секретариат")
    await bare.send(delivery("t.asanov@kgz.example.org"))
    assert len(list((tmp_path / "empty" / "new").iterdir())) == 1


async def test_the_date_header_follows_the_service_clock(smtp: SmtpServer, tmp_path: Path) -> None:
    clock = FakeClock(datetime(2031, 5, 4, 10, 15, 30, tzinfo=UTC))
    channel = SmtpChannel(smtp.host, smtp.port, "s@icmec.example.org", "S", tls="none", clock=clock)
    await channel.send(delivery("a@example.org"))
    clock.advance(3600)
    await channel.send(delivery("b@example.org", key="k2"))
    await channel.close()
    assert [r.message["Date"].datetime for r in smtp.received] == [
        datetime(2031, 5, 4, 10, 15, 30, tzinfo=UTC),
        datetime(2031, 5, 4, 11, 15, 30, tzinfo=UTC),
    ]
    maildir = MaildirChannel(tmp_path / "maildir", "s@icmec.example.org", "S", clock=clock)
    await maildir.send(delivery("a@example.org"))
    [file] = (tmp_path / "maildir" / "new").iterdir()
    parsed = email.message_from_bytes(file.read_bytes(), policy=email.policy.default)
    assert parsed["Date"].datetime == datetime(2031, 5, 4, 11, 15, 30, tzinfo=UTC)


async def test_telegram_message_reaches_the_bot_api() -> None:
    async with FakeTelegramApi() as api:
        channel = TelegramChannel(DEFAULT_TOKEN, api.base_url)
        await channel.start()
        try:
            await channel.send(delivery("5000001"))
        finally:
            await channel.close()
        [sent] = api.messages
        assert sent.chat_id == 5000001
        assert sent.parse_mode == "HTML"
        assert sent.text == "<b>XX заседание</b> &lt;МКВЭС&gt;"


async def test_telegram_blocked_and_unknown_chats_are_permanent() -> None:
    async with FakeTelegramApi() as api:
        channel = TelegramChannel(DEFAULT_TOKEN, api.base_url)
        await channel.start()
        api.block_chat(1)
        api.unknown_chat(2)
        try:
            for chat in ("1", "2"):
                with pytest.raises(DeliveryError) as error:
                    await channel.send(delivery(chat))
                assert error.value.outcome is Outcome.PERMANENT
            api.fail_next(1, Fault.BAD_GATEWAY)
            with pytest.raises(DeliveryError) as gateway:
                await channel.send(delivery("3"))
            assert gateway.value.outcome is Outcome.TRANSIENT
        finally:
            await channel.close()


async def test_a_429_holds_every_request_until_retry_after_then_resends() -> None:
    async with FakeTelegramApi() as api:
        channel = TelegramChannel(DEFAULT_TOKEN, api.base_url, limiter=PacingRateLimiter())
        await channel.start()
        api.fail_next(1, Fault.RETRY_AFTER, retry_after=1)
        started = time.monotonic()
        try:
            await asyncio.gather(*(channel.send(delivery(str(100 + i), key=f"k{i}")) for i in range(5)))
        finally:
            await channel.close()
        assert len(api.messages) == 5
        assert api.sent_during_penalty == 0
        assert time.monotonic() - started >= 1.0


async def test_a_replica_keeps_to_its_share_of_the_bot_s_budget() -> None:
    async with FakeTelegramApi() as api:
        channel = TelegramChannel(DEFAULT_TOKEN, api.base_url, limiter=PacingRateLimiter())
        channel.share(3)  # three replicas send: about ten a second each, thirty together
        await channel.start()
        try:
            await asyncio.gather(*(channel.send(delivery(str(100 + i), key=f"k{i}")) for i in range(21)))
        finally:
            await channel.close()
        times = sorted(m.received_at for m in api.messages)
        assert len(times) == 21
        assert times[-1] - times[0] >= 1.9  # 21 at ten a second: two seconds, not the 0.7 of the whole budget
        assert all(b - a >= 1.0 for a, b in zip(times, times[10:], strict=False))  # never eleven in a second


async def test_a_rejected_token_is_reported_without_the_token() -> None:
    from domain.delivery import ChannelUnavailable

    async with FakeTelegramApi() as api:
        secret = "987654321:THIS-IS-A-SECRET-TOKEN"
        channel = TelegramChannel(secret, api.base_url)
        with pytest.raises(ChannelUnavailable) as error:
            await channel.start()
        assert "TELEGRAM_BOT_TOKEN" in str(error.value)
        assert "SECRET" not in str(error.value)
        assert error.value.__cause__ is None
        assert error.value.__suppress_context__
