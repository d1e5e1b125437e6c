"""Corrections to a session's summary, given together (``plenary summary SESSION --edit FILE``): how delegates
took part, and decisions on agenda items. Checked whole before any is recorded."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from domain.model import Model
from domain.values import Slug


class PresenceEdit(Model):
    """How one delegate took part, whatever the check-ins and the video platform say; ``note``: why."""

    delegate: Slug
    presence: Literal["in-person", "remote", "absent"]
    note: str | None = Field(default=None, max_length=500)


class DecisionEdit(Model):
    """A decision on an agenda item (``item``: its number, from 1)."""

    item: int = Field(ge=1)
    text: str = Field(min_length=1, max_length=2000)


class SummaryEdits(Model):
    """What a file of corrections holds: ``attendance:`` and ``decisions:`` lists."""

    attendance: list[PresenceEdit] = Field(default_factory=list)
    decisions: list[DecisionEdit] = Field(default_factory=list)

    def problems(self, invited: set[str], items: int) -> list[tuple[tuple[str | int, ...], str]]:
        """What the session refuses, each with its place: a delegate it does not invite, an item not on its
        agenda (``items`` long), nothing to do."""
        found: list[tuple[tuple[str | int, ...], str]] = []
        for index, edit in enumerate(self.attendance):
            if edit.delegate not in invited:
                found.append((("attendance", index, "delegate"), f"{edit.delegate!r} is not invited to the session"))
        for index, decision in enumerate(self.decisions):
            if decision.item > items:
                refused = f"item {decision.item} is not on the agenda ({items} items)"
                found.append((("decisions", index, "item"), refused))
        if not self.attendance and not self.decisions:
            found.append(((), "no corrections: give `attendance:` or `decisions:`"))
        return found
