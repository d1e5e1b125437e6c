"""A session's summary once it is over: what happened, from the facts only.

Attendance comes from the attendance table (``domain.attendance``: check-ins, the video platform's joins and
leaves, the secretariat's corrections), never from the answers to the invitation. The outcomes are the
decisions and assignments recorded for the agenda items. The summary carries the SHA-256 of the raw
attendance events it was computed from (``events_digest``), so that anyone holding the database can check
later that the attendance it reports was not edited. The public variant, for the press, names nobody and
links nowhere: the tallies, the quorum, the agenda and its outcomes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from domain.attendance import AttendanceTable, DelegateAttendance, QuorumStatus, StateAttendance, Tally
from domain.deployment import Deployment
from domain.model import Assignment, Outcome, Session, Venue
from domain.records import AttendanceEvent


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Counts(_Part):
    """Delegates by how they took part (``invited``: all of them)."""

    invited: int
    in_person: int
    remote: int
    briefly: int
    absent: int
    substitutes: int

    @property
    def present(self) -> int:
        """In person or remotely."""
        return self.in_person + self.remote


class DelegateLine(_Part):
    """One delegate: how they took part, minutes on the call, whom they replaced."""

    id: str
    name: dict[str, str]
    position: dict[str, str] | None
    presence: str
    minutes: float
    checked_in_at: datetime | None
    replaces: dict[str, str] | None
    """The name of the member this delegate substituted for."""


class AgencyPart(_Part):
    """An agency of a delegation (``id`` None: its delegates named under no agency)."""

    id: str | None
    name: dict[str, str] | None
    counts: Counts
    delegates: tuple[DelegateLine, ...]


class StatePart(_Part):
    """A member state's delegation."""

    code: str
    name: dict[str, str]
    represented: bool
    counts: Counts
    agencies: tuple[AgencyPart, ...]


class ItemPart(_Part):
    """An agenda item with what was decided on it."""

    number: int
    title: dict[str, str]
    decisions: tuple[dict[str, str], ...]
    assignments: tuple[Assignment, ...]


class DeadlinePart(_Part):
    """A date that follows from the session."""

    id: str
    public: bool
    title: dict[str, str]
    at: datetime
    timezone: str


class NextPart(_Part):
    """The next related session."""

    id: str
    title: dict[str, str]
    starts_at: datetime
    timezone: str


class CorrectionPart(_Part):
    """A change the secretariat made to the attendance: who, when, of whom, to what, why."""

    at: datetime
    by: str
    delegate_id: str | None
    delegate: dict[str, str] | None
    kind: str
    note: str | None


class Summary(_Part):
    """Everything a session's summary says, in every language the texts are written in."""

    session_id: str
    commission: dict[str, str]
    number: int | None
    title: dict[str, str]
    kind: str
    format: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    venue: Venue | None
    chair: dict[str, str] | None
    chair_position: dict[str, str] | None
    states: tuple[StatePart, ...]
    totals: Counts
    represented: int
    quorum: QuorumStatus | None
    guests: int
    """Participants on the call matched to no delegate (and not assigned to one)."""
    agenda: tuple[ItemPart, ...]
    deadlines: tuple[DeadlinePart, ...]
    next_session: NextPart | None
    corrections: tuple[CorrectionPart, ...]
    corrected: int
    """How many corrections were made (the public variant keeps the number, not the list)."""
    events: int
    events_sha256: str
    public: bool
    composed_at: datetime


def events_digest(events: Sequence[AttendanceEvent]) -> str:
    """The SHA-256 (hex) of the raw attendance events: each written as JSON with sorted keys and no spaces
    (``AttendanceEvent.model_dump(mode="json")``), the lines sorted, joined by newlines, encoded as UTF-8.
    The order the events are read in does not change it; any event added, removed or altered does."""
    lines = sorted(
        json.dumps(e.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False) for e in events
    )
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def compose(
    deployment: Deployment,
    session: Session,
    table: AttendanceTable,
    events: Sequence[AttendanceEvent],
    now: datetime,
    outcomes: Sequence[Outcome] = (),
    ended_at: datetime | None = None,
) -> Summary:
    """The summary of ``session`` from its attendance ``table`` (read at its end), the raw ``events`` the table
    was computed from, and the outcomes recorded beside the YAML's (``outcomes``: the chat's); ``ended_at``:
    when the secretariat closed it, if before its end."""
    commission = deployment.commission
    chair = session.chair
    chair_name = chair_position = None
    if chair is not None and chair.delegate is not None and chair.delegate in deployment.delegates:
        chair_name = deployment.delegates[chair.delegate].name
        chair_position = deployment.delegates[chair.delegate].position
    elif chair is not None:
        chair_name, chair_position = chair.name, chair.position
    states = tuple(_state(deployment, part) for part in table.states)
    return Summary(
        session_id=session.id,
        commission=commission.name,
        number=session.number,
        title=session.title,
        kind=session.kind.value,
        format=session.format.value,
        timezone=session.timezone,
        starts_at=session.starts_at,
        ends_at=min(ended_at, session.ends_at) if ended_at is not None else session.ends_at,
        venue=session.venue,
        chair=chair_name,
        chair_position=chair_position,
        states=states,
        totals=_counts(table.totals, sum(s.counts.invited for s in states)),
        represented=sum(1 for s in states if s.represented),
        quorum=table.quorum,
        guests=len(table.guests),
        agenda=_agenda(session, [*session.outcomes, *outcomes]),
        deadlines=tuple(
            DeadlinePart(
                id=d.id,
                public=d.public,
                title=d.title,
                at=session.deadline_at(d),
                timezone=d.timezone or session.timezone,
            )
            for d in session.deadlines
            if session.deadline_at(d) >= session.starts_at  # what is still to come, not what led up to it
        ),
        next_session=_next(deployment, session),
        corrections=tuple(_correction(deployment, e) for e in table.corrections),
        corrected=len(table.corrections),
        events=len(events),
        events_sha256=events_digest(events),
        public=False,
        composed_at=now,
    )


