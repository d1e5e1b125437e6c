"""The UIDs of the calendar events Plenary makes: the same on every machine, after every restart and reload, so that
a calendar's copy of an event and the reply it sends back can be matched to the session."""

from __future__ import annotations

SUFFIX = ".plenary"


def session_uid(commission_id: str, session_id: str) -> str:
    """The UID of a session's event: ``<session>@<commission>.plenary``."""
    return f"{session_id}@{commission_id}{SUFFIX}"


def deadline_uid(commission_id: str, session_id: str, deadline_id: str) -> str:
    """The UID of the event of one of a session's deadlines."""
    return f"{session_id}.{deadline_id}@{commission_id}{SUFFIX}"


def session_of(uid: str, commission_id: str) -> str | None:
    """The session whose event has this UID, for this commission; None for any other UID (a deadline's, another
    organizer's, another commission's)."""
    session_id, at, rest = uid.strip().partition("@")
    return session_id if at and session_id and rest == f"{commission_id}{SUFFIX}" else None
