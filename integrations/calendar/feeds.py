"""ICS feeds: a delegate's sessions and deadlines, as calendar clients poll them (RFC 5545, RFC 7986)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from domain.deployment import Deployment
from domain.ledger import SessionRecord
from domain.model import Session, SessionStatus
from domain.values import localize
from integrations.calendar.events import calendar, deadline_event, session_event, to_bytes

REFRESH = timedelta(hours=1)


def feed_sessions(
    deployment: Deployment, delegate_ids: set[str], now: datetime, keep_cancelled: timedelta
) -> list[Session]:
    """The sessions a feed shows: those inviting any of the delegates, and the sessions related to them.

    A cancelled session stays (struck through by clients) until ``keep_cancelled`` after its end: an event
    that simply disappears is dropped silently by some clients.
    """
    chosen: dict[str, Session] = {}
    for session in deployment.sessions.values():
        if delegate_ids & set(deployment.invitations[session.id]):
            chosen[session.id] = session
    for session in list(chosen.values()):
        for related in session.related:
            if related in deployment.sessions:
                chosen.setdefault(related, deployment.sessions[related])
    return [
        s
        for s in deployment.sessions.values()
        if s.id in chosen and not (s.status is SessionStatus.CANCELLED and s.ends_at + keep_cancelled < now)
    ]


def personal_feed(
    deployment: Deployment,
    sessions: list[Session],
    records: Mapping[str, SessionRecord],
    *,
    language: str,
    stamp: datetime,
    heads_only_deadlines: bool,
) -> bytes:
    """The feed's bytes: one VEVENT per session and per deadline, one VTIMEZONE per zone, no METHOD.

    ``stamp`` is the DTSTAMP of events whose session has no record yet.
    """
    commission = deployment.commission
    events = []
    for session in sessions:
        record = records.get(session.id)
        sequence = record.sequence if record else 0
        modified = record.updated_at if record else None
        # DTSTAMP of a published event is when its information last changed: the same bytes on every poll.
        event_stamp = modified or stamp
        join = session.video.url if session.video is not None and session.is_remote else None
        events.append(
            session_event(
                deployment,
                session,
                language=language,
                sequence=sequence,
                stamp=event_stamp,
                last_modified=modified,
                join_url=join,
            )
        )
        for deadline in session.deadlines:
            if deadline.audience == "heads" and not heads_only_deadlines:
                continue
            events.append(
                deadline_event(
                    deployment,
                    session,
                    deadline,
                    language=language,
                    sequence=sequence,
                    stamp=event_stamp,
                    last_modified=modified,
                )
            )
    name = localize(commission.short_name or commission.name, language, commission.language)
    return to_bytes(calendar(events, method=None, name=name, refresh_interval=REFRESH, url=commission.website))
