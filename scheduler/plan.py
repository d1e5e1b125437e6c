"""Planning: every notice a configuration implies, as a pure function of (deployment, now, ledger)."""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.changes import digest, snapshot
from domain.deployment import Deployment
from domain.ledger import Ledger
from domain.model import Delegate, Role, Session, SessionStatus
from domain.notices import KIND_ORDER, Notice, NoticeKind, NoticeStatus, notice_key
from domain.runtime import paused_gc
from domain.values import format_duration

SUMMARY_USEFUL_FOR = timedelta(days=7)
"""How long after a session its summary is still worth sending when the service catches up."""


@dataclass(frozen=True, slots=True)
class _Slot:
    """One notice of a session, the same for every recipient it goes to."""

    kind: NoticeKind
    detail: str
    due_at: datetime
    status: NoticeStatus
    heads_only: bool = False
    roles: frozenset[Role] | None = None
    only: Set[str] | None = None
    """Only these delegates (those told of a session that is cancelled, postponed or changed)."""
    others: tuple[str, ...] = ()
    """Delegates who are not invited (any more) but must hear this (a cancellation after uninviting)."""


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%MZ")


def plan(deployment: Deployment, now: datetime, ledger: Ledger | None = None) -> list[Notice]:
    """Return every notice still to be sent or recorded, ordered by due time, with stable keys.

    The ledger holds the keys of notices already settled (delivered, failed for good, recorded as stale),
    which are not planned again, who was sent each session's invitation, and what was last announced
    about each session (a change since then is told by an update). A notice whose time has passed is
    ``due`` (send now) while still useful and ``stale`` (record, do not send) when not — see
    docs/planning.md for the rule.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    with paused_gc():
        return _plan(deployment, now, ledger or Ledger())


def session_digest(deployment: Deployment, session_id: str) -> tuple[str, dict[str, object]]:
    """The fingerprint and snapshot of what a session's notices announce (in the working language)."""
    snap = snapshot(deployment.sessions[session_id], deployment.commission.language)
    return digest(snap), snap


def _plan(deployment: Deployment, now: datetime, ledger: Ledger) -> list[Notice]:
    settled = ledger.settled
    order = {d: i for i, d in enumerate(deployment.delegates)}
    channels = {d.id: d.channels for d in deployment.delegates.values()}
    notices: list[tuple[tuple[datetime, int, int, str, int], Notice]] = []
    for s_index, session in enumerate(deployment.sessions.values()):
        invitees = [deployment.delegates[d] for d in deployment.invitations[session.id]]
        for slot in _slots(deployment, session, now, ledger):
            recipients: Iterable[Delegate] = invitees
            if slot.heads_only:
                recipients = (d for d in invitees if d.role is Role.HEAD)
            elif slot.roles is not None:
                recipients = (d for d in invitees if d.role in slot.roles)
            elif slot.only is not None:
                only = slot.only
                recipients = (d for d in invitees if d.id in only)
            if slot.others:
                known = deployment.delegates
                recipients = [*recipients, *(known[d] for d in slot.others if d in known)]
            rank = KIND_ORDER[slot.kind]
            prefix = notice_key(session.id, slot.kind, "", slot.detail)
            for delegate in recipients:
                key = prefix + delegate.id
                if key in settled:
                    continue
                notice = Notice(
                    key=key,
                    kind=slot.kind,
                    session_id=session.id,
                    delegate_id=delegate.id,
                    due_at=slot.due_at,
                    channels=channels[delegate.id],
                    status=slot.status,
                    detail=slot.detail,
                )
                notices.append(((slot.due_at, s_index, rank, slot.detail, order[delegate.id]), notice))
    notices.sort(key=lambda item: item[0])
    return [notice for _, notice in notices]


def _slots(deployment: Deployment, session: Session, now: datetime, ledger: Ledger) -> list[_Slot]:
    """The notices of one session, with their due time and catch-up status."""
    start, end = session.starts_at, session.ends_at
    told = ledger.told.get(session.id, frozenset())
    record = ledger.sessions.get(session.id)
    now_status = NoticeStatus.DUE if now < end else NoticeStatus.STALE
    if session.status is SessionStatus.CANCELLED:
        return [_Slot(NoticeKind.CANCELLATION, "", now, now_status, only=told)] if told else []

    slots: list[_Slot] = []
    if told:
        current, _ = session_digest(deployment, session.id)
        if record is not None and record.digest != current:
            slots.append(_Slot(NoticeKind.UPDATE, current, now, now_status, only=told))
        uninvited = tuple(sorted(told - set(deployment.invitations[session.id])))
        if uninvited:
            slots.append(_Slot(NoticeKind.CANCELLATION, "", now, now_status, only=frozenset(), others=uninvited))
    if session.status is SessionStatus.POSTPONED:
        return slots

    policy = session.policy

    def until(due: datetime, useful_until: datetime) -> NoticeStatus:
        if due >= now:
            return NoticeStatus.SCHEDULED
        return NoticeStatus.DUE if now < useful_until else NoticeStatus.STALE

    if policy.invitation is not None:
        due = start - policy.invitation
        slots.append(_Slot(NoticeKind.INVITATION, "", due, until(due, start)))
    if policy.agenda is not None and session.agenda:
        due = start - policy.agenda
        slots.append(_Slot(NoticeKind.AGENDA, "", due, until(due, start)))

    start_notice_due = start - policy.start if policy.start is not None and session.is_remote else None
    superseded = start_notice_due is not None and start_notice_due < now
    reminders = sorted(set(policy.reminders), reverse=True)
    overdue = [offset for offset in reminders if start - offset < now]
    latest_overdue = overdue[-1] if overdue else None
    for offset in reminders:
        due = start - offset
        status = until(due, start)
        if status is NoticeStatus.DUE and (offset != latest_overdue or superseded):
            status = NoticeStatus.STALE
        slots.append(_Slot(NoticeKind.REMINDER, f"{format_duration(offset)}@{_stamp(start)}", due, status))
    if start_notice_due is not None:
        slots.append(_Slot(NoticeKind.START, _stamp(start), start_notice_due, until(start_notice_due, end)))

    for deadline in session.deadlines:
        at = session.deadline_at(deadline)
        offsets = sorted(
            set(deadline.remind if deadline.remind is not None else policy.deadline_reminders), reverse=True
        )
        late = [offset for offset in offsets if at - offset < now]
        for offset in offsets:
            due = at - offset
            status = until(due, at)
            if status is NoticeStatus.DUE and offset != late[-1]:
                status = NoticeStatus.STALE
            detail = f"{deadline.id}.{format_duration(offset)}@{_stamp(at)}"
            slots.append(_Slot(NoticeKind.DEADLINE, detail, due, status, heads_only=deadline.audience == "heads"))

    if policy.summary is not None and policy.summary_to:
        due = end + policy.summary
        slots.append(
            _Slot(NoticeKind.SUMMARY, "", due, until(due, end + SUMMARY_USEFUL_FOR), roles=frozenset(policy.summary_to))
        )
    return slots
