"""The e-mail as a mail program reads it: built by the standard library and parsed back with it."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import UTC, datetime, timedelta, timezone
from email.header import decode_header, make_header
from email.message import EmailMessage
from email.utils import parseaddr

import icalendar
import pytest

from domain.delivery import CalendarPart, Delivery, Message
from integrations.email.mime import AddressError, draft, email_bytes

NOW = datetime(2022, 10, 1, 9, 30, tzinfo=UTC)
SENDER, SENDER_NAME = "secretariat@icmec.example.org", "Секретариат МКВЭС ОДКБ"


def calendar(method: str) -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Plenary//Plenary//EN\r\n"
        f"METHOD:{method}\r\nBEGIN:VEVENT\r\nUID:icmec-xx@icmec.plenary\r\nDTSTAMP:20221001T000000Z\r\n"
        "DTSTART:20221019T110000Z\r\nDTEND:20221019T140000Z\r\nSEQUENCE:1\r\n"
        "SUMMARY:XX заседание МКВЭС ОДКБ\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def delivery(
    subject: str = "Приглашение: XX заседание МКВЭС ОДКБ, 19 октября 2022 г.",
    *,
    name: str = "Талант Асанов",
    address: str = "t.asanov@kgz.example.org",
    method: str | None = "REQUEST",
    key: str = "icmec-xx:invitation:kgz-asanov",
    headers: dict[str, str] | None = None,
) -> Delivery:
    return Delivery(
        key=key,
        kind="invitation",
        address=address,
        name=name,
        message=Message(subject, "Уважаемый участник,\nприглашаем.", "<p>Приглашаем.</p>", "t", "ru"),
        calendar=CalendarPart(method, calendar(method)) if method else None,
        headers=headers or {},
    )


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def lines(raw: bytes) -> list[bytes]:
    assert raw.endswith(b"\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b""), "every line ends with CRLF"
    return raw.split(b"\r\n")


@pytest.mark.parametrize("method", ["REQUEST", "CANCEL"])
def test_layout_is_mixed_then_alternative_with_the_calendar_method_of_the_body(method: str) -> None:
    msg = parse(email_bytes(delivery(method=method), SENDER, SENDER_NAME, NOW))
    assert msg.get_content_type() == "multipart/mixed"
    [alternative] = msg.iter_parts()
    assert alternative.get_content_type() == "multipart/alternative"
    plain, html, invitation = alternative.iter_parts()
    assert [p.get_content_type() for p in (plain, html, invitation)] == ["text/plain", "text/html", "text/calendar"]
    assert isinstance(plain, EmailMessage)
    assert isinstance(invitation, EmailMessage)
    assert "приглашаем" in plain.get_content()
    assert invitation.get_param("method") == method
    assert icalendar.Calendar.from_ical(invitation.get_content())["METHOD"] == method


def test_the_mime_method_follows_the_body_even_when_told_otherwise() -> None:
    mismatched = dataclasses.replace(delivery(method="REQUEST"), calendar=CalendarPart("REQUEST", calendar("CANCEL")))
    [alternative] = parse(email_bytes(mismatched, SENDER, SENDER_NAME, NOW)).iter_parts()
    assert list(alternative.iter_parts())[2].get_param("method") == "CANCEL"


def test_a_long_ascii_subject_is_folded_at_78_octets() -> None:
    subject = "Reminder: the twentieth session of the Intergovernmental Commission " * 3
    raw = email_bytes(delivery(subject.strip(), name="Talant Asanov"), SENDER, "Secretariat", NOW)
    assert all(len(line) <= 78 for line in lines(raw))
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.count(b"\r\n ") >= 2  # folded, not one long line
    assert parse(raw)["Subject"] == subject.strip()


def test_a_long_cyrillic_subject_is_encoded_and_folded() -> None:
    subject = "Изменение: " + "очень длинная тема письма " * 12
    raw = email_bytes(delivery(subject), SENDER, SENDER_NAME, NOW)
    assert all(len(line) <= 78 for line in lines(raw))
    assert all(byte < 128 for byte in raw)
    assert parse(raw)["Subject"] == subject.strip()


def test_names_are_rfc_2047_encoded_and_read_back() -> None:
    raw = email_bytes(delivery(name="Асанов, Талант"), SENDER, SENDER_NAME, NOW, reply_to="rsvp@icmec.example.org")
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    assert "=?utf-8?" in head
    msg = parse(raw)
    [to] = msg["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Асанов, Талант", "t.asanov@kgz.example.org")
    assert msg["From"].addresses[0].display_name == SENDER_NAME
    assert msg["Reply-To"].addresses[0].addr_spec == "rsvp@icmec.example.org"


def test_the_message_id_comes_from_the_key_and_the_date_from_the_clock() -> None:
    first = parse(email_bytes(delivery(), SENDER, SENDER_NAME, NOW))
    later = parse(email_bytes(delivery(), SENDER, SENDER_NAME, NOW + timedelta(days=3)))
    other = parse(email_bytes(delivery(key="icmec-xx:invitation:arm-petrosyan"), SENDER, SENDER_NAME, NOW))
    assert first["Message-ID"] == later["Message-ID"] != other["Message-ID"]
    assert first["Message-ID"].endswith("@icmec.example.org>")
    assert first["Date"].datetime == NOW
    assert first["Date"].endswith("+0000")
    moscow = parse(email_bytes(delivery(), SENDER, SENDER_NAME, NOW.astimezone(timezone(timedelta(hours=3)))))
    assert moscow["Date"].datetime == NOW


def test_cr_and_lf_never_reach_a_header() -> None:
    evil = delivery(
        "Subject\r\nBcc: victim@example.org",
        name="Evil\r\nBcc: victim@example.org",
        headers={"X-Plenary-Kind": "invitation\r\nBcc: victim@example.org", "X-Bad\r\nBcc": "x"},
    )
    raw = email_bytes(evil, SENDER, SENDER_NAME, NOW)
    lines(raw)
    msg = parse(raw)
    assert msg["Bcc"] is None
    assert msg["Subject"] == "Subject Bcc: victim@example.org"
    assert msg["X-Plenary-Kind"] == "invitation Bcc: victim@example.org"
    assert [a.addr_spec for a in msg["To"].addresses] == ["t.asanov@kgz.example.org"]


def test_a_non_ascii_local_part_makes_an_smtputf8_message() -> None:
    built = draft(delivery(address="асанов@kgz.example.org"), SENDER, SENDER_NAME, NOW).outgoing()
    assert built.smtputf8
    assert built.recipient == "асанов@kgz.example.org"
    msg = email.message_from_string(built.data.decode("utf-8"), policy=email.policy.default)
    assert msg["To"].addresses[0].username == "асанов"
    assert msg["To"].addresses[0].display_name == "Талант Асанов"


def test_a_non_ascii_domain_is_written_in_idna() -> None:
    built = draft(delivery(address="asanov@пример.рф"), SENDER, SENDER_NAME, NOW).outgoing()
    assert not built.smtputf8
    assert built.recipient == "asanov@xn--e1afmkfd.xn--p1ai"
    assert all(byte < 128 for byte in built.data)
    assert parse(built.data)["To"].addresses[0].domain == "xn--e1afmkfd.xn--p1ai"


@pytest.mark.parametrize("address", ["", "asanov", "asanov@", "@kgz.example.org", "a b@kgz.example.org", "a@b@c"])
def test_an_unusable_address_is_refused_with_a_reason(address: str) -> None:
    with pytest.raises(AddressError, match="address"):
        email_bytes(delivery(address=address), SENDER, SENDER_NAME, NOW)


def test_the_message_is_what_policy_smtp_itself_generates() -> None:
    # The channel's policy remembers folded headers across a fan-out; the bytes must not differ by a bit.
    for i in range(3):
        built = draft(delivery(name=f"Делегат {i}", key=f"k{i}"), SENDER, SENDER_NAME, NOW)
        assert built.outgoing().data == built.message.as_bytes(policy=email.policy.SMTP)


@pytest.mark.parametrize(
    "name",
    [
        "Талант Асанов",
        'Asanov, T. "Talant" (KGZ) \\ <deputy>',
        "Чрезвычайный и Полномочный Посол Республики Казахстан в Российской Федерации Иванов Иван Иванович",
        "Ambassador Extraordinary and Plenipotentiary of the Kyrgyz Republic to the Russian Federation T. Asanov",
        "",
    ],
)
def test_the_recipient_reads_back_as_written_and_its_lines_are_folded(name: str) -> None:
    raw = email_bytes(delivery(name=name), SENDER, SENDER_NAME, NOW)
    assert all(len(line) <= 78 for line in lines(raw))
    assert all(byte < 128 for byte in raw)
    [to] = parse(raw)["To"].addresses
    assert to.addr_spec == "t.asanov@kgz.example.org"
    # RFC 2047 6.2: the space between two encoded words is not part of the name; the stdlib's parser
    # keeps it (it reads "Полномоч ный"), a mail program's decoder, like email.header's, does not.
    value = email.message_from_bytes(raw, policy=email.policy.compat32)["To"]
    phrase = value.rpartition("<")[0].strip()
    written = str(make_header(decode_header(phrase))) if "=?" in phrase else parseaddr(value)[0]
    assert written == name
