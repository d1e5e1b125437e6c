"""Planning: every notice a configuration implies, as a pure function of (deployment, now, ledger)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from domain.changes import digest, snapshot
from domain.deployment import Deployment
from domain.ledger import Ledger, RecipientRecord, SessionRecord
from domain.model import Delegate, Role, Session, SessionStatus
from domain.notices import DRAFT, KIND_ORDER, Notice, NoticeKind, NoticeStatus, chat_recipient, notice_key
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
    details: Mapping[str, str] | None = None
    """A delegate's own key detail, when it differs from ``detail`` (a second invitation after uninviting)."""
    calendar: bool = False
    """The notice carries a calendar object: it gets a SEQUENCE."""
    outside: tuple[str, ...] = ()
    """Recipients who are not delegates, in Telegram (``domain.notices.chat_recipient``: a summary's draft)."""


@dataclass(frozen=True)
class Announced:
    """What the configuration announces once its notices are queued: every session's record (its revision
    raised when what delegates are told changed) and every delegate's invitation state (its revision raised
    on each uninvite and re-invite). Both only grow, so the SEQUENCE built from them never falls."""

    sessions: dict[str, SessionRecord]
    changed: dict[str, SessionRecord]
    """The records to write: new sessions and sessions whose announced facts changed."""
    snapshots: dict[str, dict[str, Any]]
    recipients: dict[str, dict[str, RecipientRecord]] = field(default_factory=dict)
    transitions: dict[tuple[str, str], RecipientRecord] = field(default_factory=dict)
    """The recipient states to write: (session, delegate) invited again or uninvited."""

    def sequence(self, session_id: str, delegate_id: str) -> int:
        """The SEQUENCE a calendar message to this delegate about this session carries now."""
        record = self.recipients.get(session_id, {}).get(delegate_id)
        return self.sessions[session_id].sequence + (record.revision if record else 0)

    def holders(self, session_id: str) -> frozenset[str]:
        """The delegates whose calendar holds the invitation (sent, not cancelled since)."""
        return frozenset(d for d, r in self.recipients.get(session_id, {}).items() if r.holds)


def announce(deployment: Deployment, ledger: Ledger, now: datetime) -> Announced:
    """Work out the revisions this configuration implies, from what the ledger says was announced."""
    sessions: dict[str, SessionRecord] = {}
    changed: dict[str, SessionRecord] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    recipients: dict[str, dict[str, RecipientRecord]] = {}
    transitions: dict[tuple[str, str], RecipientRecord] = {}
    for session_id in deployment.sessions:
        fingerprint, snap = session_digest(deployment, session_id)
        snapshots[session_id] = snap
        old = ledger.sessions.get(session_id)
        if old is not None and old.digest == fingerprint:
            sessions[session_id] = old
        else:
            revision = 0 if old is None else old.sequence + 1
            sessions[session_id] = changed[session_id] = SessionRecord(fingerprint, snap, revision, now)
        invited = set(deployment.invitations[session_id])
        held = dict(ledger.recipients.get(session_id, {}))
        for delegate_id, record in list(held.items()):
            if record.invited != (delegate_id in invited):
                record = RecipientRecord(not record.invited, record.revision + 1, record.holds, record.sequence)
                held[delegate_id] = transitions[(session_id, delegate_id)] = record
        recipients[session_id] = held
    return Announced(sessions, changed, snapshots, recipients, transitions)


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%MZ")


def plan(
    deployment: Deployment, now: datetime, ledger: Ledger | None = None, announced: Announced | None = None
) -> list[Notice]:
    """Return every notice still to be sent or recorded, ordered by due time, with stable keys.

    The ledger holds the keys of notices already settled (delivered, failed for good, recorded as stale),
    which are not planned again, who was sent each session's invitation, and what was last announced
    about each session (a change since then is told by an update). A notice whose time has passed is
    ``due`` (send now) while still useful and ``stale`` (record, do not send) when not — see
    docs/planning.md for the rule.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    ledger = ledger or Ledger()
    with paused_gc():
        return _plan(deployment, now, ledger, announced or announce(deployment, ledger, now))


def session_digest(deployment: Deployment, session_id: str) -> tuple[str, dict[str, object]]:
    """The fingerprint and snapshot of what a session's notices announce (in the working language)."""
    snap = snapshot(deployment.sessions[session_id], deployment.commission.language)
    return digest(snap), snap


