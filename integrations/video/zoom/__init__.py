"""Zoom: a server-to-server OAuth app's meetings and registrants (:mod:`.api`), Zoom's signed webhooks
(:mod:`.webhooks`).

A session's meeting is created on its first personal link and kept in ``VideoState`` under ``("zoom", session
id)`` with its registrants (:class:`~integrations.video.zoom.api.Meeting`); a delegate is registered on their
first link, and their link is their registrant's ``join_url``. Zoom's webhooks name the registrant
(``registrant_id``) of whoever came by such a link: that, and failing it the registrant's e-mail, is how a
participant is told to be a delegate. Several sessions may use several apps (accounts): each has its token.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from domain.model import Session
from domain.ports import VideoState
from domain.video import Participant, Seat, VideoEvent, VideoEventKind, WebhookReading, WebhookRequest
from integrations.video import VideoUnavailable
from integrations.video.zoom.api import NAME, Meeting, ZoomApi, app_of, schedule
from integrations.video.zoom.webhooks import KINDS, participant_event, validation, verify

__all__ = ["ZoomProvider"]

RUNNING_FROM = timedelta(hours=1)
"""How long before its start a session counts as running, for :meth:`ZoomProvider.keep_up`."""


def _secret(session: Session) -> str | None:
    video = session.video
    if video is None or video.provider != NAME or video.webhook_secret is None:
        return None
    return video.webhook_secret.get_secret_value()


class ZoomProvider:
    """Zoom meetings through server-to-server OAuth apps; ``oauth_url`` and ``api_url`` are Zoom's by default."""

    name = NAME

    def __init__(
        self, state: VideoState, oauth_url: str = "https://zoom.us/oauth/token", api_url: str = "https://api.zoom.us/v2"
    ) -> None:
        self.state = state
        self.api = ZoomApi(oauth_url, api_url)
        self._locks: dict[str, asyncio.Lock] = {}
        self._sessions: dict[str, str] = {}
        """Meeting id → session id, as last read or written."""

    async def join_url(self, session: Session, seat: Seat, now: datetime) -> str:
        """The delegate's registrant's ``join_url``, registering them on their first link (and creating the
        session's meeting on the session's first, moving it when the session moved).

        Zoom needs an e-mail per registrant: a delegate without one is registered as ``{delegate id}@invalid``,
        a domain that by RFC 6761 never resolves; Zoom's registration e-mails are off, so nothing is sent to it,
        and the delegate is told by their ``registrant_id`` all the same."""
        app = app_of(session)
        async with self._locks.setdefault(session.id, asyncio.Lock()):
            meeting = await self._meeting(session)
            entry = meeting.registrants.get(seat.delegate_id)
            if entry is not None:
                return entry["join_url"]
            registered = await self.api.register(app, meeting, seat)
            if registered is None:  # the meeting was deleted on Zoom: a new one, its registrants anew
                meeting = await self._create(session)
                registered = await self.api.register(app, meeting, seat)
            if registered is None:
                raise VideoUnavailable(self.name, "the new meeting was not found for its registrants")
            meeting.registrants[seat.delegate_id] = registered
            await self._keep(session, meeting)
            return registered["join_url"]

    async def _meeting(self, session: Session) -> Meeting:
        """The session's meeting: kept, moved if the session moved, or created."""
        meeting = Meeting.read(await self.state.get(self.name, session.id))
        if meeting is None:
            return await self._create(session)
        if (meeting.start_time, meeting.duration) != schedule(session):
            if not await self.api.move(app_of(session), meeting, session):
                return await self._create(session)
            await self._keep(session, meeting)
        self._sessions[meeting.meeting_id] = session.id
        return meeting

    async def _create(self, session: Session) -> Meeting:
        meeting = await self.api.create(app_of(session), session)
        await self._keep(session, meeting)
        return meeting

    async def _keep(self, session: Session, meeting: Meeting) -> None:
        await self.state.put(self.name, session.id, meeting.data())
        self._sessions[meeting.meeting_id] = session.id

    async def read_webhook(self, sessions: Sequence[Session], request: WebhookRequest) -> WebhookReading:
        """Check ``x-zm-signature`` against every distinct ``webhook_secret`` of these sessions in constant time,
        and its timestamp, before anything else is read (401 otherwise); then answer a URL validation, or read a
        participant's join or leave (or the meeting's end) for the session whose meeting it is."""
        matched, refusal = verify(request, {secret for s in sessions if (secret := _secret(s)) is not None})
        if refusal is not None:
            return refusal
        try:
            message = json.loads(request.body)
            event = message["event"]
            if event == "endpoint.url_validation":
                return validation(matched[0], message)
            if event not in (*KINDS, "meeting.ended"):
                return WebhookReading(status=200)
            meeting = message["payload"]["object"]
            found = await self._session_of(str(meeting["id"]), [s for s in sessions if _secret(s) in matched])
            if found is None:
                return WebhookReading(status=200)
            session, kept = found
            if event == "meeting.ended":
                at, uuid = datetime.fromisoformat(meeting["end_time"].replace("Z", "+00:00")), meeting.get("uuid", "")
                key = f"zoom:{uuid}::{event}:{meeting['end_time']}"
                return WebhookReading(status=200, events=(VideoEvent(session.id, VideoEventKind.ENDED, at, key),))
            return WebhookReading(status=200, events=(participant_event(event, meeting, session.id, kept),))
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            return WebhookReading(status=400, refused="the event could not be read")

    async def _session_of(self, meeting_id: str, sessions: Sequence[Session]) -> tuple[Session, Meeting] | None:
        """The session whose kept meeting this is, and what is kept of it (read afresh: registrants change)."""
        known = next((s for s in sessions if s.id == self._sessions.get(meeting_id)), None)
        if known is not None:
            kept = Meeting.read(await self.state.get(self.name, known.id))
            if kept is not None and kept.meeting_id == meeting_id:
                return known, kept
        every = await asyncio.gather(*(self.state.get(self.name, s.id) for s in sessions))
        for session, data in zip(sessions, every, strict=True):
            if (kept := Meeting.read(data)) is not None:
                self._sessions[kept.meeting_id] = session.id
                if kept.meeting_id == meeting_id:
                    return session, kept
        return None

    async def present(self, session: Session) -> list[Participant] | None:
        """Unknown: the only API with a meeting's live participants is the Dashboard's (``GET /metrics/meetings/
        {id}/participants?type=live``), which needs a Business plan or above and dashboard scopes."""
        return None

    async def keep_up(self, sessions: Sequence[Session], callback_url: str, now: datetime) -> None:
        """Renew the access token of each app with a session running (from an hour before its start), so that a
        delegate's first link does not wait for it. Zoom's webhook URL is the app's, set in its Marketplace page."""
        apps = {
            app_of(s): None for s in sessions
            if s.video is not None and s.video.provider == NAME and s.starts_at - RUNNING_FROM <= now <= s.ends_at
        }  # fmt: skip
        outcomes = await asyncio.gather(*(self.api.token(app) for app in apps), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def close(self) -> None:
        """Close the HTTP session."""
        await self.api.close()
