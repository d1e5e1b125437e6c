"""Notices: one message to one delegate about one thing, with the key that makes it happen once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class NoticeKind(StrEnum):
    """What a notice tells the delegate."""

    INVITATION = "invitation"
    AGENDA = "agenda"
    REMINDER = "reminder"
    DEADLINE = "deadline"
    START = "start"
    UPDATE = "update"
    CANCELLATION = "cancellation"
    SUMMARY = "summary"
    NUDGE = "nudge"
    """Asked by the secretariat (/remind): the invitation has no answer yet."""
    BROADCAST = "broadcast"
    """A message the secretariat wrote to everyone invited (/broadcast)."""
    SUBSTITUTED = "substituted"
    """To a member whom their head of delegation had replaced for a session (/delegation)."""


KIND_ORDER = {kind: i for i, kind in enumerate(NoticeKind)}

CALENDAR_KINDS = frozenset({NoticeKind.INVITATION, NoticeKind.UPDATE, NoticeKind.CANCELLATION})
"""Kinds that carry a calendar object: their delivery changes what a delegate's calendar holds (and its SEQUENCE)."""


class NoticeStatus(StrEnum):
    """Where a planned notice stands at the moment of planning."""

    SCHEDULED = "scheduled"
    """Its time has not come yet."""
    DUE = "due"
    """Its time has passed and it is still worth sending: it goes out now."""
    STALE = "stale"
    """Its time passed and it is no longer useful (a reminder after the session began): recorded, not sent."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One planned message to one delegate, identified by a stable idempotency key."""

    key: str
    kind: NoticeKind
    session_id: str
    delegate_id: str
    due_at: datetime
    """When the notice should go out (UTC)."""
    channels: tuple[str, ...]
    status: NoticeStatus
    detail: str = ""
    """What distinguishes notices of one kind: the reminder's offset, the deadline's id, the update's revision."""
    sequence: int | None = None
    """The calendar SEQUENCE an invitation, update or cancellation carries (session and delegate revisions)."""


def notice_key(session_id: str, kind: NoticeKind, delegate_id: str, detail: str = "") -> str:
    """Build the idempotency key of a notice: ``session:kind[:detail]:delegate``."""
    if detail:
        return f"{session_id}:{kind.value}:{detail}:{delegate_id}"
    return f"{session_id}:{kind.value}:{delegate_id}"


OUTSIDE = "~"
"""The first character of a recipient who is not a delegate (no delegate's id can have it): ``~chat<id>``, a
Telegram chat a summary is posted to; ``~press``, the press contact, who gets its public variant."""
PRESS = f"{OUTSIDE}press"


def chat_recipient(chat_id: int) -> str:
    """The recipient id of a Telegram chat (a group, a channel, an account's private chat)."""
    return f"{OUTSIDE}chat{chat_id}"


def summary_detail(version: int) -> str:
    """The detail of a summary notice of this version: none for the first, ``v2`` for the first correction."""
    return f"v{version}" if version > 1 else ""


DRAFT = "draft"
"""The detail of a summary's draft for the secretariat to review (``summary: review``): ``draft`` for the one the
plan sends at the end, ``draft-<fingerprint>`` for one sent again after a correction."""


def draft_detail(fingerprint: str | None = None) -> str:
    """The detail of a draft notice: the planned one, or the one of a summary with this fingerprint."""
    return f"{DRAFT}-{fingerprint}" if fingerprint else DRAFT


def is_draft(key: str) -> bool:
    """Whether a summary notice's key is a draft's (for the secretariat), not the published summary's."""
    detail = key.split(":")[2] if key.count(":") >= 3 else ""
    return detail == DRAFT or detail.startswith(f"{DRAFT}-")


def summary_version(key: str) -> int | None:
    """The version of the summary a notice's key carries (``…:summary:v2:…``); None for the first."""
    detail = key.split(":")[2] if key.count(":") >= 3 else ""
    return int(detail[1:]) if detail.startswith("v") and detail[1:].isdigit() else None
