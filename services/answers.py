"""Recording a delegate's answer to an invitation, from whatever they answered with.

The bot's buttons (and, later, the answer page and the calendar's replies) call ``answer``: it checks that
the delegate is invited, that the session's format allows the answer and that answers are still open, and
records it with its source and time. The latest answer wins; every one is kept in the history.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.deployment import Deployment
from domain.events import AnswerRecorded
from domain.model import Session, SessionFormat, SessionStatus
from domain.ports import Answers, Clock, EventSink, Transactions
from domain.records import Rsvp, RsvpAnswer, RsvpSource
from services.batches import GroupCommit


class Answer(StrEnum):
    """What became of an answer."""

    RECORDED = "recorded"
    UNCHANGED = "unchanged"
    """The same answer as the one on record: nothing changed."""
    CLOSED = "closed"
    """Past the session's cut-off (``answers_until``, by default its start)."""
    NOT_ALLOWED = "not_allowed"
    """The session's format does not take it (in person to a video session)."""
    NOT_INVITED = "not_invited"
    NOT_SCHEDULED = "not_scheduled"
    """The session was cancelled or postponed, or is no longer in the configuration."""


@dataclass(frozen=True, slots=True)
class Answered:
    """The outcome of an answer, and the answer on record afterwards."""

    outcome: Answer
    current: Rsvp | None


def choices(session: Session) -> tuple[RsvpAnswer, ...]:
    """The answers a session's format allows, in the order they are offered."""
    offered: list[RsvpAnswer] = []
    if session.format is not SessionFormat.VIDEO:
        offered.append(RsvpAnswer.IN_PERSON)
    if session.is_remote:
        offered.append(RsvpAnswer.REMOTE)
    return (*offered, RsvpAnswer.NOT_ATTENDING, RsvpAnswer.SUBSTITUTE)


@dataclass(frozen=True, slots=True)
class _Asked:
    """An answer a delegate gave, waiting to be decided and recorded."""

    session: Session
    delegate_id: str
    answer: RsvpAnswer
    source: RsvpSource
    substitute_id: str | None

    @property
    def key(self) -> tuple[str, str]:
        return self.session.id, self.delegate_id


def _decide(asked: _Asked, current: Rsvp | None, now: datetime) -> Answer:
    """What becomes of an answer, given the one on record."""
    if asked.answer not in choices(asked.session):
        return Answer.NOT_ALLOWED
    if current is not None and current.answer is asked.answer and current.substitute_id == asked.substitute_id:
        return Answer.UNCHANGED
    if now >= asked.session.answers_close_at:
        return Answer.CLOSED
    return Answer.RECORDED


class AnswerService:
    """One answer per delegate and session, the latest; every answer is an event the feeds follow."""

    def __init__(
        self,
        answers: Answers,
        events: EventSink,
        clock: Clock,
        deployment: Callable[[], Deployment | None] = lambda: None,
        transactions: Transactions | None = None,
    ) -> None:
        self.answers, self.events, self.clock, self.deployment = answers, events, clock, deployment
        self.transactions = transactions
        self._together = GroupCommit(self._settle)

    def _transaction(self) -> AbstractAsyncContextManager[None]:
        return self.transactions() if self.transactions is not None else contextlib.nullcontext()

    async def current(self, session_id: str, delegate_id: str) -> Rsvp | None:
        """The answer on record, if any."""
        return await self.answers.get(session_id, delegate_id)

    async def answer(
        self,
        session_id: str,
        delegate_id: str,
        answer: RsvpAnswer,
        source: RsvpSource,
        *,
        substitute_id: str | None = None,
    ) -> Answered:
        """Record a delegate's own answer when the session takes it; say why not otherwise. The answer on record
        is read, and the new one recorded with its history and its change event, in one transaction; answers
        given at the same moment share it (``GroupCommit``), unless the caller is in a transaction of its own."""
        deployment = self.deployment()
        session = deployment.sessions.get(session_id) if deployment is not None else None
        if deployment is None or session is None or session.status is not SessionStatus.SCHEDULED:
            return Answered(Answer.NOT_SCHEDULED, await self.current(session_id, delegate_id))
        if not deployment.is_invited(session_id, delegate_id):
            return Answered(Answer.NOT_INVITED, await self.current(session_id, delegate_id))
        asked = _Asked(session, delegate_id, answer, source, substitute_id)
        if self.transactions is None or self.transactions.active():
            return (await self._settle([asked]))[0]
        return await self._together(asked)

    async def _settle(self, batch: Sequence[_Asked]) -> list[Answered]:
        """Decide and record answers in their order, in one transaction: read together, written together."""
        async with self._transaction():
            current = await self.answers.get_many(asked.key for asked in batch)
            outcomes: list[Answered] = []
            rsvps: list[Rsvp] = []
            events: list[AnswerRecorded] = []
            now = self.clock.now()
            for asked in batch:
                outcome = _decide(asked, current.get(asked.key), now)
                if outcome is Answer.RECORDED:
                    rsvp, event = self._made(
                        asked.session.id, asked.delegate_id, asked.answer, asked.substitute_id, None, asked.source
                    )
                    current[asked.key] = rsvp
                    rsvps.append(rsvp)
                    events.append(event)
                outcomes.append(Answered(outcome, current.get(asked.key)))
            await self.answers.record_many(rsvps)
            await self.events.publish_many(events)
        return outcomes

    async def record(
        self,
        session_id: str,
        delegate_id: str,
        answer: RsvpAnswer,
        *,
        substitute_id: str | None = None,
        comment: str | None = None,
        source: RsvpSource = RsvpSource.SECRETARIAT,
    ) -> Rsvp:
        """Record the answer as given (replacing an earlier one) and publish it, in one transaction."""
        rsvp, recorded = self._made(session_id, delegate_id, answer, substitute_id, comment, source)
        async with self._transaction():
            await self.answers.record(rsvp)
            await self.events.publish(recorded)
        return rsvp

    def _made(
        self,
        session_id: str,
        delegate_id: str,
        answer: RsvpAnswer,
        substitute_id: str | None,
        comment: str | None,
        source: RsvpSource,
    ) -> tuple[Rsvp, AnswerRecorded]:
        rsvp = Rsvp(
            session_id=session_id,
            delegate_id=delegate_id,
            answer=answer,
            substitute_id=substitute_id,
            comment=comment,
            answered_at=self.clock.now(),
            source=source,
        )
        recorded = AnswerRecorded(
            session_id,
            delegate_id,
            answer.value,
            substitute_id=substitute_id,
            answered_at=rsvp.answered_at.isoformat(),
            source=source.value,
            comment=comment,
        )
        return rsvp, recorded
