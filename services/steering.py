"""What the secretariat does from the chat: answers by state and agency, nudges, broadcasts, closing a session.

Every attempt, allowed or not, is in the audit log under the Telegram account that made it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain.deployment import Deployment
from domain.events import SessionClosed
from domain.model import Delegate, Session, SessionStatus
from domain.notices import NoticeKind
from domain.outbox import due_now
from domain.ports import Answers, Audit, Broadcasts, Clock, Closures, EventSink, Nudges, Outbox
from domain.records import AuditEntry, Broadcast, RsvpAnswer, RsvpSource

BROADCAST_LIMIT = 3000
"""The longest message the secretariat can broadcast, in characters (a Telegram message holds 4,096 with the
title and the rest)."""
NUDGE_EVERY = timedelta(days=1)
"""A delegate is nudged to answer at most once in this time."""


@dataclass(frozen=True, slots=True)
class Group:
    """One state, or one agency of a state: how many of its invited delegates gave each answer."""

    state: str
    agency: str | None
    counts: Counter[RsvpAnswer | None] = field(default_factory=Counter)
    """Answers by kind; None counts those who have not answered."""


@dataclass(frozen=True, slots=True)
class Status:
    """A session's answers by state and agency, and who has not answered."""

    session: Session
    groups: tuple[Group, ...]
    silent: tuple[Delegate, ...]
    sources: Counter[RsvpSource] = field(default_factory=Counter)
    """Where the answers on record were given (the latest of each delegate)."""

    @property
    def counts(self) -> Counter[RsvpAnswer | None]:
        """All answers together."""
        total: Counter[RsvpAnswer | None] = Counter()
        for group in self.groups:
            if group.agency is None:
                total.update(group.counts)
        return total


@dataclass(frozen=True, slots=True)
class Nudged:
    """How many were nudged, and how many were left out because they were nudged within a day."""

    nudged: int
    recently: int


class SteeringService:
    """The secretariat's commands, behind the check that the account is one of the secretariat's."""

    def __init__(
        self,
        answers: Answers,
        nudges: Nudges,
        outbox: Outbox,
        audit: Audit,
        clock: Clock,
        deployment: Callable[[], Deployment | None],
        broadcasts: Broadcasts,
        closures: Closures,
        events: EventSink,
    ) -> None:
        self.answers, self.nudges, self.outbox, self.audit = answers, nudges, outbox, audit
        self.clock, self.deployment = clock, deployment
        self.broadcasts, self.closures, self.events = broadcasts, closures, events

    def admits(self, telegram_user_id: int) -> bool:
        """Whether a Telegram account is one of the secretariat's (``secretariat.telegram_admins``)."""
        deployment = self.deployment()
        return deployment is not None and telegram_user_id in deployment.commission.secretariat.telegram_admins

    async def attempt(self, telegram_user_id: int, command: str, subject: str = "", **details: object) -> bool:
        """Record an attempt at a secretariat command in the audit log; whether the account may make it."""
        allowed = self.admits(telegram_user_id)
        entry = AuditEntry(
            at=self.clock.now(),
            actor=f"telegram:{telegram_user_id}",
            action=f"secretariat.{command}",
            subject=subject,
            details={**details, "allowed": allowed},
        )
        await self.audit.append(entry)
        return allowed

    def session(self, session_id: str | None) -> Session | None:
        """The session named, or the next one not yet ended (the one in progress first)."""
        deployment = self.deployment()
        if deployment is None:
            return None
        if session_id:
            return deployment.sessions.get(session_id)
        now = self.clock.now()
        upcoming = [s for s in deployment.sessions.values() if s.ends_at > now and s.status is SessionStatus.SCHEDULED]
        return min(upcoming, key=lambda s: s.starts_at, default=None)

    async def status(self, session: Session) -> Status:
        """Answers by state and by agency, and the invited delegates who have not answered."""
        deployment = self.deployment()
        assert deployment is not None
        recorded = {r.delegate_id: r for r in await self.answers.for_session(session.id)}
        groups: dict[tuple[str, str | None], Counter[RsvpAnswer | None]] = defaultdict(Counter)
        silent, sources = [], Counter[RsvpSource]()
        for delegate_id in deployment.invitations.get(session.id, ()):
            delegate = deployment.delegates[delegate_id]
            rsvp = recorded.get(delegate_id)
            answer = rsvp.answer if rsvp is not None else None
            if rsvp is not None:
                sources[rsvp.source] += 1
            groups[(delegate.state, None)][answer] += 1
            if delegate.agency:
                groups[(delegate.state, delegate.agency)][answer] += 1
            if answer is None:
                silent.append(delegate)
        ordered = sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or ""))
        return Status(session, tuple(Group(s, a, c) for (s, a), c in ordered), tuple(silent), sources)

    async def remind(self, session: Session) -> Nudged:
        """Nudge those invited who have not answered, each at most once a day, through the outbox."""
        status = await self.status(session)
        now = self.clock.now()
        last = await self.nudges.last(session.id)
        due = [d for d in status.silent if d.id not in last or now - last[d.id] >= NUDGE_EVERY]
        day = now.strftime("%Y%m%d")
        items = [due_now(NoticeKind.NUDGE, session.id, d.id, d.channels, now, day) for d in due]
        if items:
            await self.outbox.enqueue(items, now)
            await self.nudges.record(session.id, [d.id for d in due], now)
        return Nudged(len(due), len(status.silent) - len(due))

    def invited(self, session: Session) -> tuple[str, ...]:
        """Who a broadcast about a session reaches."""
        deployment = self.deployment()
        return deployment.invitations.get(session.id, ()) if deployment is not None else ()

    async def write(self, telegram_user_id: int, session: Session, text: str) -> Broadcast:
        """Keep a message to everyone invited, to be shown back before it is confirmed."""
        written_by = f"telegram:{telegram_user_id}"
        broadcast_id = await self.broadcasts.write(session.id, text[:BROADCAST_LIMIT], written_by, self.clock.now())
        broadcast = await self.broadcasts.get(broadcast_id)
        assert broadcast is not None
        return broadcast

    async def send(self, telegram_user_id: int, broadcast_id: int) -> tuple[Broadcast | None, int, bool]:
        """Queue a confirmed message for everyone invited: (the message, how many, whether this press sent it).

        The notices are queued before the message is marked sent (their keys make a second queueing
        harmless): a crash between the two loses nothing, and a second press sends nothing twice.
        """
        broadcast = await self.broadcasts.get(broadcast_id)
        deployment = self.deployment()
        session = deployment.sessions.get(broadcast.session_id) if broadcast and deployment else None
        if broadcast is None or session is None or deployment is None:
            return None, 0, False
        if broadcast.sent_at is not None:
            return broadcast, broadcast.recipients or 0, False
        now = self.clock.now()
        invited = [deployment.delegates[d] for d in self.invited(session)]
        text = {"text": broadcast.text}
        items = [
            due_now(NoticeKind.BROADCAST, session.id, d.id, d.channels, now, str(broadcast.id), text) for d in invited
        ]
        await self.outbox.enqueue(items, now)
        sent = await self.broadcasts.mark_sent(broadcast.id, f"telegram:{telegram_user_id}", now, len(items))
        return broadcast, len(items), sent

    async def close(self, telegram_user_id: int, session: Session) -> tuple[bool, datetime]:
        """Close a session now: (whether this closed it, when it was closed)."""
        now = self.clock.now()
        closed = await self.closures.close(session.id, f"telegram:{telegram_user_id}", now)
        if closed:
            await self.events.publish(SessionClosed(session.id))
            return True, now
        return False, await self.closures.closed_at(session.id) or now
