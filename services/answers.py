"""Recording a delegate's answer to an invitation, from whatever they answered with."""

from __future__ import annotations

from domain.events import AnswerRecorded
from domain.ports import Answers, Clock, EventSink
from domain.records import Rsvp, RsvpAnswer


class AnswerService:
    """One answer per delegate and session, the latest; every answer is an event the feeds follow."""

    def __init__(self, answers: Answers, events: EventSink, clock: Clock) -> None:
        self.answers, self.events, self.clock = answers, events, clock

    async def record(
        self,
        session_id: str,
        delegate_id: str,
        answer: RsvpAnswer,
        *,
        substitute_id: str | None = None,
        comment: str | None = None,
    ) -> Rsvp:
        """Record the answer (replacing an earlier one) and publish it."""
        rsvp = Rsvp(
            session_id=session_id,
            delegate_id=delegate_id,
            answer=answer,
            substitute_id=substitute_id,
            comment=comment,
            answered_at=self.clock.now(),
        )
        await self.answers.record(rsvp)
        await self.events.publish(AnswerRecorded(session_id, delegate_id, answer.value))
        return rsvp
