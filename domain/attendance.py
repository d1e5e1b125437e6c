"""Attendance as a fact: a session's check-ins, video joins and leaves and the secretariat's corrections merged
into one record per delegate, tallied by member state and agency, with the quorum the rules set.

Video intervals are ordered by the platform's timestamps, not by when their webhooks arrived; a rejoin adds an
interval, a join without a leave is closed at the meeting's end, the session's end or now; minutes count inside
the session's window. A delegate both checked in and on the call counts once, in person. A correction of the
secretariat wins over what the sources say, from the moment it was made. A guest (a participant not matched to
a delegate) is kept apart and never counted for a state until the secretariat assigns them. Answers to the
invitation are not attendance and are not read here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.deployment import Deployment
from domain.model import Quorum, Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource

CORRECTIONS = {
    AttendanceKind.IN_PERSON: "in_person",
    AttendanceKind.PRESENT: "in_person",
    AttendanceKind.REMOTE: "remote",
    AttendanceKind.ABSENT: "absent",
}


class Presence(StrEnum):
    """How a delegate took part."""

    IN_PERSON = "in_person"
    REMOTE = "remote"
    BRIEFLY = "briefly"
    """On the call for less than the session's minimum."""
    ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Interval:
    """Time on the call, inside the session's window."""

    start: datetime
    end: datetime
    open: bool = False
    """Still on the call (the end is now)."""

    @property
    def seconds(self) -> float:
        """Its length."""
        return max(0.0, (self.end - self.start).total_seconds())


@dataclass(frozen=True, slots=True)
class DelegateAttendance:
    """One delegate's attendance."""

    delegate_id: str
    state: str
    agency: str | None
    presence: Presence
    minutes: float
    intervals: tuple[Interval, ...]
    checked_in_at: datetime | None
    here: bool
    """Present now (checked in, on the call, or said so by a correction)."""
    correction: AttendanceEvent | None
    replaces: str | None
    """The member this delegate substitutes for."""


@dataclass(frozen=True, slots=True)
class Guest:
    """A participant on the call matched to no delegate."""

    participant_id: str
    name: str
    minutes: float
    here: bool


@dataclass(frozen=True, slots=True)
class Tally:
    """Counts of delegates by how they took part."""

    in_person: int = 0
    remote: int = 0
    briefly: int = 0
    absent: int = 0
    substitutes: int = 0

    @property
    def present(self) -> int:
        """In person or remotely."""
        return self.in_person + self.remote

    @classmethod
    def of(cls, delegates: Iterable[DelegateAttendance]) -> Tally:
        """The counts of these delegates."""
        chosen = list(delegates)
        count = {p: sum(1 for d in chosen if d.presence is p) for p in Presence}
        substitutes = sum(1 for d in chosen if d.replaces is not None)
        return cls(
            count[Presence.IN_PERSON],
            count[Presence.REMOTE],
            count[Presence.BRIEFLY],
            count[Presence.ABSENT],
            substitutes,
        )


@dataclass(frozen=True, slots=True)
class AgencyAttendance:
    """A delegation's agency (None: its delegates named under no agency)."""

    agency: str | None
    tally: Tally
    delegates: tuple[DelegateAttendance, ...]


@dataclass(frozen=True, slots=True)
class StateAttendance:
    """A member state's delegation."""

    state: str
    represented: bool
    """One of its delegates took part (in person or remotely); while the session runs: is present now."""
    tally: Tally
    agencies: tuple[AgencyAttendance, ...]


@dataclass(frozen=True, slots=True)
class QuorumStatus:
    """The quorum rule and how the session stands against it."""

    rule: str
    required: int
    states: int
    represented: int
    met: bool
    """Met now while the session runs; afterwards, whether it was met at any moment."""
    first_met_at: datetime | None


@dataclass(frozen=True, slots=True)
class AttendanceTable:
    """A session's attendance at a moment."""

    session_id: str
    at: datetime
    live: bool
    states: tuple[StateAttendance, ...]
    totals: Tally
    quorum: QuorumStatus | None
    guests: tuple[Guest, ...]
    corrections: tuple[AttendanceEvent, ...]
    lines: Mapping[str, DelegateAttendance] = field(default_factory=dict, repr=False, compare=False)
    """Every delegate's line by id (the same as in ``states``)."""

    def delegate(self, delegate_id: str) -> DelegateAttendance | None:
        """One delegate's line, if invited."""
        return self.lines.get(delegate_id)


