"""What changed between two published versions of a session's summary: the corrected summary names it.

Only what a reader would notice counts: a delegate's presence or minutes on the call, a state's being
represented, the quorum, the decisions and assignments of an agenda item. The moment a summary was composed
at, and the hash of the events, are not differences of their own (the hash changes with any of these).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from domain.summary import DelegateLine, Summary

FINGERPRINT_CHARS = 12
"""Hex characters of a summary's fingerprint (48 bits: a button's data has room for it)."""


@dataclass(frozen=True, slots=True)
class Difference:
    """One change: ``kind`` is ``presence`` (``subject`` a delegate's id), ``represented`` (a state's code),
    ``quorum``, or ``outcomes`` (an agenda item's number); ``before`` and ``after`` as the summaries said."""

    kind: str
    subject: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class Correction:
    """A corrected summary's account of itself: when the version it corrects was published, and what changed."""

    previous_at: datetime
    differences: tuple[Difference, ...]


def same(old: Summary, new: Summary) -> bool:
    """Whether the two say the same (whenever each was composed)."""
    return old.model_dump(exclude={"composed_at"}) == new.model_dump(exclude={"composed_at"})


def fingerprint(summary: Summary) -> str:
    """A short digest of what the summary says (whenever it was composed): a draft's Publish button carries it,
    so that what is published is what was reviewed."""
    said = summary.model_dump_json(exclude={"composed_at"})
    return hashlib.sha256(said.encode()).hexdigest()[:FINGERPRINT_CHARS]


def differences(old: Summary, new: Summary) -> list[Difference]:
    """What a reader of ``old`` finds otherwise in ``new``, in the order of the summary."""
    found: list[Difference] = []
    before, after = _lines(old), _lines(new)
    for delegate_id, line in after.items():
        was = before.get(delegate_id)
        if was is None or (was.presence, was.minutes) != (line.presence, line.minutes):
            found.append(Difference("presence", delegate_id, _presence(was) if was else "", _presence(line)))
    states = {s.code: s.represented for s in old.states}
    for state in new.states:
        if states.get(state.code) is not None and states[state.code] != state.represented:
            found.append(Difference("represented", state.code, str(states[state.code]), str(state.represented)))
    if new.quorum is not None and (old.quorum is None or old.quorum.met != new.quorum.met):
        found.append(Difference("quorum", "", str(old.quorum.met if old.quorum else ""), str(new.quorum.met)))
    items = {i.number: i for i in old.agenda}
    for item in new.agenda:
        was_item = items.get(item.number)
        if was_item is None or (was_item.decisions, was_item.assignments) != (item.decisions, item.assignments):
            found.append(Difference("outcomes", str(item.number), "", ""))
    return found


def _lines(summary: Summary) -> dict[str, DelegateLine]:
    return {d.id: d for s in summary.states for a in s.agencies for d in a.delegates}


def _presence(line: DelegateLine) -> str:
    return line.presence if line.presence not in ("remote", "briefly") else f"{line.presence}:{line.minutes:g}"