def public(summary: Summary, deployment: Deployment) -> Summary:
    """The press's variant: no delegate, chair or corrector named, no deadline or session that is not public,
    no venue's map link; the tallies, the quorum and the agenda with its outcomes stay."""
    following = deployment.sessions.get(summary.next_session.id) if summary.next_session is not None else None
    return summary.model_copy(
        update={
            "states": tuple(
                s.model_copy(update={"agencies": tuple(a.model_copy(update={"delegates": ()}) for a in s.agencies)})
                for s in summary.states
            ),
            "chair": None,
            "chair_position": None,
            "venue": summary.venue.model_copy(update={"map_url": None}) if summary.venue is not None else None,
            "deadlines": tuple(d for d in summary.deadlines if d.public),
            "next_session": summary.next_session if following is not None and following.public else None,
            "agenda": tuple(
                i.model_copy(update={"assignments": tuple(a.model_copy(update={"to": None}) for a in i.assignments)})
                for i in summary.agenda
            ),
            "corrections": (),
            "public": True,
        }
    )


def _counts(tally: Tally, invited: int) -> Counts:
    return Counts(
        invited=invited,
        in_person=tally.in_person,
        remote=tally.remote,
        briefly=tally.briefly,
        absent=tally.absent,
        substitutes=tally.substitutes,
    )


def _state(deployment: Deployment, part: StateAttendance) -> StatePart:
    agencies = []
    for agency in part.agencies:
        known = deployment.agencies.get((part.state, agency.agency)) if agency.agency is not None else None
        agencies.append(
            AgencyPart(
                id=agency.agency,
                name=known.name if known is not None else None,
                counts=_counts(agency.tally, len(agency.delegates)),
                delegates=tuple(_delegate(deployment, line) for line in agency.delegates),
            )
        )
    invited = sum(len(a.delegates) for a in part.agencies)
    return StatePart(
        code=part.state,
        name=deployment.states[part.state].name,
        represented=part.represented,
        counts=_counts(part.tally, invited),
        agencies=tuple(agencies),
    )


def _delegate(deployment: Deployment, line: DelegateAttendance) -> DelegateLine:
    delegate = deployment.delegates[line.delegate_id]
    replaced = deployment.delegates.get(line.replaces) if line.replaces is not None else None
    return DelegateLine(
        id=delegate.id,
        name=delegate.name,
        position=delegate.position,
        presence=line.presence.value,
        minutes=round(line.minutes, 1),
        checked_in_at=line.checked_in_at,
        replaces=replaced.name if replaced is not None else None,
    )


def _agenda(session: Session, outcomes: Sequence[Outcome]) -> tuple[ItemPart, ...]:
    by_item: dict[int, list[Outcome]] = {}
    for outcome in outcomes:
        by_item.setdefault(outcome.item, []).append(outcome)
    return tuple(
        ItemPart(
            number=number,
            title=item.title,
            decisions=tuple(d for o in by_item.get(number, ()) for d in o.decisions),
            assignments=tuple(a for o in by_item.get(number, ()) for a in o.assignments),
        )
        for number, item in enumerate(session.agenda, start=1)
    )


def _next(deployment: Deployment, session: Session) -> NextPart | None:
    later = [
        deployment.sessions[r]
        for r in session.related
        if r in deployment.sessions and deployment.sessions[r].starts_at >= session.ends_at
    ]
    if not later:
        return None
    first = min(later, key=lambda s: s.starts_at)
    return NextPart(id=first.id, title=first.title, starts_at=first.starts_at, timezone=first.timezone)


def _correction(deployment: Deployment, event: AttendanceEvent) -> CorrectionPart:
    delegate = deployment.delegates.get(event.delegate_id) if event.delegate_id is not None else None
    return CorrectionPart(
        at=event.occurred_at,
        by=event.recorded_by or "",
        delegate_id=event.delegate_id,
        delegate=delegate.name if delegate is not None else None,
        kind=event.kind.value,
        note=event.note,
    )
