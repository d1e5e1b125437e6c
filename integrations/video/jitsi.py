"""Jitsi Meet with token authentication (Prosody's ``token`` auth) and jitsi-contrib's ``event_sync`` module.

A session's ``video.url`` is its room, ``https://HOST/[TENANT/]ROOM``. A personal link is that URL with
``?jwt=`` a token signed with the app secret (``video.algorithm``, HS256 by default; header ``typ`` "JWT"), whose
claims Prosody checks: ``iss`` the app id, ``aud`` the audience (by default the app id), ``sub`` the tenant or,
without one, the domain (with domain verification Prosody compares it with the room's MUC host), ``room`` the
bare room name, ``nbf``/``exp`` numbers, and ``context.user`` the delegate: ``id`` (which ``event_sync``
reports back as the occupant's ``id``), ``name``, ``email`` when known — every value a string, since Prosody
raises on ``null`` and numbers — and for a moderator ``affiliation`` "owner" (read by token_affiliation) with
``moderator`` "true" (as JaaS and token_moderation read it).

``event_sync`` POSTs JSON to ``api_prefix`` + ``/events/room/created``, ``/room/destroyed``,
``/occupant/joined`` and ``/occupant/left``, signing nothing: the deployment's ``api_headers`` carry
``Authorization: Bearer <events_token>``, which is all that is checked. Breakout rooms' events name the main
room (``room_name``) and the breakout (``breakout_room_id``): a move to a breakout room is a leave of the main
room and a join of the breakout one, the latter with ``room`` set. Jitsi has no API to ask who is present.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import jwt

from domain.model import Session
from domain.video import Participant, Seat, VideoEvent, VideoEventKind, WebhookReading, WebhookRequest
from integrations.video import VideoUnavailable, header

MARGIN = timedelta(hours=1)
"""A link works from an hour before the start (or from when it is made, if earlier) to an hour after the end."""
SKEW = timedelta(minutes=5)
"""How far Prosody's clock may be behind ours: luajwtjitsi checks ``nbf`` without leeway."""
_EVENTS = ("occupant/joined", "occupant/left", "room/created", "room/destroyed")


@dataclass(frozen=True, slots=True)
class _Room:
    origin: str
    """``https://HOST[:PORT]``."""
    host: str
    tenant: str | None
    room: str

    @property
    def name(self) -> str:
        """The room's node as event_sync's ``room_name`` gives it: ``[tenant]room`` under a tenant."""
        return f"[{self.tenant}]{self.room}".lower() if self.tenant else self.room.lower()

    @property
    def path(self) -> str:
        return f"{quote(self.tenant)}/{quote(self.room)}" if self.tenant else quote(self.room)


def _room(session: Session) -> _Room:
    video = session.video
    if video is None or video.url is None:
        raise VideoUnavailable("jitsi", f"session {session.id} has no Jitsi room")
    parts = urlsplit(video.url)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if not 1 <= len(segments) <= 2 or not parts.hostname:
        raise VideoUnavailable("jitsi", f"session {session.id}'s video url names no room (https://HOST/[TENANT/]ROOM)")
    tenant = segments[0] if len(segments) == 2 else None
    return _Room(f"{parts.scheme}://{parts.netloc}", parts.hostname.lower(), tenant, segments[-1])


def _room_name(session: Session) -> str | None:
    """The session's room as event_sync names it; None for a link that names no room (never the session's)."""
    try:
        return _room(session).name
    except VideoUnavailable:
        return None


def _ours(sessions: Sequence[Session]) -> list[Session]:
    return [s for s in sessions if s.video is not None and s.video.provider == "jitsi"]


