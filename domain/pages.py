"""What a delegate's answer page shows: the session, the answers it takes, the one on record, the outcome."""

from __future__ import annotations

from dataclasses import dataclass

from domain.deployment import Deployment
from domain.model import Delegate, Session
from domain.records import Rsvp, RsvpAnswer


@dataclass(frozen=True, slots=True)
class AnswerPage:
    """One delegate's page for one session, as the answer service sees it now."""

    token: str
    deployment: Deployment
    delegate: Delegate
    session: Session
    offered: tuple[RsvpAnswer, ...]
    """The answers the session's format takes, in the order they are offered."""
    current: Rsvp | None
    answering: bool
    """Whether answers are still taken (before the session's ``answers_until``)."""
    substitutes: tuple[Delegate, ...]
    """Members of the delegate's delegation who are not invited: who could be sent instead."""
    outcome: str | None = None
    """What became of the answer just sent (``services.answers.Answer``'s value); None when only opened."""