def minimum_seconds(session: Session) -> float:
    """Seconds on the call below which a remote presence is "joined briefly" (0: any time counts)."""
    video = session.video
    if video is None:
        return 0.0
    if video.minimum is not None:
        return video.minimum.total_seconds()
    if video.minimum_share is not None:
        return video.minimum_share * (session.ends_at - session.starts_at).total_seconds()
    return 0.0


def attendance(
    deployment: Deployment,
    session: Session,
    events: Sequence[AttendanceEvent],
    now: datetime,
    *,
    ended_at: datetime | None = None,
    replaced: Mapping[str, str] | None = None,
) -> AttendanceTable:
    """The session's attendance as of ``now`` (``ended_at``: closed early by the secretariat; ``replaced``:
    substitute → the member they replace)."""
    end = min(session.ends_at, ended_at) if ended_at is not None else session.ends_at
    horizon = max(session.starts_at, min(now, end))
    live = session.starts_at <= now < end
    invited = [d for d in deployment.invitations.get(session.id, ()) if d in deployment.delegates]
    assigned = {
        e.participant_id: e.delegate_id
        for e in events
        if e.kind is AttendanceKind.ASSIGN and e.participant_id and e.delegate_id and e.delegate_id in invited
    }
    calls = video_calls(events, session.starts_at, horizon, live)
    facts = _grouped(invited, events, calls, assigned)
    lines = {
        delegate_id: _line(deployment, session, delegate_id, facts[delegate_id], horizon, live, replaced or {})
        for delegate_id in invited
    }
    states = _states(deployment, invited, lines, live)
    rule = session.quorum or deployment.commission.quorum
    quorum = _quorum(rule, deployment, facts, session.starts_at, horizon, states, live)
    guests = _guests(calls, assigned, set(invited), live)
    corrections = tuple(e for e in events if e.source is AttendanceSource.SECRETARIAT)
    totals = Tally.of(lines.values())
    return AttendanceTable(session.id, now, live, states, totals, quorum, guests, corrections, lines)


# --- the calls ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Call:
    participant_id: str
    delegate_id: str | None
    name: str
    intervals: tuple[Interval, ...]


def video_calls(events: Sequence[AttendanceEvent], start: datetime, horizon: datetime, live: bool) -> list[_Call]:
    """Each video participant's intervals, in the platform's order of events, clipped to the window."""
    unique = {e.external_id or id(e): e for e in events if e.source is AttendanceSource.VIDEO}  # a repeat once
    video = sorted(unique.values(), key=lambda e: e.occurred_at)
    ended = [e.occurred_at for e in video if e.kind is AttendanceKind.ENDED]
    people: dict[str, tuple[str | None, str, list[tuple[datetime, datetime | None]]]] = {}
    moments: dict[str, dict[datetime, list[int]]] = {}
    for event in video:
        if event.kind not in (AttendanceKind.JOIN, AttendanceKind.LEAVE) or not event.participant_id:
            continue
        delegate_id, name, spans = people.setdefault(event.participant_id, (None, "", []))
        people[event.participant_id] = (delegate_id or event.delegate_id, name or event.participant_name or "", spans)
        counts = moments.setdefault(event.participant_id, {}).setdefault(event.occurred_at, [0, 0])
        counts[event.kind is AttendanceKind.LEAVE] += 1
    for participant_id, at in moments.items():
        spans = people[participant_id][2]
        for moment, (joins, leaves) in at.items():  # in time order (the events were)
            # A participant alternates join and leave; at one platform timestamp (Jitsi's are whole seconds: a
            # move to a breakout room is a leave and a join in the same second) only the counts say the state after.
            on = bool(spans) and spans[-1][1] is None
            if not on and joins > leaves:
                spans.append((moment, None))
            elif on and leaves > joins:
                spans[-1] = (spans[-1][0], moment)
    calls = []
    for participant_id, (delegate_id, name, spans) in people.items():
        intervals = []
        for joined, left in spans:
            closing = next((t for t in ended if t >= joined), None) if left is None else left
            still = closing is None and live
            stop = min(closing or horizon, horizon)
            begin = max(joined, start)
            if stop > begin or (still and stop >= begin):
                intervals.append(Interval(begin, stop, still))
        calls.append(_Call(participant_id, delegate_id, name, tuple(intervals)))
    return calls