class JitsiProvider:
    """Personal JWT links into Jitsi rooms, and event_sync's events read back."""

    name = "jitsi"

    async def join_url(self, session: Session, seat: Seat, now: datetime) -> str:
        """``https://HOST/[TENANT/]ROOM?jwt=…``, valid from ``min(now − 5 min, start − 1 h)`` to ``end + 1 h``."""
        video, room = session.video, _room(session)
        if video is None or video.app_id is None or video.secret is None:
            raise VideoUnavailable(self.name, f"session {session.id} has no Jitsi app id and secret")
        moderator = "true" if seat.moderator else "false"
        user = {"id": seat.delegate_id, "name": seat.name.strip() or seat.delegate_id}
        user |= {"email": seat.email} if seat.email else {}
        user |= {"affiliation": "owner" if seat.moderator else "member", "moderator": moderator}
        claims: dict[str, Any] = {
            "iss": video.app_id,
            "aud": video.audience or video.app_id,
            "sub": room.tenant.lower() if room.tenant else room.host,
            "room": room.room.lower(),
            "iat": int(now.timestamp()),
            "nbf": int(min(now - SKEW, session.starts_at - MARGIN).timestamp()),
            "exp": int((session.ends_at + MARGIN).timestamp()),
            "context": {"user": user},
        }
        secret = video.secret.get_secret_value()
        token = jwt.encode(claims, secret, algorithm=video.algorithm, headers={"typ": "JWT"})
        return f"{room.origin}/{room.path}?jwt={token}"

    async def read_webhook(self, sessions: Sequence[Session], request: WebhookRequest) -> WebhookReading:
        """Check ``Authorization: Bearer`` against every distinct ``events_token`` of these sessions in constant
        time, before anything else is read (401 otherwise); then read the event the path names for the session
        whose room it is (among those of the matching token)."""
        given = (header(request.headers, "Authorization") or "").encode()
        tokens = {s.video.events_token.get_secret_value() for s in _ours(sessions) if s.video and s.video.events_token}
        matched = {token for token in tokens if hmac.compare_digest(given, f"Bearer {token}".encode())}
        if not matched:
            return WebhookReading(status=401, refused="the bearer token is missing or matches no events_token")
        path = urlsplit(request.url).path.rstrip("/")
        event = next((e for e in _EVENTS if path.endswith(f"/events/{e}")), None)
        if event is None:
            return WebhookReading(status=404, refused="not an event_sync event's path")
        rooms = {
            room: s for s in _ours(sessions)
            if s.video and s.video.events_token and s.video.events_token.get_secret_value() in matched
            and (room := _room_name(s)) is not None
        }  # fmt: skip
        try:
            found = _event(event, json.loads(request.body), rooms)
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError, OverflowError, OSError):
            return WebhookReading(status=400, refused="the event could not be read")
        return WebhookReading(status=200, events=(found,) if found else ())

    async def present(self, session: Session) -> list[Participant] | None:
        """Unknown: Jitsi has no API that says who is in a room (only event_sync's events)."""
        return None

    async def keep_up(self, sessions: Sequence[Session], callback_url: str, now: datetime) -> None:
        """Nothing: event_sync's target is the Prosody configuration's, and tokens are made per link."""

    async def close(self) -> None:
        """Nothing to close: no HTTP is spoken to Jitsi."""


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} is not a string")
    return value


def _at(value: Any) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("a time is not a number")
    return datetime.fromtimestamp(value, UTC)


def _event(event: str, payload: Any, rooms: Mapping[str, Session]) -> VideoEvent | None:
    """One event_sync event for the session whose room it is, else None."""
    room_jid = _text(payload, "room_jid")
    session = rooms.get(_text(payload, "room_name").lower())
    breakout = payload.get("breakout_room_id") if payload.get("is_breakout") is True else None
    if breakout is not None and not isinstance(breakout, str):
        raise ValueError("breakout_room_id is not a string")
    if session is None or event == "room/created":
        return None
    if event == "room/destroyed":
        if breakout is not None:
            return None  # a breakout room closed: the meeting goes on
        at = payload["destroyed_at"]
        return VideoEvent(session.id, VideoEventKind.ENDED, _at(at), f"jitsi:{room_jid}::{event}:{at}")
    occupant = payload["occupant"]
    jid = _text(occupant, "occupant_jid")
    kind, moment = (
        (VideoEventKind.JOINED, occupant["joined_at"])
        if event == "occupant/joined"
        else (VideoEventKind.LEFT, occupant["left_at"])
    )
    delegate, name, email = (occupant.get(k) for k in ("id", "name", "email"))
    participant = Participant(
        platform_id=jid,
        delegate_id=delegate if isinstance(delegate, str) and delegate else None,
        name=name if isinstance(name, str) else "",
        email=email if isinstance(email, str) and email else None,
    )
    key = f"jitsi:{room_jid}:{jid}:{event}:{moment}" + (f":{breakout}" if breakout else "")
    return VideoEvent(session.id, kind, _at(moment), key, participant, room=breakout)
