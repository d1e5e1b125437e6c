"""The overlap check: sessions that run at the same time and share delegates, one warning per session."""

from __future__ import annotations

import heapq
from datetime import datetime

from domain.model import Session, SessionStatus

Path = tuple[str | int, ...]
_Problem = tuple[Path, str]

_EXACT_UP_TO = 10
"""Up to this many sessions running at once, each is compared with the new one; beyond, a summary is given."""


def overlaps(
    sessions: dict[str, Session], invitations: dict[str, tuple[str, ...]], paths: dict[str, Path]
) -> list[_Problem]:
    """Return (path, message) for each session that starts while others run and shares delegates with them.

    A sweep in start order: the running sessions are a heap by end, and each delegate's latest-ending session
    so far says at once whether they are double-booked; the work is linear in the invitations.
    """
    live = sorted(
        (s for s in sessions.values() if s.status is SessionStatus.SCHEDULED and s.ends_at > s.starts_at),
        key=lambda s: (s.starts_at, s.id),
    )
    problems: list[_Problem] = []
    running: list[tuple[datetime, int, Session]] = []
    """The sessions that started before and have not ended, as a heap by end."""
    latest: dict[str, tuple[datetime, int, Session]] = {}
    """For each delegate, of their sessions so far, the one that ends last."""
    for order, session in enumerate(live):
        while running and running[0][0] <= session.starts_at:
            heapq.heappop(running)
        invited = invitations.get(session.id, ())
        clashing = [d for d in invited if d in latest and latest[d][0] > session.starts_at]
        if clashing:
            message = _overlap_message(session, clashing, running, latest, invitations)
            problems.append(((*paths[session.id], "start"), message))
        entry = (session.ends_at, order, session)
        for d in invited:
            if d not in latest or session.ends_at > latest[d][0]:
                latest[d] = entry
        heapq.heappush(running, entry)
    return problems


def _overlap_message(
    session: Session,
    clashing: list[str],
    running: list[tuple[datetime, int, Session]],
    latest: dict[str, tuple[datetime, int, Session]],
    invitations: dict[str, tuple[str, ...]],
) -> str:
    """Say which running sessions a session overlaps and which of its delegates are invited to one of them."""
    if len(running) > _EXACT_UP_TO:
        known = sorted({latest[d][1]: latest[d][2] for d in clashing}.items())
        among = _listed([repr(s.id) for _, s in known], 3)
        return (
            f"overlaps {len(running):,} sessions running at the same time (among them {among}), and "
            f"{len(clashing)} delegate(s) invited to it are invited to one of those too: {_listed(clashing, 5)}"
        )
    sharing: list[tuple[Session, list[str]]] = []
    for _, _, other in sorted(running, key=lambda entry: entry[1]):
        theirs = set(invitations.get(other.id, ()))
        both = [d for d in invitations.get(session.id, ()) if d in theirs]
        if both:
            sharing.append((other, both))
    if len(sharing) == 1:
        other, both = sharing[0]
        return f"overlaps {other.id!r}, and {len(both)} delegate(s) are invited to both: {_listed(both, 5)}"
    names = _listed([repr(other.id) for other, _ in sharing], 3)
    return (
        f"overlaps {names}, and {len(clashing)} delegate(s) are invited to it and to one of them: "
        f"{_listed(clashing, 5)}"
    )


def _listed(names: list[str], most: int) -> str:
    """Name the first few, then say how many more: ``a, b, c and 4 more``."""
    more = len(names) - most
    return ", ".join(names[:most]) + (f" and {more} more" if more > 0 else "")