def on_call(events: Sequence[AttendanceEvent], now: datetime) -> dict[str, tuple[str | None, str]]:
    """Who the record has on the call at ``now``, by the platform's id: (the delegate, the name shown); read the
    same way as the table's intervals."""
    calls = video_calls(events, datetime.min.replace(tzinfo=now.tzinfo), now, True)
    return {c.participant_id: (c.delegate_id, c.name) for c in calls if c.intervals and c.intervals[-1].open}


def _union_seconds(intervals: Iterable[Interval]) -> float:
    total, reach = 0.0, None
    for interval in sorted(intervals, key=lambda i: i.start):
        if reach is None or interval.start > reach:
            total += interval.seconds
            reach = interval.end
        elif interval.end > reach:
            total += (interval.end - reach).total_seconds()
            reach = interval.end
    return total


def _owner(call: _Call, assigned: Mapping[str, str]) -> str | None:
    return assigned.get(call.participant_id) or call.delegate_id


# --- one delegate -------------------------------------------------------------------------------------------


def _line(
    deployment: Deployment,
    session: Session,
    delegate_id: str,
    facts: _Facts,
    horizon: datetime,
    live: bool,
    replaced: Mapping[str, str],
) -> DelegateAttendance:
    delegate = deployment.delegates[delegate_id]
    checked, intervals, fixes = facts.checked, facts.intervals, facts.fixes
    correction = max(fixes, key=lambda e: e.occurred_at) if fixes else None
    seconds = _union_seconds(intervals)
    on_call = any(i.open for i in intervals)
    if correction is not None:
        presence = Presence(CORRECTIONS[correction.kind])
    elif checked:
        presence = Presence.IN_PERSON
    elif on_call or (seconds > 0 and seconds >= minimum_seconds(session)):
        presence = Presence.REMOTE
    elif intervals:
        presence = Presence.BRIEFLY
    else:
        presence = Presence.ABSENT
    here = here_at(horizon, checked, intervals, fixes) if live else False
    return DelegateAttendance(
        delegate_id,
        delegate.state,
        delegate.agency,
        presence,
        round(seconds / 60, 1),
        intervals,
        min(checked) if checked else None,
        here,
        correction,
        replaced.get(delegate_id),
    )


@dataclass(frozen=True, slots=True)
class _Facts:
    """One delegate's check-in times, intervals on the call and corrections."""

    checked: list[datetime]
    intervals: tuple[Interval, ...]
    fixes: list[AttendanceEvent]


def _grouped(
    invited: Sequence[str], events: Sequence[AttendanceEvent], calls: Sequence[_Call], assigned: Mapping[str, str]
) -> dict[str, _Facts]:
    """Every invited delegate's facts, in one pass over the events and one over the calls."""
    checked: dict[str, list[datetime]] = {d: [] for d in invited}
    fixes: dict[str, list[AttendanceEvent]] = {d: [] for d in invited}
    for e in events:
        if e.delegate_id not in checked:
            continue
        if e.kind is AttendanceKind.CHECK_IN:
            checked[e.delegate_id].append(e.occurred_at)
        elif e.source is AttendanceSource.SECRETARIAT and e.kind in CORRECTIONS:
            fixes[e.delegate_id].append(e)
    intervals: dict[str, list[Interval]] = {d: [] for d in invited}
    for call in calls:
        owner = _owner(call, assigned)
        if owner in intervals:
            intervals[owner].extend(call.intervals)
    return {d: _Facts(checked[d], tuple(intervals[d]), fixes[d]) for d in invited}


