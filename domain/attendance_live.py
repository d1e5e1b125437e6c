"""A running session's quorum kept up as facts come, for telling the secretariat at once when it is met or lost.

The table (``domain.attendance.attendance``) is computed from all of a session's facts: at 20,000 webhooks that
is a good part of a second, too slow to run for every burst of them. Whether a member state is represented now
depends only on its delegates' own facts, so ``LiveQuorum`` keeps the facts by delegate and, when new ones come,
works out again only the delegates they concern, reading their facts as the table does (its ``here_at``, and
its intervals' reading of one participant): it says what the table would say of the quorum at the same moment.
A delegate with a fact dated later than the moment looked at (a platform's clock ahead of ours) is looked at
again each time, until the moment passes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from domain.attendance import Interval, here_at
from domain.deployment import Deployment
from domain.model import Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource

_CORRECTIONS = (AttendanceKind.IN_PERSON, AttendanceKind.PRESENT, AttendanceKind.REMOTE, AttendanceKind.ABSENT)


@dataclass(frozen=True, slots=True)
class QuorumNow:
    """How a running session stands against its quorum rule at a moment (as the table's ``QuorumStatus``)."""

    met: bool
    represented: int
    required: int
    states: int


class LiveQuorum:
    """One running session's facts by participant and delegate, and who is present now."""

    def __init__(self, deployment: Deployment, session: Session) -> None:
        rule = session.quorum or deployment.commission.quorum
        invited = [d for d in deployment.invitations.get(session.id, ()) if d in deployment.delegates]
        self.session = session
        self._state = {d: deployment.delegates[d].state for d in invited}
        states = set(self._state.values())
        self.states = len(states)
        self.required = rule.required(self.states) if rule is not None else 0
        self._keys: set[str] = set()
        """The video facts' own ids: a fact given twice (read, and recorded here) counts once."""
        self._ended: list[AttendanceEvent] = []
        # Each participant: their joins and leaves, the first delegate the platform named (when, who), the
        # delegate they count for, whether on the call at the last look.
        self._video: dict[str, list[AttendanceEvent]] = {}
        self._named: dict[str, tuple[datetime, str]] = {}
        self._assigned: dict[str, str] = {}
        self._owner: dict[str, str | None] = {}
        self._on: dict[str, bool] = {}
        # Each delegate: their participants, check-ins, corrections, whether present at the last look.
        self._owned: dict[str, set[str]] = {d: set() for d in invited}
        self._checked: dict[str, list[datetime]] = {d: [] for d in invited}
        self._fixes: dict[str, list[AttendanceEvent]] = {d: [] for d in invited}
        self._here: dict[str, bool] = dict.fromkeys(invited, False)
        self._present = dict.fromkeys(states, 0)
        """Delegates present now, by member state."""
        # To look at again: what new facts concern, and what has a fact dated after the last moment looked at.
        self._calls: set[str] = set()
        self._dirty: set[str] = set(invited)
        self._later_calls: set[str] = set()
        self._later: set[str] = set()

    def add(self, facts: Iterable[AttendanceEvent]) -> None:
        """Take in new facts of the session (any other session's are passed over)."""
        for fact in facts:
            if fact.session_id != self.session.id:
                continue
            if fact.source is AttendanceSource.VIDEO:
                self._add_video(fact)
                continue
            who = fact.delegate_id
            if who is None or who not in self._here:
                continue
            if fact.kind is AttendanceKind.CHECK_IN:
                self._checked[who].append(fact.occurred_at)
            elif fact.kind is AttendanceKind.ASSIGN and fact.participant_id:
                self._assigned[fact.participant_id] = who
                self._own(fact.participant_id)
            elif fact.source is AttendanceSource.SECRETARIAT and fact.kind in _CORRECTIONS:
                self._fixes[who].append(fact)
            self._dirty.add(who)

    def _add_video(self, fact: AttendanceEvent) -> None:
        if fact.external_id is not None:
            if fact.external_id in self._keys:
                return
            self._keys.add(fact.external_id)
        if fact.kind is AttendanceKind.ENDED:
            self._ended.append(fact)
            self._calls |= self._video.keys()  # every open interval closes there
            return
        participant = fact.participant_id
        if fact.kind not in (AttendanceKind.JOIN, AttendanceKind.LEAVE) or not participant:
            return
        self._video.setdefault(participant, []).append(fact)
        self._calls.add(participant)
        named = self._named.get(participant)
        if fact.delegate_id and (named is None or fact.occurred_at < named[0]):
            self._named[participant] = (fact.occurred_at, fact.delegate_id)
            self._own(participant)
        elif participant not in self._owner:
            self._own(participant)

    def _own(self, participant: str) -> None:
        """Give a participant to the delegate they are (assigned, else the first the platform named), as the
        table does; both the one they leave and the one they join are looked at again."""
        named = self._named.get(participant)
        owner = self._assigned.get(participant) or (named[1] if named is not None else None)
        owner = owner if owner in self._here else None
        before = self._owner.get(participant)
        if before is not None:
            self._owned[before].discard(participant)
            self._dirty.add(before)
        self._owner[participant] = owner
        if owner is not None:
            self._owned[owner].add(participant)
            self._dirty.add(owner)

    def at(self, now: datetime) -> QuorumNow:
        """The quorum at ``now``, a moment while the session runs (each look at a moment no earlier)."""
        horizon = max(self.session.starts_at, now)
        for participant in self._calls | self._later_calls:
            on, later = self._on_call(participant, horizon)
            if on != self._on.get(participant, False):
                self._on[participant] = on
                if (owner := self._owner.get(participant)) is not None:
                    self._dirty.add(owner)
            _keep(self._later_calls, participant, later)
        self._calls = set()
        for delegate_id in self._dirty | self._later:
            here, later = self._present_at(delegate_id, horizon)
            if here != self._here[delegate_id]:
                self._here[delegate_id] = here
                self._present[self._state[delegate_id]] += 1 if here else -1
            _keep(self._later, delegate_id, later)
        self._dirty = set()
        represented = sum(1 for n in self._present.values() if n > 0)
        return QuorumNow(self.required > 0 and represented >= self.required, represented, self.required, self.states)

    def _on_call(self, participant: str, horizon: datetime) -> tuple[bool, bool]:
        """Whether the participant is on the call at ``horizon``, as the table's intervals (``video_calls``) say;
        whether any of their facts (or the meeting's end) is dated after it.

        The table's reading for one participant, without building its intervals: their joins and leaves by
        platform timestamp (at one timestamp only the counts say the state after) alternate spans on and off
        the call; they are on it at ``horizon`` when their last span is still open (no leave, whenever dated),
        began by then, and no end of the meeting came at or after its start. Checked against the table."""
        counts: dict[datetime, list[int]] = {}
        later = False
        for fact in self._video.get(participant, ()):
            moment = fact.occurred_at
            later = later or moment > horizon
            counts.setdefault(moment, [0, 0])[fact.kind is AttendanceKind.LEAVE] += 1
        since: datetime | None = None
        for moment in sorted(counts):
            joins, leaves = counts[moment]
            if since is None and joins > leaves:
                since = moment
            elif since is not None and leaves > joins:
                since = None
        ended = [e.occurred_at for e in self._ended]
        later = later or any(t > horizon for t in ended)
        on = since is not None and since <= horizon and not any(t >= since for t in ended)
        return on, later

    def _present_at(self, delegate_id: str, horizon: datetime) -> tuple[bool, bool]:
        """Whether the delegate is present at ``horizon`` (the table's ``here_at``, with their participants'
        time on the call as one interval around it when one is on the call); whether a check-in or correction
        of theirs is dated after it."""
        on_call = any(self._on.get(p, False) for p in self._owned[delegate_id])
        around = [Interval(horizon, horizon, open=True)] if on_call else []
        checked, fixes = self._checked[delegate_id], self._fixes[delegate_id]
        later = any(t > horizon for t in checked) or any(e.occurred_at > horizon for e in fixes)
        return here_at(horizon, checked, around, fixes), later


def _keep(chosen: set[str], key: str, keep: bool) -> None:
    if keep:
        chosen.add(key)
    else:
        chosen.discard(key)
