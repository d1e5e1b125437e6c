"""Check-in at the venue: the code shown in the hall, and a delegate's check-in with it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain import checkin
from domain.deployment import Deployment
from domain.model import Session, SessionFormat, SessionStatus
from domain.ports import Audit, Clock, Closures
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource, AuditEntry
from services.attendance import AttendanceService


class CheckIn(StrEnum):
    """What became of a check-in."""

    CHECKED_IN = "checked_in"
    ALREADY = "already"
    EXPIRED = "expired"
    """This session's code, but no longer shown: scan the current one."""
    NOT_OPEN = "not_open"
    """A valid code outside the session's check-in window."""
    NOT_INVITED = "not_invited"
    """Another session's code: the delegate is not invited to it."""
    UNKNOWN = "unknown"
    """No session's code (mistyped, invented)."""
    TOO_MANY = "too_many"
    """Too many wrong codes lately: no code is checked until the pause is over (guessing stays hopeless)."""


@dataclass(frozen=True, slots=True)
class CheckedIn:
    """The outcome, the session it concerned, and (when not open) its check-in window."""

    outcome: CheckIn
    session: Session | None = None
    opens_at: datetime | None = None
    closes_at: datetime | None = None


WRONG_CODES = 10
"""Wrong codes a delegate may send within ``PAUSE`` before their codes are no longer checked."""
PAUSE = timedelta(minutes=10)


def at_venue(session: Session) -> bool:
    """Whether delegates can be in the hall: in-person and hybrid sessions that take place."""
    return session.format is not SessionFormat.VIDEO and session.status is SessionStatus.SCHEDULED


class CheckinService:
    """Shows the hall's rotating code and checks delegates in with it; check-ins are attendance facts."""

    def __init__(
        self,
        attendance: AttendanceService,
        audit: Audit,
        clock: Clock,
        deployment: Callable[[], Deployment | None],
        closures: Closures,
        secret: bytes = b"",
    ) -> None:
        self.attendance, self.audit, self.clock, self.deployment = attendance, audit, clock, deployment
        self.closures, self.secret = closures, secret
        self._wrong: dict[str, deque[datetime]] = {}
        """Each delegate's recent wrong codes (in this process)."""

    def window(self, session: Session) -> tuple[datetime, datetime]:
        """When check-in for a session is open."""
        deployment = self.deployment()
        assert deployment is not None
        return session.starts_at - deployment.commission.telegram.checkin_opens, session.ends_at

    def code(self, session_id: str) -> checkin.Shown:
        """The code to show in the hall now (the secretariat's ``checkin-code``)."""
        return checkin.current(self.secret, session_id, self.clock.now())

    async def check_in(self, delegate_id: str, typed: str) -> CheckedIn:
        """Check a delegate in with a code they scanned or typed."""
        deployment = self.deployment()
        if deployment is None:
            return CheckedIn(CheckIn.UNKNOWN)
        now = self.clock.now()
        wrong = self._wrong.setdefault(delegate_id, deque())
        while wrong and now - wrong[0] >= PAUSE:
            wrong.popleft()
        if len(wrong) >= WRONG_CODES:
            await self._audit(delegate_id, "", CheckIn.TOO_MANY, now)
            return CheckedIn(CheckIn.TOO_MANY)
        venues = [s.id for s in deployment.sessions.values() if at_venue(s)]
        found, session_id = checkin.check(self.secret, typed, venues, now)
        if session_id is None:
            wrong.append(now)
            await self._audit(delegate_id, "", CheckIn.UNKNOWN, now)
            return CheckedIn(CheckIn.UNKNOWN)
        session = deployment.sessions[session_id]
        opens, closes = self.window(session)
        closed = await self.closures.closed_at(session_id)  # closed by the secretariat before its end
        closes = min(closes, closed) if closed is not None else closes
        if not deployment.is_invited(session_id, delegate_id):
            outcome = CheckIn.NOT_INVITED
        elif found is checkin.CodeCheck.EXPIRED:
            outcome = CheckIn.EXPIRED
        elif not opens <= now < closes:
            outcome = CheckIn.NOT_OPEN
        else:
            event = AttendanceEvent(
                session_id=session_id,
                delegate_id=delegate_id,
                state=deployment.delegates[delegate_id].state,
                source=AttendanceSource.VENUE,
                kind=AttendanceKind.CHECK_IN,
                occurred_at=now,
                external_id=f"checkin:{session_id}:{delegate_id}",
            )
            outcome = CheckIn.CHECKED_IN if await self.attendance.record(event) else CheckIn.ALREADY
        await self._audit(delegate_id, session_id, outcome, now)
        return CheckedIn(outcome, session, opens, closes)

    async def _audit(self, delegate_id: str, session_id: str, outcome: CheckIn, now: datetime) -> None:
        entry = AuditEntry(
            at=now, actor=f"delegate:{delegate_id}", action="checkin", subject=session_id, details={"outcome": outcome}
        )
        await self.audit.append(entry)
