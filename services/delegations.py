"""What a head of delegation does for a session: sees the members' answers, confirms, names substitutes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from domain.deployment import Deployment
from domain.model import Delegate, Role, Session
from domain.notices import NoticeKind
from domain.outbox import due_now
from domain.ports import Audit, Clock, Outbox, Substitutions
from domain.records import AuditEntry, Rsvp, RsvpAnswer, RsvpSource, Substitution
from services.answers import AnswerService
from services.roster import Roster


class Named(StrEnum):
    """What became of naming a substitute."""

    NAMED = "named"
    UNCHANGED = "unchanged"
    NOT_HEAD = "not_head"
    NOT_MEMBER = "not_member"
    """The member replaced is not an invited member of the head's delegation."""
    NOT_CANDIDATE = "not_candidate"
    """The substitute is not a member of the delegation in the YAML, or is invited already."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Member:
    """One invited member of a delegation, with their answer and who replaces them."""

    delegate: Delegate
    answer: Rsvp | None
    substitute: Delegate | None = None
    replaces: Delegate | None = None


@dataclass(frozen=True, slots=True)
class Composition:
    """A delegation's invited members for a session, and the count of each answer (None: no answer yet)."""

    session: Session
    state: str
    members: tuple[Member, ...]

    @property
    def counts(self) -> Counter[RsvpAnswer | None]:
        """How many members gave each answer."""
        return Counter(m.answer.answer if m.answer else None for m in self.members)


class DelegationService:
    """The head's view of their delegation and the changes they may make to it."""

    def __init__(
        self,
        answers: AnswerService,
        substitutions: Substitutions,
        roster: Roster,
        audit: Audit,
        clock: Clock,
        deployment: Callable[[], Deployment | None],
        outbox: Outbox,
    ) -> None:
        self.answers, self.substitutions, self.roster = answers, substitutions, roster
        self.audit, self.clock, self.deployment, self.outbox = audit, clock, deployment, outbox

    def head(self, delegate_id: str) -> Delegate | None:
        """The delegate, when they are a head of delegation."""
        deployment = self.deployment()
        delegate = deployment.delegates.get(delegate_id) if deployment is not None else None
        return delegate if delegate is not None and delegate.role is Role.HEAD else None

    async def composition(self, head_id: str, session_id: str) -> Composition | None:
        """The head's delegation at a session; None when they are not a head or their state is not invited."""
        deployment, head = self.deployment(), self.head(head_id)
        session = deployment.sessions.get(session_id) if deployment is not None else None
        if deployment is None or head is None or session is None:
            return None
        invited = [d for d in deployment.invitations.get(session_id, ()) if deployment.delegates[d].state == head.state]
        if not invited:
            return None
        answers = {r.delegate_id: r for r in await self.answers.answers.for_session(session_id)}
        subs = await self.substitutions.for_session(session_id)
        by_member = {s.delegate_id: s for s in subs}
        by_substitute = {s.substitute_id: s for s in subs}
        members = []
        for delegate_id in invited:
            sub, replaced = by_member.get(delegate_id), by_substitute.get(delegate_id)
            members.append(
                Member(
                    deployment.delegates[delegate_id],
                    answers.get(delegate_id),
                    deployment.delegates.get(sub.substitute_id) if sub else None,
                    deployment.delegates.get(replaced.delegate_id) if replaced else None,
                )
            )
        return Composition(session, head.state, tuple(members))

    def candidates(self, composition: Composition) -> list[Delegate]:
        """The delegation's members in the YAML who could replace someone: not invited to the session yet."""
        deployment = self.deployment()
        if deployment is None:
            return []
        invited = {m.delegate.id for m in composition.members}
        return [d for d in deployment.delegates.values() if d.state == composition.state and d.id not in invited]

    async def confirm(self, head_id: str, session_id: str) -> Composition | None:
        """The head confirms the composition as it stands (the secretariat sees it in the audit and is told)."""
        composition = await self.composition(head_id, session_id)
        if composition is not None:
            counts = {str(k or "none"): v for k, v in composition.counts.items()}
            await self._audit(head_id, "delegation.confirm", session_id, counts=counts)
        return composition

    async def substitute(self, head_id: str, session_id: str, member_id: str, substitute_id: str) -> Named:
        """Name a substitute for a member: the substitute is invited, the member's answer says who replaces them."""
        composition = await self.composition(head_id, session_id)
        if composition is None:
            return Named.NOT_HEAD
        member = next((m for m in composition.members if m.delegate.id == member_id and m.replaces is None), None)
        if member is None:
            return Named.NOT_MEMBER
        if member.substitute is not None and member.substitute.id == substitute_id:
            return Named.UNCHANGED
        if substitute_id not in {d.id for d in self.candidates(composition)}:
            return Named.NOT_CANDIDATE
        if self.clock.now() >= composition.session.answers_close_at:
            return Named.CLOSED
        now = self.clock.now()
        named = Substitution(
            session_id=session_id,
            delegate_id=member_id,
            substitute_id=substitute_id,
            named_by=f"delegate:{head_id}",
            named_at=now,
        )
        await self.substitutions.name(named)
        await self.answers.record(
            session_id, member_id, RsvpAnswer.SUBSTITUTE, substitute_id=substitute_id, source=RsvpSource.TELEGRAM
        )
        await self._audit(head_id, "delegation.substitute", session_id, member=member_id, substitute=substitute_id)
        await self.roster.refresh()  # the substitute is invited: their invitation is planned and queued
        told = due_now(  # and the member is told, through their own channels
            NoticeKind.SUBSTITUTED,
            session_id,
            member_id,
            member.delegate.channels,
            now,
            substitute_id,
            {"substitute": substitute_id, "head": head_id},
        )
        await self.outbox.enqueue([told], now)
        return Named.NAMED

    async def outsider(self, head_id: str, session_id: str, text: str) -> None:
        """A head asked for someone the YAML does not list: only the secretariat can add them (it is told)."""
        await self._audit(head_id, "delegation.outsider", session_id, asked=text[:200])

    async def _audit(self, head_id: str, action: str, session_id: str, **details: object) -> None:
        entry = AuditEntry(
            at=self.clock.now(), actor=f"delegate:{head_id}", action=action, subject=session_id, details=details
        )
        await self.audit.append(entry)
