"""Calendar replies (iMIP, RFC 6047): what a delegate's calendar sends back when they press Accept or Decline.

Every client shapes the message differently: Outlook puts a ``text/calendar; method=REPLY`` part in a
``multipart/alternative``, base64-encoded; Google adds an ``invite.ics`` attachment beside it; Apple Calendar sends
the calendar as an attachment of its own; Thunderbird puts it beside a plain-text part, quoted-printable, and
attaches ``invite.ics`` too (samples under ``tests/fixtures/imip/``). What counts is the calendar inside: a
``VCALENDAR`` with ``METHOD:REPLY`` whose ``VEVENT`` names the event (``UID``, ``SEQUENCE``) and one ``ATTENDEE``
with its ``PARTSTAT``. A part that is not such a calendar is passed over; the same reply found twice (the inline
part and the attachment) counts once.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

from icalendar import Calendar

CALENDAR_TYPES = ("text/calendar", "application/ics")
MAX_CALENDAR_BYTES = 256 * 1024
"""A reply is a few kilobytes: a bigger part is not read."""


@dataclass(frozen=True, slots=True)
class CalendarReply:
    """One attendee's answer to one event, as their calendar sent it."""

    uid: str
    sequence: int
    attendee: str
    """The attendee's address, lower case, without ``mailto:``."""
    partstat: str
    """``ACCEPTED``, ``DECLINED``, ``TENTATIVE`` (or another RFC 5545 value, upper case)."""
    sender: str
    """The address in the message's From header, lower case ("" when there is none)."""


def calendar_replies(message: Message) -> list[CalendarReply]:
    """The iMIP replies a message carries, once each, in the order they appear."""
    sender = parseaddr(str(message.get("From", "")))[1].lower()
    found: list[CalendarReply] = []
    for part in message.walk():
        if part.get_content_type() not in CALENDAR_TYPES or part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or len(payload) > MAX_CALENDAR_BYTES:
            continue
        for reply in _replies(payload, part.get_content_charset() or "utf-8", sender):
            if reply not in found:
                found.append(reply)
    return found


def _replies(payload: bytes, charset: str, sender: str) -> list[CalendarReply]:
    try:
        text = payload.decode(charset, errors="replace")
        calendars = Calendar.from_ical(text, multiple=True)
    except (ValueError, LookupError):  # not a calendar, or an unknown charset
        return []
    out: list[CalendarReply] = []
    for calendar in calendars:
        if str(calendar.get("METHOD", "")).upper() != "REPLY":
            continue
        for event in calendar.walk("VEVENT"):
            uid = str(event.get("UID", "")).strip()
            if not uid or event.get("RECURRENCE-ID") is not None:
                continue
            try:
                sequence = int(event.get("SEQUENCE", 0))
            except (TypeError, ValueError):
                sequence = 0
            attendees = event.get("ATTENDEE")
            for attendee in attendees if isinstance(attendees, list) else [attendees] if attendees else []:
                address = str(attendee).strip()
                if address.lower().startswith("mailto:"):
                    address = address[len("mailto:") :]
                partstat = str(getattr(attendee, "params", {}).get("PARTSTAT", "")).upper()
                if address and partstat:
                    out.append(CalendarReply(uid, sequence, address.lower(), partstat, sender))
    return out
