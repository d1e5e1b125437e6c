"""What happens around sessions and is kept: Telegram bindings, RSVPs, attendance, the audit trail."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class Record(BaseModel):
    """Base of stored records: frozen, strict about keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TelegramBinding(Record):
    """A delegate's Telegram account, bound through the bot."""

    delegate_id: str
    telegram_user_id: int
    chat_id: int
    username: str | None = None
    bound_at: AwareDatetime


class RsvpAnswer(StrEnum):
    """What a delegate said they will do."""

    IN_PERSON = "in_person"
    REMOTE = "remote"
    NOT_ATTENDING = "not_attending"
    SUBSTITUTE = "substitute"
    ATTENDING = "attending"
    """Coming, how not said: a calendar's Accept to a hybrid session (the chat's buttons may ask which)."""
    TENTATIVE = "tentative"
    """Perhaps: a calendar's Tentative."""


class RsvpSource(StrEnum):
    """Where an answer came from."""

    TELEGRAM = "telegram"
    WEB = "web"
    """The answer page linked from the e-mails."""
    CALENDAR = "calendar"
    """The Accept/Decline of the delegate's calendar, read back from the secretariat's mailbox."""
    SECRETARIAT = "secretariat"


class Rsvp(Record):
    """A delegate's answer to an invitation (intent, not fact)."""

    session_id: str
    delegate_id: str
    answer: RsvpAnswer
    substitute_id: str | None = None
    comment: str | None = None
    answered_at: AwareDatetime
    source: RsvpSource = RsvpSource.TELEGRAM


class Preferences(Record):
    """What a delegate chose in the bot over their YAML; None keeps the YAML's."""

    delegate_id: str
    language: str | None = None
    timezone: str | None = None
    updated_at: AwareDatetime


class Substitution(Record):
    """A member replaced for one session by another member of the same delegation."""

    session_id: str
    delegate_id: str
    """The member replaced."""
    substitute_id: str
    named_by: str
    """Who named the substitute: ``delegate:<id>`` for a head of delegation, ``secretariat:<user id>``."""
    named_at: AwareDatetime


class Broadcast(Record):
    """A message from the secretariat to everyone invited to a session."""

    id: int
    session_id: str
    text: str
    written_by: str
    written_at: AwareDatetime
    sent_by: str | None = None
    sent_at: AwareDatetime | None = None
    recipients: int | None = None


class AttendanceSource(StrEnum):
    """Where an attendance fact comes from."""

    VENUE = "venue"
    VIDEO = "video"
    SECRETARIAT = "secretariat"


class AttendanceKind(StrEnum):
    """What the attendance event says."""

    CHECK_IN = "check_in"
    JOIN = "join"
    LEAVE = "leave"
    ENDED = "ended"
    """The video meeting ended: whoever was still on the call left then."""
    PRESENT = "present"
    """A correction: there (in person)."""
    IN_PERSON = "in_person"
    """A correction: there in person."""
    REMOTE = "remote"
    """A correction: there remotely."""
    ABSENT = "absent"
    """A correction: not there."""
    ASSIGN = "assign"
    """A correction: the video guest ``participant_id`` is the delegate ``delegate_id``."""


class AttendanceEvent(Record):
    """One fact of attendance: a check-in, a join or leave on video, a correction."""

    session_id: str
    delegate_id: str | None = None
    state: str | None = None
    source: AttendanceSource
    kind: AttendanceKind
    occurred_at: AwareDatetime
    external_id: str | None = None
    """The source's own id of the event, so that a repeated webhook is recorded once."""
    participant_id: str | None = None
    """On video: the platform's id of the participant (the same in their join and their leave)."""
    participant_name: str | None = None
    """On video: the name the platform showed (for a guest, all there is to go by)."""
    room: str | None = None
    """On video: a breakout room's name."""
    recorded_by: str | None = None
    """A correction: who made it (``secretariat:<user>``, ``cli:<login>``)."""
    note: str | None = None
    """A correction: why."""


class OutboxStatus(StrEnum):
    """Where a notice stands in the outbox."""

    PENDING = "pending"
    CLAIMED = "claimed"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


SETTLED_STATUSES = (OutboxStatus.SENT, OutboxStatus.FAILED, OutboxStatus.SKIPPED)
"""Statuses after which a notice is never planned again."""


class OutboxEntry(Record):
    """A notice in the outbox, with its delivery state."""

    key: str
    kind: str
    session_id: str
    delegate_id: str
    channels: tuple[str, ...]
    due_at: AwareDatetime
    status: OutboxStatus = OutboxStatus.PENDING
    attempts: int = 0
    next_attempt_at: AwareDatetime | None = None
    last_error: str | None = None
    sent_at: AwareDatetime | None = None
    channel_used: str | None = None


class AuditEntry(Record):
    """Who did what, when."""

    at: AwareDatetime
    actor: str
    action: str
    subject: str = ""
    details: dict[str, Any] = Field(default_factory=dict)
