"""Video sessions: each delegate's personal way into the meeting, the platforms' webhooks as attendance, and
a reconciliation with what the platform says while the session runs.

A notice carries the delegate's link to Plenary (``/join/<token>``, signed like the answer pages and revoked
with the delegate's links); opened from shortly before the start until the end, it asks the session's provider
for a personal URL made then (a BigBlueButton join with the meeting's creation time, a Jitsi token around the
session, a Zoom registrant's link) and sends the browser there. Outside that window it says when it opens, or
that the session is over. Webhooks are checked by their provider over the raw bytes before anything is read,
and what they say is recorded through the attendance use case; a delivery repeated is recorded once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.attendance import on_call as current
from domain.deployment import Deployment
from domain.links import LinkScope, answer_subject, answer_token, answer_token_valid
from domain.model import Session, SessionStatus
from domain.ports import Clock, Links, VideoProvider
from domain.video import Participant, Seat, VideoEvent, VideoEventKind, WebhookReading, WebhookRequest
from services.attendance import AttendanceService
from services.supervision import Loops

log = logging.getLogger(__name__)

PATH = "/join/"
WEBHOOKS = "/webhooks/"
LOOP = "video"


class Joining(StrEnum):
    """What opening a join link gives."""

    GO = "go"
    LATER = "later"
    OVER = "over"
    UNAVAILABLE = "unavailable"
    """The platform could not be reached: try again in a moment."""


@dataclass(frozen=True, slots=True)
class Joined:
    """The outcome of opening a join link, with the session and the URL or the time it opens."""

    outcome: Joining
    session: Session
    delegate_id: str
    url: str = ""
    opens_at: datetime | None = None


class VideoService:
    """Personal join links, webhooks and reconciliation, over the providers the sessions name."""

    def __init__(
        self,
        providers: Mapping[str, VideoProvider],
        attendance: AttendanceService,
        deployment: Callable[[], Deployment | None],
        clock: Clock,
        links: Links,
        secret: Callable[[], bytes],
        base_url: str = "",
    ) -> None:
        self.providers, self.attendance, self.deployment, self.clock = providers, attendance, deployment, clock
        self.links, self.secret, self.base_url = links, secret, base_url.rstrip("/")
        self._sessions: dict[str, tuple[Deployment, tuple[Session, ...]]] = {}
        """Each provider's sessions, with the deployment they were read from (a new one is read again)."""

    async def _generation(self, delegate_id: str) -> int:
        return (await self.links.generations()).get((LinkScope.JOIN.value, delegate_id), 0)

    async def url(self, delegate_id: str, session_id: str) -> str:
        """A delegate's personal link into a session's meeting, as notices carry it."""
        token = answer_token(
            self.secret(), delegate_id, session_id, await self._generation(delegate_id), LinkScope.JOIN
        )
        return f"{self.base_url}{PATH}{token}"

    async def open(self, token: str) -> Joined | None:
        """Where a join link leads now; None for a forged, revoked or malformed one, or a delegate not invited."""
        named, deployment = answer_subject(token), self.deployment()
        if named is None or deployment is None:
            return None
        delegate_id, session_id = named
        session, delegate = deployment.sessions.get(session_id), deployment.delegates.get(delegate_id)
        if session is None or delegate is None or session.video is None or not session.is_remote:
            return None
        if not deployment.is_invited(session_id, delegate_id):
            return None
        if not answer_token_valid(self.secret(), token, await self._generation(delegate_id), LinkScope.JOIN):
            return None
        now = self.clock.now()
        opens = session.join_opens_at(deployment.commission.telegram)
        if session.status is not SessionStatus.SCHEDULED or now >= session.ends_at:
            return Joined(Joining.OVER, session, delegate_id)
        if now < opens:
            return Joined(Joining.LATER, session, delegate_id, opens_at=opens)
        provider = self.providers.get(session.video.provider)
        if provider is None or session.video.empty_secrets():
            return Joined(Joining.UNAVAILABLE, session, delegate_id)
        chair = session.chair.delegate if session.chair is not None else None
        seat = Seat(delegate_id, _name(deployment, delegate_id), delegate.email, delegate_id == chair)
        try:
            url = await provider.join_url(session, seat, now)
        except Exception as exc:  # the platform is away: the delegate tries again; the secretariat sees the log
            log.warning("no join link for %s on %s (%s: %s)", session_id, provider.name, type(exc).__name__, exc)
            return Joined(Joining.UNAVAILABLE, session, delegate_id)
        return Joined(Joining.GO, session, delegate_id, url=url)

    def sessions(self, provider: str) -> tuple[Session, ...]:
        """The sessions on a provider (the same tuple while the deployment in force is the same: every webhook
        asks, and its provider reads each distinct tuple once)."""
        deployment = self.deployment()
        if deployment is None:
            return ()
        known = self._sessions.get(provider)
        if known is not None and known[0] is deployment:
            return known[1]
        found = tuple(
            s
            for s in deployment.sessions.values()
            if s.video is not None and s.video.provider == provider and not s.video.empty_secrets()
        )  # a session whose secret is not set signs nothing and vouches for no webhook
        self._sessions[provider] = (deployment, found)
        return found

    async def webhook(self, provider_name: str, request: WebhookRequest) -> WebhookReading:
        """Check and read a platform's webhook, and record what it says."""
        provider = self.providers.get(provider_name)
        sessions = self.sessions(provider_name)
        if provider is None or not sessions:
            return WebhookReading(404, refused=f"no session uses {provider_name}")
        reading = await provider.read_webhook(sessions, request)
        if reading.refused is not None:
            log.warning("a %s webhook was refused (%s)", provider_name, reading.refused)
        if reading.events:
            await self.attendance.record_video(reading.events)
        return reading

    async def reconcile(self, session: Session) -> int:
        """Compare the record with who the platform says is on the call; record the joins and leaves the
        webhooks missed, at this moment; how many."""
        provider = self.providers.get(session.video.provider) if session.video is not None else None
        if provider is None:
            return 0
        present = await provider.present(session)
        table = await self.attendance.table(session.id)
        if present is None or table is None or not table.live:
            return 0
        now = self.clock.now()
        facts = await self.attendance.attendance.for_session(session.id)
        on_call = {pid: Participant(pid, who, name) for pid, (who, name) in current(facts, now).items()}
        seen = {p.platform_id: p for p in present}
        missed = [
            VideoEvent(
                session.id, VideoEventKind.LEFT, now, f"reconcile:{session.id}:{pid}:left:{now.isoformat()}", who
            )
            for pid, who in on_call.items()
            if pid not in seen
        ]
        missed += [
            VideoEvent(
                session.id, VideoEventKind.JOINED, now, f"reconcile:{session.id}:{pid}:joined:{now.isoformat()}", who
            )
            for pid, who in seen.items()
            if pid not in on_call
        ]
        return await self.attendance.record_video(missed) if missed else 0

    async def keep_up(self, callback_base: str) -> None:
        """Each provider's upkeep for its upcoming and running sessions; a running session is reconciled. A
        platform that cannot be reached is logged and tried again next round (it is not this service failing)."""
        now = self.clock.now()
        for name, provider in self.providers.items():
            soon = [s for s in self.sessions(name) if s.starts_at - timedelta(days=1) <= now < s.ends_at]
            try:
                if soon:
                    await provider.keep_up(soon, f"{callback_base.rstrip('/')}{WEBHOOKS}{name}", now)
                for session in soon:
                    if session.starts_at <= now:
                        await self.reconcile(session)
            except Exception as exc:
                log.warning("video upkeep on %s failed (%s: %s); again next round", name, type(exc).__name__, exc)

    async def run(self, loops: Loops, callback_base: str, every: float = 60.0) -> None:
        """``keep_up`` every ``every`` seconds until cancelled."""
        loops.register(LOOP)
        while True:
            await self.keep_up(callback_base)
            loops.ok(LOOP, next_within=every * 2 + 60)
            await asyncio.sleep(every)


def _name(deployment: Deployment, delegate_id: str) -> str:
    from domain.values import localize

    delegate = deployment.delegates[delegate_id]
    name = localize(delegate.name, delegate.language, deployment.commission.language)
    return f"{name} ({delegate.state})"  # the name the others see on the call, with the member state
