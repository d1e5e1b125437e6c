"""Reading calendar replies (iMIP ``METHOD:REPLY``) out of the messages each client sends (tests/fixtures/imip)."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

import pytest

from integrations.email.replies import CalendarReply, calendar_replies

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"


def read(name: str) -> email.message.Message:
    return email.message_from_bytes((SAMPLES / name).read_bytes(), policy=email.policy.default)


XX = "icmec-xx@icmec.plenary"


@pytest.mark.parametrize(
    ("sample", "sequence", "address", "partstat"),
    [
        ("outlook-accepted.eml", 0, "deputy@rus.example.org", "ACCEPTED"),
        ("google-declined.eml", 0, "head@kaz.example.org", "DECLINED"),
        ("apple-tentative.eml", 0, "head@arm.example.org", "TENTATIVE"),
        ("thunderbird-accepted.eml", 1, "t.asanov@kgz.example.org", "ACCEPTED"),
    ],
)
def test_each_clients_reply_is_read_once(sample: str, sequence: int, address: str, partstat: str) -> None:
    # Google and Thunderbird send the reply twice (inline and as invite.ics): it counts once.
    assert calendar_replies(read(sample)) == [CalendarReply(XX, sequence, address, partstat, address)]


def test_a_forwarded_invitations_reply_names_the_colleague_not_the_invitee() -> None:
    [reply] = calendar_replies(read("forwarded-accepted.eml"))
    assert (reply.attendee, reply.sender) == ("colleague@minprom.example.org", "colleague@minprom.example.org")


def test_mail_that_is_no_reply_gives_nothing() -> None:
    assert calendar_replies(read("not-a-reply.eml")) == []
    plain = email.message_from_string("From: a@b.org\nSubject: hi\n\nBEGIN:VCALENDAR\nMETHOD:REPLY\n")
    assert calendar_replies(plain) == []  # a calendar in a text/plain body is not a calendar part
    broken = email.message_from_string(
        "From: a@b.org\nContent-Type: text/calendar; method=REPLY\n\nBEGIN:VCALENDAR\nMETHOD:REPLY\nBEGIN:VEVENT\n"
    )
    assert calendar_replies(broken) == []  # cut short: not a calendar
