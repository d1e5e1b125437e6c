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


@dataclass(frozen=True)
class Ledger:
    """The delivery record as planning needs it."""

    settled: Set[str] = frozenset()
    """Keys of notices sent, failed for good, or recorded as stale: never planned again."""
    queued: Set[str] = frozenset()
    """Keys already in the outbox and not settled: planned again harmlessly, not enqueued twice."""
    told: Mapping[str, Set[str]] = field(default_factory=dict)
    """Session id → ids of the delegates who were sent its invitation."""
    sessions: Mapping[str, SessionRecord] = field(default_factory=dict)
    """Session id → what was last announced about it."""
