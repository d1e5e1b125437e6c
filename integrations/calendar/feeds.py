"""ICS feeds: a delegate's sessions and deadlines, as calendar clients poll them (RFC 5545, RFC 7986)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from domain.deployment import Deployment
from domain.ledger import SessionRecord
from domain.model import Session
from domain.values import localize
from integrations.calendar.events import calendar, deadline_event, session_event, to_bytes

REFRESH = timedelta(hours=1)


def personal_feed(
    deployment: Deployment,
    sessions: list[Session],
    records: Mapping[str, SessionRecord],
    *,
    language: str,
    stamp: datetime,
    heads_only_deadlines: bool,
    notes: Mapping[str, str] | None = None,
) -> bytes:
    """The feed's bytes: one VEVENT per session and per deadline, one VTIMEZONE per zone, no METHOD.

    ``stamp`` is the DTSTAMP of events whose session has no record yet; ``notes`` adds a line to a session's
    description (the delegate's answer to its invitation).
    """
    commission = deployment.commission
    events = []
    for session in sessions:
        record = records.get(session.id)
        sequence = record.sequence if record else 0
        modified = record.updated_at if record else None
        # DTSTAMP of a published event is when its information last changed: the same bytes on every poll.
        event_stamp = modified or stamp
        join = session.shared_join_url
        events.append(
            session_event(
                deployment,
                session,
                language=language,
                sequence=sequence,
                stamp=event_stamp,
                last_modified=modified,
                join_url=join,
                description_extra=(notes or {}).get(session.id, ""),
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


PRIVATE = ("ORGANIZER", "ATTENDEE", "DESCRIPTION", "URL")
"""What the public feed never carries: people, the agenda with its presenters, links."""


def public_feed(deployment: Deployment, records: Mapping[str, SessionRecord], *, stamp: datetime) -> bytes:
    """The public calendar: title, date, place and format of the sessions marked public, nothing more."""
    commission = deployment.commission
    language = commission.language
    events = []
    for session in deployment.sessions.values():
        if not session.public:
            continue
        record = records.get(session.id)
        event = session_event(
            deployment,
            session,
            language=language,
            sequence=record.sequence if record else 0,
            stamp=record.updated_at if record else stamp,
            last_modified=record.updated_at if record else None,
        )
        for name in PRIVATE:
            event.pop(name, None)
        event.add("CATEGORIES", [session.format.value])
        events.append(event)
        for deadline in session.deadlines:
            if deadline.public:
                item = deadline_event(
                    deployment,
                    session,
                    deadline,
                    language=language,
                    sequence=record.sequence if record else 0,
                    stamp=record.updated_at if record else stamp,
                )
                for name in PRIVATE:
                    item.pop(name, None)
                events.append(item)
    name = localize(commission.short_name or commission.name, language)
    return to_bytes(calendar(events, method=None, name=name, refresh_interval=REFRESH))
