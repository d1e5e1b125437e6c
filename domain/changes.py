"""What delegates were told about a session, and what changed since: the rule behind update notices."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from domain.delivery import Change
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
        "video": session.video.url if session.video else "",
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