def _plan(deployment: Deployment, now: datetime, ledger: Ledger, announced: Announced) -> list[Notice]:
    settled = ledger.settled
    order = {d: i for i, d in enumerate(deployment.delegates)}
    channels = {d.id: d.channels for d in deployment.delegates.values()}
    notices: list[tuple[tuple[datetime, int, int, str, int], Notice]] = []
    for s_index, session in enumerate(deployment.sessions.values()):
        invitees = [deployment.delegates[d] for d in deployment.invitations[session.id]]
        for slot in _slots(deployment, session, now, announced):
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
            details = slot.details or {}
            for delegate in recipients:
                detail = details.get(delegate.id, slot.detail)
                key = (
                    prefix + delegate.id
                    if detail == slot.detail
                    else notice_key(session.id, slot.kind, delegate.id, detail)
                )
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
                    detail=detail,
                    sequence=announced.sequence(session.id, delegate.id) if slot.calendar else None,
                )
                notices.append(((slot.due_at, s_index, rank, slot.detail, order[delegate.id]), notice))
            for index, outside in enumerate(slot.outside):
                if prefix + outside in settled:
                    continue
                notice = Notice(
                    key=prefix + outside,
                    kind=slot.kind,
                    session_id=session.id,
                    delegate_id=outside,
                    due_at=slot.due_at,
                    channels=("telegram",),
                    status=slot.status,
                    detail=slot.detail,
                )
                notices.append(((slot.due_at, s_index, rank, slot.detail, len(order) + index), notice))
    notices.sort(key=lambda item: item[0])
    return [notice for _, notice in notices]


def _slots(deployment: Deployment, session: Session, now: datetime, announced: Announced) -> list[_Slot]:
    """The notices of one session, with their due time and catch-up status.

    Keys follow revisions: an update or a cancellation of the session carries the session's revision
    (``r3``), a cancellation after uninviting and a second invitation carry the delegate's (``u1``, ``i2``), so
    that every step of A → B → A → B, cancel → restore → cancel, uninvite → re-invite is told.
    """
    start, end = session.starts_at, session.ends_at
    record = announced.sessions[session.id]
    revision = f"r{record.sequence}"
    holders = announced.holders(session.id)
    states = announced.recipients.get(session.id, {})
    now_status = NoticeStatus.DUE if now < end else NoticeStatus.STALE
    if session.status is SessionStatus.CANCELLED:
        if not holders:
            return []
        return [
            _Slot(
                NoticeKind.CANCELLATION,
                revision,
                now,
                now_status,
                only=frozenset(),
                others=tuple(sorted(holders)),
                calendar=True,
            )
        ]

    slots: list[_Slot] = []
    # An update goes to the invited who were told of the session: those who hold it, and those who hold its
    # cancellation (a session restored); not to someone uninvited and invited again (a new invitation does).
    told = frozenset(
        d for d, r in states.items() if r.invited and r.sequence is not None and (r.holds or r.revision == 0)
    )
    if told and session.id in announced.changed and record.sequence > 0:
        slots.append(_Slot(NoticeKind.UPDATE, revision, now, now_status, only=told, calendar=True))
    uninvited = sorted(d for d in holders if not states[d].invited)
    if uninvited:
        slots.append(
            _Slot(
                NoticeKind.CANCELLATION,
                "",
                now,
                now_status,
                only=frozenset(),
                others=tuple(uninvited),
                details={d: f"u{states[d].revision}" for d in uninvited},
                calendar=True,
            )
        )
    if session.status is SessionStatus.POSTPONED:
        return slots

    policy = session.policy

    def until(due: datetime, useful_until: datetime) -> NoticeStatus:
        if due >= now:
            return NoticeStatus.SCHEDULED
        return NoticeStatus.DUE if now < useful_until else NoticeStatus.STALE

    if policy.invitation is not None:
        due = start - policy.invitation
        again = {d: f"i{r.revision}" for d, r in states.items() if r.invited and r.revision}
        slots.append(_Slot(NoticeKind.INVITATION, "", due, until(due, start), details=again or None, calendar=True))
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

    if policy.summary is not None and session.reviewed:  # the draft; the summary goes out once it is published
        due = end + policy.summary
        admins = tuple(chat_recipient(a) for a in deployment.commission.secretariat.telegram_admins)
        status = until(due, end + SUMMARY_USEFUL_FOR)
        slots.append(_Slot(NoticeKind.SUMMARY, DRAFT, due, status, only=frozenset(), outside=admins))
    elif policy.summary is not None and policy.summary_to:
        due = end + policy.summary
        slots.append(
            _Slot(NoticeKind.SUMMARY, "", due, until(due, end + SUMMARY_USEFUL_FOR), roles=frozenset(policy.summary_to))
        )
    return slots