def here_at(
    moment: datetime, checked: Sequence[datetime], intervals: Sequence[Interval], fixes: Sequence[AttendanceEvent]
) -> bool:
    """Whether a delegate was present at ``moment``: the last correction before it decides; else a check-in
    before it, or an interval around it."""
    before = [e for e in fixes if e.occurred_at <= moment]
    if before:
        return CORRECTIONS[max(before, key=lambda e: e.occurred_at).kind] != "absent"
    if any(t <= moment for t in checked):
        return True
    return any(i.start <= moment and (moment < i.end or (i.open and moment <= i.end)) for i in intervals)


# --- states, quorum, guests ---------------------------------------------------------------------------------


def _states(
    deployment: Deployment, invited: Sequence[str], lines: Mapping[str, DelegateAttendance], live: bool
) -> tuple[StateAttendance, ...]:
    out = []
    for code in deployment.states:
        mine = [lines[d] for d in invited if lines[d].state == code]
        if not mine:
            continue
        agencies: dict[str | None, list[DelegateAttendance]] = {}
        for line in mine:
            agencies.setdefault(line.agency, []).append(line)
        represented = (
            any(line.here for line in mine)
            if live
            else any(line.presence in (Presence.IN_PERSON, Presence.REMOTE) for line in mine)
        )
        out.append(
            StateAttendance(
                code,
                represented,
                Tally.of(mine),
                tuple(AgencyAttendance(a, Tally.of(ls), tuple(ls)) for a, ls in agencies.items()),
            )
        )
    return tuple(out)


def _quorum(
    rule: Quorum | None,
    deployment: Deployment,
    facts: Mapping[str, _Facts],
    start: datetime,
    horizon: datetime,
    states: Sequence[StateAttendance],
    live: bool,
) -> QuorumStatus | None:
    """The rule against the states represented: now while the session runs, in the end afterwards; and the
    first moment it was met (a sweep over every delegate's spans of presence, in time order)."""
    if rule is None:
        return None
    required = rule.required(len(states))
    edges: list[tuple[datetime, int, str]] = []
    for delegate_id, mine in facts.items():
        state = deployment.delegates[delegate_id].state
        for begin, stop in _spans(mine, start, horizon):
            edges += [(begin, 1, state), (stop, -1, state)]
    edges.sort(key=lambda edge: (edge[0], edge[1]))  # at one moment, who leaves goes before who comes
    present: dict[str, int] = {}
    first = None
    for index, (moment, step, state) in enumerate(edges):
        present[state] = present.get(state, 0) + step
        settled = index + 1 == len(edges) or edges[index + 1][0] != moment
        if first is None and required and settled and sum(1 for n in present.values() if n > 0) >= required:
            first = moment
    represented = sum(1 for s in states if s.represented)
    met = represented >= required if live else first is not None
    return QuorumStatus(rule.describe(), required, len(states), represented, met and required > 0, first)


def _spans(facts: _Facts, start: datetime, horizon: datetime) -> list[tuple[datetime, datetime]]:
    """When a delegate was present, as half-open spans up to just past ``horizon``: the sources' (check-ins
    onwards, intervals on the call) until the first correction, then each correction's word until the next."""
    after = horizon + timedelta(microseconds=1)
    fixes = sorted(facts.fixes, key=lambda e: e.occurred_at)
    cut = fixes[0].occurred_at if fixes else after
    spans = [(i.start, min(i.end + timedelta(microseconds=1) if i.open else i.end, cut)) for i in facts.intervals]
    if facts.checked:
        spans.append((max(min(facts.checked), start), cut))
    spans = [(a, b) for a, b in spans if b > a]
    for fix, following in zip(fixes, [*fixes[1:], None], strict=False):
        if CORRECTIONS[fix.kind] != "absent":
            spans.append((fix.occurred_at, following.occurred_at if following is not None else after))
    return spans


def _guests(calls: Sequence[_Call], assigned: Mapping[str, str], invited: set[str], live: bool) -> tuple[Guest, ...]:
    out = []
    for call in calls:
        if _owner(call, assigned) in invited:
            continue
        here = live and any(i.open for i in call.intervals)
        out.append(Guest(call.participant_id, call.name, round(_union_seconds(call.intervals) / 60, 1), here))
    return tuple(out)
