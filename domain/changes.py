"""What delegates were told about a session, and what changed since: the rule behind update notices."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from domain.delivery import Change
from domain.deployment import Deployment
from domain.ledger import Ledger
from domain.model import Session
from domain.values import localize

# The fields whose change a delegate is told about, in the order an update lists them.
ANNOUNCED = ("status", "title", "start", "end", "timezone", "format", "venue", "video", "agenda")


def snapshot(session: Session, language: str) -> dict[str, Any]:
    """The facts of a session a delegate was told, as plain JSON-able values (texts in ``language``)."""
    venue = session.venue
    return {
        "status": session.status.value,
        "title": localize(session.title, language),
        "start": session.start.isoformat(timespec="minutes"),
        "end": session.end.isoformat(timespec="minutes"),
        "timezone": session.timezone,
        "format": session.format.value,
        "venue": ", ".join(
            localize(part, language) for part in (venue.name, venue.room, venue.address, venue.city) if part
        )
        if venue
        else "",
        "video": (session.video.url or session.video.provider) if session.video else "",
        "agenda": [localize(item.title, language) for item in session.agenda],
    }


def digest(snap: dict[str, Any]) -> str:
    """A short stable fingerprint of a snapshot."""
    canonical = json.dumps(snap, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def changes(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """List what differs between two snapshots, in announcement order; the agenda as its item count."""
    out: list[Change] = []
    for name in ANNOUNCED:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if name == "agenda":
            out.append(Change(name, "\n".join(before or []), "\n".join(after or [])))
        else:
            out.append(Change(name, str(before or ""), str(after or "")))
    return out


def removed_announced(deployment: Deployment, ledger: Ledger) -> list[str]:
    """What an edit removed although delegates hold its invitation; such an edit is refused, with what to do.

    A session or delegate that simply vanished could not be told anything: a cancellation needs the
    session's title and time and the delegate's address and language. Cancel first, remove afterwards.
    """
    problems: list[str] = []
    for session_id, told in sorted(ledger.told.items()):
        if not told:
            continue
        record = ledger.sessions.get(session_id)
        cancelled = record is not None and record.snapshot.get("status") == "cancelled"
        if session_id not in deployment.sessions:
            if not cancelled:
                problems.append(
                    f"session {session_id!r} was removed, but {len(told)} delegate(s) hold its invitation: "
                    "keep it with `status: cancelled` so that they are sent the cancellation, and remove it "
                    "once the cancellations are sent"
                )
            continue
        gone = sorted(d for d in told if d not in deployment.delegates)
        if gone and deployment.sessions[session_id].status.value != "cancelled":
            problems.append(
                f"delegate(s) {', '.join(gone)} were removed, but hold the invitation to {session_id!r}: keep them "
                "and leave them out of the session (`invited.exclude`) so that they are sent the cancellation, "
                "and remove them once it is sent"
            )
    return problems
