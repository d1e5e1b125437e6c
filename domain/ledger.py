"""What the delivery record tells planning: settled notices, who was told about each session, and as what."""

from __future__ import annotations

from collections.abc import Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class SessionRecord:
    """What delegates were last told about a session, and the calendar SEQUENCE that goes with it."""

    digest: str
    snapshot: Mapping[str, Any]
    sequence: int
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RecipientRecord:
    """What one delegate holds of one session: whether they are invited, how often that changed, and what
    they were last sent."""

    invited: bool
    revision: int
    """Raised each time the delegate is invited again or uninvited: it is part of their SEQUENCE."""
    holds: bool
    """Their last calendar message was an invitation or update (True), or a cancellation (False)."""
    sequence: int | None = None
    """The calendar SEQUENCE they last received (None: nothing yet)."""


@dataclass(frozen=True)
class Ledger:
    """The delivery record as planning needs it."""

    settled: Set[str] = frozenset()
    """Keys of notices sent, failed for good, or recorded as stale: never planned again."""
    queued: Set[str] = frozenset()
    """Keys already in the outbox and not settled: planned again harmlessly, not enqueued twice."""
    told: Mapping[str, Set[str]] = field(default_factory=dict)
    """Session id → ids of the delegates who hold its invitation (sent, and not cancelled since)."""
    sessions: Mapping[str, SessionRecord] = field(default_factory=dict)
    """Session id → what was last announced about it (its ``sequence`` is the session's revision)."""
    recipients: Mapping[str, Mapping[str, RecipientRecord]] = field(default_factory=dict)
    """Session id → delegate id → what the delegate holds (only delegates who were ever sent something)."""
