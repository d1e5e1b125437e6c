"""Changes as typed events: what a use case changed, for the caches and live views that follow it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """Something that changed; ``name`` identifies its type in the change log other processes read."""

    name: ClassVar[str] = "event"

    def payload(self) -> dict[str, Any]:
        """The event's fields as JSON-able values: strings, numbers, booleans and tuples of them (not deep
        copied: ``asdict``'s copy cost more than logging them)."""
        names = _FIELDS.get(type(self))
        if names is None:  # ``fields`` builds its tuple again on every call: once per type is enough
            names = _FIELDS[type(self)] = tuple(f.name for f in fields(self))
        return {name: getattr(self, name) for name in names}


_FIELDS: dict[type[Event], tuple[str, ...]] = {}


@dataclass(frozen=True, slots=True)
class ConfigurationApplied(Event):
    """A configuration was validated, planned and put in force."""

    name: ClassVar[str] = "configuration_applied"
    commission_id: str


@dataclass(frozen=True, slots=True)
class LinkRotated(Event):
    """A feed link was revoked and reissued: the old one must answer 404 at once."""

    name: ClassVar[str] = "link_rotated"
    scope: str
    subject: str
    generation: int


@dataclass(frozen=True, slots=True)
class AnswerRecorded(Event):
    """A delegate answered an invitation (from the bot, an answer page or their calendar)."""

    name: ClassVar[str] = "answer_recorded"
    session_id: str
    delegate_id: str
    answer: str
    substitute_id: str | None = None
    answered_at: str = ""
    """ISO 8601: with it the event carries the whole answer (the feeds need not read it back)."""
    source: str = ""
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class AccountBound(Event):
    """A delegate's Telegram account was bound or unbound."""

    name: ClassVar[str] = "account_bound"
    delegate_id: str
    bound: bool


@dataclass(frozen=True, slots=True)
class AttendanceRecorded(Event):
    """Attendance facts of a session were recorded (check-ins, joins and leaves on video, corrections): ``facts``
    of them in one write (a burst of webhooks is one event, not one for each)."""

    name: ClassVar[str] = "attendance_recorded"
    session_id: str
    facts: int = 1

    @classmethod
    def of(cls, session_ids: Iterable[str]) -> list[AttendanceRecorded]:
        """One for each session among these (a new fact's each), in the order of its first."""
        return [cls(session_id, facts) for session_id, facts in Counter(session_ids).items()]


@dataclass(frozen=True, slots=True)
class QuorumChanged(Event):
    """A running session gained or lost its quorum."""

    name: ClassVar[str] = "quorum_changed"
    session_id: str
    met: bool
    represented: int
    required: int
    states: int


@dataclass(frozen=True, slots=True)
class DeliveriesRecorded(Event):
    """Notices were delivered (or settled): what delegates hold of their sessions may have changed."""

    name: ClassVar[str] = "deliveries_recorded"
    sessions: tuple[str, ...]
    holders: tuple[str, ...] = ()
    """Whose, as ``session/delegate``: only their records need reading again (none given: every one of the
    sessions', as an older process's event says)."""


@dataclass(frozen=True, slots=True)
class BindingRefused(Event):
    """A personal Telegram link was opened by an account that may not bind it: the secretariat is told."""

    name: ClassVar[str] = "binding_refused"
    delegate_id: str
    telegram_user_id: int
    reason: str
    """``taken`` (the delegate's account is another) or ``other_delegate`` (this account speaks for another)."""


@dataclass(frozen=True, slots=True)
class CalendarReplyRefused(Event):
    """A calendar reply was not recorded as anyone's answer (a forwarded invitation): the secretariat is told."""

    name: ClassVar[str] = "calendar_reply_refused"
    session_id: str
    address: str
    """The address the reply answers for (its ATTENDEE)."""
    reason: str
    """``not_invited`` (nobody invited to the session has this address)."""


@dataclass(frozen=True, slots=True)
class SessionClosed(Event):
    """The secretariat closed a session (``/close``): it is over, whatever its end in the YAML."""

    name: ClassVar[str] = "session_closed"
    session_id: str


EVENT_TYPES: dict[str, type[Event]] = {
    cls.name: cls
    for cls in (
        ConfigurationApplied,
        LinkRotated,
        AnswerRecorded,
        QuorumChanged,
        AccountBound,
        AttendanceRecorded,
        DeliveriesRecorded,
        BindingRefused,
        CalendarReplyRefused,
        SessionClosed,
    )
}


def event_from(name: str, payload: dict[str, Any]) -> Event | None:
    """Rebuild an event read from the change log; None for a name this version does not know, or one that lacks
    a field it needs. A field it does not know (logged by another version) is left out."""
    cls = EVENT_TYPES.get(name)
    if cls is None:
        return None
    names = {f.name for f in fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in payload.items() if k in names}
    try:
        return cls(**values)
    except TypeError:
        return None
