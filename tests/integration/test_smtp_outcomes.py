"""Where an SMTP transaction stops decides what the dispatcher is told: not sent, refused for good, or unknown.

Each case runs the real ``SmtpChannel`` against aiosmtpd on loopback, failing at one step (RFC 5321), and
checks both the outcome and what the server ended up with.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.delivery import Delivery, DeliveryError, Message, Outcome
from integrations.email.channel import SmtpChannel
from tests.doubles.smtp import DROP, Fault, SmtpServer, Stall, free_port, smtp_server

SENDER = "secretariat@icmec.example.org"


def delivery(address: str = "t.asanov@kgz.example.org", key: str = "icmec-xx:reminder:kgz-asanov") -> Delivery:
    return Delivery(
        key=key,
        kind="reminder",
        address=address,
        name="Талант Асанов",
        message=Message("Напоминание: XX заседание", "Напоминаем о заседании.", "<p>Напоминаем.</p>", "t", "ru"),
    )


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


def channel_for(server: SmtpServer, username: str | None = None, password: str | None = None) -> SmtpChannel:
    return SmtpChannel(
        server.host, server.port, SENDER, "Секретариат", tls="none", timeout=1.0, username=username, password=password
    )


async def failure(channel: SmtpChannel, message: Delivery | None = None) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(message or delivery())
    return caught.value


async def test_a_refused_connection_is_not_sent() -> None:
    channel = SmtpChannel("127.0.0.1", free_port(), SENDER, "S", tls="none", timeout=2)
    error = await failure(channel)
    assert error.outcome is Outcome.TRANSIENT
    assert "not sent" in error.reason


@pytest.mark.parametrize(
    ("greeting", "outcome"),
    [("421 4.3.2 Service not available", Outcome.TRANSIENT), ("554 5.7.1 No SMTP service here", Outcome.PERMANENT)],
)
async def test_a_refusing_greeting_sends_nothing(smtp: SmtpServer, greeting: str, outcome: Outcome) -> None:
    smtp.fail_at("greeting", greeting)
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is outcome
    assert greeting[:3] in error.reason
    assert smtp.received == []
    assert smtp.commands == []
    await channel.send(delivery())  # the next attempt connects afresh
    await channel.close()
    assert len(smtp.received) == 1


@pytest.mark.parametrize(
    ("step", "fault", "outcome"),
    [
        ("MAIL", "451 4.3.0 Try again later", Outcome.TRANSIENT),
        ("MAIL", "550 5.7.1 Sender rejected", Outcome.PERMANENT),
        ("RCPT", "450 4.2.1 Mailbox busy", Outcome.TRANSIENT),
        ("RCPT", "550 5.1.1 No such user", Outcome.PERMANENT),
        ("DATA", "451 4.3.0 Not now", Outcome.TRANSIENT),
        ("DATA", "554 5.5.0 No valid recipients", Outcome.PERMANENT),
        ("content", "452 4.3.1 Insufficient storage", Outcome.TRANSIENT),
        ("content", "554 5.6.0 Message refused", Outcome.PERMANENT),
    ],
)
async def test_a_refusal_at_each_step_is_transient_for_4xx_and_permanent_for_5xx(
    smtp: SmtpServer, step: str, fault: Fault, outcome: Outcome
) -> None:
    smtp.fail_at(step, fault)
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is outcome
    assert str(fault)[:3] in error.reason
    assert smtp.received == []
    # The envelope is reset and the same connection carries the next message.
    await channel.send(delivery("other@kgz.example.org", key="k2"))
    await channel.close()
    assert [r.recipients for r in smtp.received] == [("other@kgz.example.org",)]
    assert smtp.handler.connections == 1
    assert "RSET" in smtp.commands


async def test_the_content_is_never_sent_when_data_is_refused(smtp: SmtpServer) -> None:
    smtp.fail_at("DATA", "451 4.3.0 Not now")
    channel = channel_for(smtp)
    await failure(channel)
    await channel.close()
    assert smtp.received == []
    assert smtp.commands[:4] == ["EHLO", "MAIL", "RCPT", "DATA"]


@pytest.mark.parametrize("step", ["MAIL", "RCPT", "DATA"])
async def test_a_421_closes_the_connection_and_the_next_send_reconnects(smtp: SmtpServer, step: str) -> None:
    smtp.fail_at(step, "421 4.3.2 Closing the channel")
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is Outcome.TRANSIENT
    await channel.send(delivery())
    await channel.close()
    assert len(smtp.received) == 1
    assert smtp.handler.connections == 2


@pytest.mark.parametrize("step", ["EHLO", "MAIL", "RCPT", "DATA"])
async def test_a_connection_dropped_before_the_content_is_not_sent(smtp: SmtpServer, step: str) -> None:
    smtp.fail_at(step, DROP)
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is Outcome.TRANSIENT
    assert "not sent" in error.reason
    assert smtp.received == []
    await channel.send(delivery())
    await channel.close()
    assert len(smtp.received) == 1


async def test_a_stall_before_the_content_is_not_sent(smtp: SmtpServer) -> None:
    smtp.fail_at("MAIL", Stall(3.0))
    channel = channel_for(smtp)
    error = await failure(channel)
    await channel.close()
    assert error.outcome is Outcome.TRANSIENT
    assert smtp.received == []


async def test_a_connection_dropped_after_the_content_is_unknown(smtp: SmtpServer) -> None:
    smtp.fail_at("content", DROP)
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is Outcome.UNKNOWN
    # The server had the message: it may well be delivered.
    [received] = smtp.received
    assert received.message["Subject"] == "Напоминание: XX заседание"
    await channel.send(delivery("other@kgz.example.org", key="k2"))
    await channel.close()
    assert len(smtp.received) == 2


async def test_no_reply_after_the_content_within_the_timeout_is_unknown(smtp: SmtpServer) -> None:
    smtp.fail_at("content", Stall(3.0))
    channel = channel_for(smtp)
    error = await failure(channel)
    assert error.outcome is Outcome.UNKNOWN
    assert "no reply after the content" in error.reason
    assert len(smtp.received) == 1
    # The connection was abandoned: the next message goes over a new one.
    await channel.send(delivery("other@kgz.example.org", key="k2"))
    await channel.close()
    assert len(smtp.received) == 2
    assert smtp.handler.connections == 2


async def test_starttls_refused_sends_nothing(smtp: SmtpServer) -> None:
    smtp.advertise("STARTTLS")
    smtp.fail_at("STARTTLS", "454 4.7.0 TLS not available due to temporary reason")
    channel = SmtpChannel(smtp.host, smtp.port, SENDER, "S", tls="starttls", timeout=1.0)
    error = await failure(channel)
    await channel.close()
    assert error.outcome is Outcome.TRANSIENT
    assert "454" in error.reason
    assert smtp.received == []
    assert "MAIL" not in smtp.commands


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        ("454 4.7.0 Temporary authentication failure", Outcome.TRANSIENT),
        ("535 5.7.8 Bad credentials", Outcome.PERMANENT),
    ],
)
async def test_a_refused_login_sends_nothing(smtp: SmtpServer, reply: str, outcome: Outcome) -> None:
    smtp.advertise("AUTH PLAIN LOGIN")
    smtp.fail_at("AUTH", reply, times=2)  # the client tries PLAIN, then LOGIN
    channel = channel_for(smtp, username="secretariat", password="wrong")
    error = await failure(channel)
    await channel.close()
    assert error.outcome is outcome
    assert reply[:3] in error.reason
    assert "MAIL" not in smtp.commands
    assert smtp.received == []


async def test_a_non_ascii_local_part_goes_by_smtputf8_when_the_server_offers_it(smtp: SmtpServer) -> None:
    channel = channel_for(smtp)
    await channel.send(delivery("асанов@kgz.example.org"))
    await channel.close()
    [received] = smtp.received
    assert received.recipients == ("асанов@kgz.example.org",)
    assert "SMTPUTF8" in received.mail_options
    assert received.message["To"].addresses[0].username == "асанов"


async def test_a_non_ascii_local_part_is_permanent_when_the_server_lacks_smtputf8() -> None:
    with smtp_server(smtputf8=False) as smtp:
        channel = channel_for(smtp)
        error = await failure(channel, delivery("асанов@kgz.example.org"))
        # An ASCII address still goes through on the same connection.
        await channel.send(delivery())
        await channel.close()
        assert error.outcome is Outcome.PERMANENT
        assert error.reason == "the address has a non-ASCII local part and the server does not offer SMTPUTF8"
        assert smtp.commands.count("MAIL") == 1
        assert [r.recipients for r in smtp.received] == [("t.asanov@kgz.example.org",)]


async def test_a_non_ascii_domain_is_sent_in_idna_without_smtputf8() -> None:
    with smtp_server(smtputf8=False) as smtp:
        channel = channel_for(smtp)
        await channel.send(delivery("asanov@пример.рф"))
        await channel.close()
        [received] = smtp.received
        assert received.recipients == ("asanov@xn--e1afmkfd.xn--p1ai",)
        assert received.message["To"].addresses[0].domain == "xn--e1afmkfd.xn--p1ai"


@pytest.mark.parametrize("address", ["not an address", "asanov@", "a b@kgz.example.org", "<x@y.org>"])
async def test_an_unusable_address_is_permanent_and_nothing_is_sent(smtp: SmtpServer, address: str) -> None:
    channel = channel_for(smtp)
    error = await failure(channel, delivery(address))
    await channel.close()
    assert error.outcome is Outcome.PERMANENT
    assert "address" in error.reason
    assert smtp.commands == []
