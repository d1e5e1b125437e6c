"""What a notice becomes on its way out: a rendered message, a delivery to one address, its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Change:
    """One thing that changed in a session, as the delegate was told it and as it is now."""

    field: str
    """``start``, ``end``, ``venue``, ``format``, ``video``, ``agenda``, ``status``, ``title``."""
    old: str
    new: str


@dataclass(frozen=True, slots=True)
class Message:
    """A notice rendered for one delegate, in their language and time zone, for every channel."""

    subject: str
    text: str
    """Plain text (e-mail text part, console)."""
    html: str
    """A complete HTML document for the e-mail HTML part."""
    telegram_html: str
    """Telegram HTML parse mode: only Telegram's tags, everything else escaped, at most 4,096 characters."""
    language: str


@dataclass(frozen=True, slots=True)
class CalendarPart:
    """An iCalendar object to attach to an e-mail (RFC 6047): its METHOD and its serialised bytes."""

    method: str
    """``REQUEST`` or ``CANCEL``; the MIME ``method=`` parameter must equal the body's METHOD."""
    data: bytes


@dataclass(frozen=True, slots=True)
class Image:
    """A picture that goes with a message: inline in an e-mail's HTML (``cid:<content_id>``), the photo of a
    Telegram message (whose ``telegram_html`` is then its caption, at most 1,024 characters)."""

    content_id: str
    filename: str
    data: bytes
    """PNG."""


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a Telegram message: its label and the (signed) data its press sends back."""

    label: str
    data: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One notice to send through one channel to one address."""

    key: str
    kind: str
    address: str
    """A Telegram chat id, or an e-mail address."""
    name: str
    """The recipient's name, for e-mail headers and logs."""
    message: Message
    calendar: CalendarPart | None = None
    headers: dict[str, str] = field(default_factory=dict)
    sender_name: str | None = None
    """Who an e-mail is from, in the reader's language (the secretariat's name); None for the channel's own."""
    buttons: tuple[tuple[Button, ...], ...] = ()
    """Rows of buttons under a Telegram message (the answers to an invitation); e-mail has none."""
    images: tuple[Image, ...] = ()
    """Pictures of the message (a summary's chart)."""


class Outcome(StrEnum):
    """How a failed delivery should be treated."""

    TRANSIENT = "transient"
    """Not delivered, worth retrying later (5xx, 429, 4xx SMTP, connection refused)."""
    PERMANENT = "permanent"
    """Will never be delivered this way (bot blocked, chat not found, SMTP 5xx): try another channel."""
    UNKNOWN = "unknown"
    """The request went out and no answer came back: it may have been delivered."""


class DeliveryError(Exception):
    """A channel could not deliver; says whether to retry, fall back, or neither."""

    def __init__(self, outcome: Outcome, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.retry_after = retry_after


class ChannelUnavailable(Exception):
    """A channel cannot start (a rejected token, an unreachable server); the message names no secret."""


class NoticeObsolete(Exception):
    """A queued notice is no longer worth sending: a newer one superseded it, or its delegate is no longer
    invited, or its session no longer takes place. It is recorded as skipped with the reason."""
