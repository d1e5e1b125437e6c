"""Building the e-mail: text and HTML alternatives with the calendar invitation (RFC 6047 layout)."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from domain.delivery import Delivery

# 7-bit transfer encodings throughout: every relay accepts them, whatever it says about 8BITMIME.
SMTP_POLICY = policy.SMTP.clone(cte_type="7bit")


def _header(value: str) -> str:
    """A header value on one line: CR, LF and other controls can never reach a header."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


def message_id(key: str, domain: str) -> str:
    """A Message-ID derived from the notice's key: a resent notice carries the same one."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{_header(domain)}>"


def build_email(
    delivery: Delivery, sender: str, sender_name: str, now: datetime, reply_to: str | None = None
) -> EmailMessage:
    """The message for one delivery: multipart/mixed → multipart/alternative (plain, HTML, text/calendar)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = _header(delivery.message.subject)
    msg["From"] = formataddr((_header(sender_name), sender))
    msg["To"] = formataddr((_header(delivery.name), delivery.address))
    if reply_to:
        msg["Reply-To"] = reply_to
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = message_id(delivery.key, sender.rsplit("@", 1)[-1])
    msg["Content-Language"] = delivery.message.language
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in delivery.headers.items():
        msg[name] = _header(value)
    msg.set_content(delivery.message.text)
    msg.add_alternative(delivery.message.html, subtype="html")
    if delivery.calendar is not None:
        method = delivery.calendar.method
        msg.add_alternative(delivery.calendar.data.decode("utf-8"), subtype="calendar", params={"method": method})
    msg.make_mixed()
    return msg
