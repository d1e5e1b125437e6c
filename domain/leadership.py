"""Leadership among replicas: one process at a time runs the timeline, Telegram's long polling and the periodic
housekeeping, by a lease the database keeps with its own clock (``storage.repositories.leadership``).

A lease is held for a term: a number that only grows, raised each time another process (or the same one after
its lease ran out) takes the lead. Every write only the leader may make is fenced by its term: the database
refuses it unless the lease is still that term's, unexpired — so a leader that was paused, or cut off, and
still believes it leads, changes nothing once another has taken over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


class Deposed(Exception):
    """A leader-only write was refused: this process's term is not the lease's (any more)."""


@dataclass(frozen=True, slots=True)
class LeaseState:
    """The lease as the database has it after a campaign: who holds it, for which term, until when (the
    database's clock, and its time then, so that a process can tell how long it has without trusting its own
    clock), and whether the campaigner is the holder."""

    holder: str
    term: int
    expires_at: datetime
    database_now: datetime
    mine: bool
    replicas: int = 1
    """How many replicas campaigned within a lease's time (this one included): they share Telegram's budget."""

    @property
    def seconds_left(self) -> float:
        """How long the lease runs from the moment the database answered."""
        return (self.expires_at - self.database_now).total_seconds()


@dataclass(frozen=True, slots=True)
class Term:
    """One leader's term as the database recorded it: who, from when, until when (None: still leading)."""

    term: int
    holder: str
    started_at: datetime
    ended_at: datetime | None
