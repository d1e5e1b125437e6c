"""Recording the Accept / Decline / Tentative a delegate pressed in their calendar (an iMIP reply read back from
the secretariat's mailbox) as their answer, through the same answer service as the bot and the answer page.

The reply names the event (its UID, ``<session>@<commission>.plenary``) and answers for one address (its
ATTENDEE). Only a delegate invited to that session with that address is answered for: a reply for anyone else —
a colleague who accepted a forwarded invitation — is recorded as nobody's answer, and the secretariat is told. A
reply to an older SEQUENCE than the delegate last received is recorded all the same (it is still their latest
word), with a note saying so. Accept means in person for a session held in person, remotely for one by video,
and "attending, how not said" for a hybrid one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from domain.deployment import Deployment
from domain.events import CalendarReplyRefused
from domain.model import Session, SessionFormat, SessionStatus
from domain.ports import Announcements, Clock, EventSink
from domain.records import RsvpAnswer, RsvpSource
from domain.uids import session_of
from services.answers import AnswerService


class Replied(StrEnum):
    """What became of a calendar reply."""

    RECORDED = "recorded"
    UNCHANGED = "unchanged"
    NOT_INVITED = "not_invited"
    """Nobody invited to the session has the address it answers for (a forwarded invitation)."""
    UNKNOWN_EVENT = "unknown_event"
    """Not one of this commission's sessions (another organizer's event, a deadline, a session removed)."""
    CLOSED = "closed"
    """Past the session's cut-off, or the session no longer takes place."""
    IGNORED = "ignored"
    """A participation status that is no answer (NEEDS-ACTION, DELEGATED)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A calendar reply as the mailbox reader found it (``integrations.email.replies.CalendarReply``)."""

    uid: str
    sequence: int
    attendee: str
    partstat: str


def answer_for(partstat: str, session: Session) -> RsvpAnswer | None:
    """The answer a participation status gives for a session's format; None for one that is no answer."""
    if partstat == "DECLINED":
        return RsvpAnswer.NOT_ATTENDING
    if partstat == "TENTATIVE":
        return RsvpAnswer.TENTATIVE
    if partstat != "ACCEPTED":
        return None
    if session.format is SessionFormat.VIDEO:
        return RsvpAnswer.REMOTE
    if session.format is SessionFormat.IN_PERSON:
        return RsvpAnswer.IN_PERSON
    return RsvpAnswer.ATTENDING


class CalendarReplies:
    """Turns calendar replies into answers."""

    def __init__(
        self,
        answers: AnswerService,
        announcements: Announcements,
        events: EventSink,
        clock: Clock,
        deployment: Callable[[], Deployment | None],
    ) -> None:
        self.answers, self.announcements, self.events = answers, announcements, events
        self.clock, self.deployment = clock, deployment

    async def record(self, reply: Reply) -> Replied:
        """Record one reply as its invitee's answer, when it is one; say what became of it."""
        deployment = self.deployment()
        session = self._session(deployment, reply.uid) if deployment is not None else None
        if deployment is None or session is None:
            return Replied.UNKNOWN_EVENT
        address = reply.attendee.strip().lower()
        delegate = next(
            (
                deployment.delegates[d]
                for d in deployment.invitations.get(session.id, ())
                if (deployment.delegates[d].email or "").lower() == address
            ),
            None,
        )
        if delegate is None:
            await self.events.publish(CalendarReplyRefused(session.id, address, Replied.NOT_INVITED.value))
            return Replied.NOT_INVITED
        answer = answer_for(reply.partstat.upper(), session)
        if answer is None:
            return Replied.IGNORED
        if session.status is not SessionStatus.SCHEDULED or self.clock.now() >= session.answers_close_at:
            return Replied.CLOSED
        current = await self.answers.current(session.id, delegate.id)
        if current is not None and current.answer is answer and current.substitute_id is None:
            return Replied.UNCHANGED
        held = (await self.announcements.recipients([session.id])).get(session.id, {}).get(delegate.id)
        comment = None
        if held is not None and held.sequence is not None and reply.sequence < held.sequence:
            comment = f"calendar reply to an older invitation (SEQUENCE {reply.sequence} < {held.sequence})"
        await self.answers.record(session.id, delegate.id, answer, comment=comment, source=RsvpSource.CALENDAR)
        return Replied.RECORDED

    @staticmethod
    def _session(deployment: Deployment, uid: str) -> Session | None:
        session_id = session_of(uid, deployment.commission.id)
        return deployment.sessions.get(session_id) if session_id is not None else None
