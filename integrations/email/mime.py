"""Building the e-mail: text and HTML alternatives with the calendar invitation (RFC 6047 layout)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

from domain.delivery import Delivery

# Every part is 7-bit (quoted-printable text, base64 calendar): no relay can mangle it, whatever it says
# about 8BITMIME. The compat32 MIME classes build and flatten several times faster than EmailMessage.
_TEXT = Charset("utf-8")
_TEXT.body_encoding = QP
_CALENDAR = Charset("utf-8")
_CALENDAR.body_encoding = BASE64


def _header(value: str) -> str:
    """A header value on one line: CR, LF and other controls can never reach a header."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


def _encoded(value: str, name: str) -> str | Header:
    """A header value, RFC 2047-encoded (and folded) when it is not plain ASCII."""
    value = _header(value)
    if value.isascii():
        return value
    return Header(value, "utf-8", header_name=name)


def message_id(key: str, domain: str) -> str:
    """A Message-ID derived from the notice's key: a resent notice carries the same one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{_header(domain)}>"


def _part(subtype: str, text: str, charset: Charset, method: str | None = None) -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    if method is not None:
        part.set_param("method", method)
    part.set_payload(text, charset)
    return part


def build_email(
    delivery: Delivery, sender: str, sender_name: str, now: datetime, reply_to: str | None = None
) -> Message:
    """The message for one delivery: multipart/mixed → multipart/alternative (plain, HTML, text/calendar)."""
    alternative = MIMEMultipart("alternative")
    alternative.attach(_part("plain", delivery.message.text, _TEXT))
    alternative.attach(_part("html", delivery.message.html, _TEXT))
    if delivery.calendar is not None:
        # The MIME method= parameter must equal the body's METHOD (Outlook rejects a mismatch).
        calendar = delivery.calendar.data.decode("utf-8")
        alternative.attach(_part("calendar", calendar, _CALENDAR, method=delivery.calendar.method))
    msg = MIMEMultipart("mixed")
    msg.attach(alternative)
    msg["Subject"] = _encoded(delivery.message.subject, "Subject")  # type: ignore[assignment]
    msg["From"] = formataddr((_header(sender_name), sender), charset="utf-8")
    msg["To"] = formataddr((_header(delivery.name), delivery.address), charset="utf-8")
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(delivery.key, sender.rsplit("@", 1)[-1])
    msg["Content-Language"] = _header(delivery.message.language)
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in delivery.headers.items():
        msg[name] = _encoded(value, name)  # type: ignore[assignment]  # compat32 takes a Header
    return msg


def email_bytes(delivery: Delivery, sender: str, sender_name: str, now: datetime, reply_to: str | None = None) -> bytes:
    """The message for one delivery, ready for the wire."""
    return build_email(delivery, sender, sender_name, now, reply_to).as_bytes()
