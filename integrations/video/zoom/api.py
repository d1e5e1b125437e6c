"""Zoom's REST API for a server-to-server OAuth app: its access token, a session's meeting and registrants."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import aiohttp

from domain.model import Session
from domain.video import Seat
from integrations.video import Http, VideoUnavailable, failure

NAME = "zoom"
TOKEN_MARGIN = 120
"""Seconds before its ``expires_in`` a token is replaced."""


@dataclass(frozen=True, slots=True)
class App:
    """A server-to-server OAuth app's credentials."""

    account_id: str
    client_id: str
    client_secret: str = field(repr=False)


def app_of(session: Session) -> App:
    """The app of a Zoom session's ``video:`` block."""
    video = session.video
    if video is None or video.account_id is None or video.client_id is None or video.client_secret is None:
        raise VideoUnavailable(NAME, f"session {session.id} has no Zoom app credentials")
    return App(video.account_id, video.client_id, video.client_secret.get_secret_value())


@dataclass(slots=True)
class Meeting:
    """What ``VideoState`` keeps of a session's meeting: ``{"meeting_id", "uuid", "start_time", "duration",
    "registrants": {delegate id: {"registrant_id", "join_url", "email"}}}``."""

    meeting_id: str
    uuid: str
    start_time: str
    duration: int
    registrants: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def read(cls, data: Mapping[str, object] | None) -> Meeting | None:
        """The kept data read back (None when there is none, or it names no meeting)."""
        if data is None or not data.get("meeting_id"):
            return None
        registrants = data.get("registrants")
        entries = registrants.items() if isinstance(registrants, dict) else ()
        kept = {str(d): {str(k): str(v) for k, v in r.items()} for d, r in entries if isinstance(r, dict)}
        duration = data.get("duration")
        return cls(
            str(data["meeting_id"]), str(data.get("uuid", "")), str(data.get("start_time", "")),
            duration if isinstance(duration, int) else 0, kept,
        )  # fmt: skip

    def data(self) -> dict[str, object]:
        """The data to keep (JSON)."""
        return {
            "meeting_id": self.meeting_id, "uuid": self.uuid, "start_time": self.start_time,
            "duration": self.duration, "registrants": self.registrants,
        }  # fmt: skip


def schedule(session: Session) -> tuple[str, int]:
    """The meeting's start (UTC, Zoom's ``yyyy-MM-ddTHH:mm:ssZ``) and its duration in whole minutes."""
    minutes = max(1, math.ceil((session.ends_at - session.starts_at).total_seconds() / 60))
    return session.starts_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), minutes


def synthetic_email(delegate_id: str) -> str:
    """The address a delegate without one is registered with: ``.invalid`` never resolves (RFC 6761)."""
    return f"{delegate_id}@invalid"


class ZoomApi:
    """The requests, over one HTTP session; each app's token cached until shortly before it expires."""

    def __init__(self, oauth_url: str, api_url: str) -> None:
        self.oauth_url, self.api_url = oauth_url, api_url.rstrip("/")
        self._http = Http()
        self._tokens: dict[App, tuple[str, float]] = {}
        """Each app's access token and the monotonic time it is good until."""
        self._locks: dict[App, asyncio.Lock] = {}

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()

    async def token(self, app: App) -> str:
        """The app's access token: ``POST oauth_url?grant_type=account_credentials&account_id=…`` with HTTP Basic
        ``client_id:client_secret``, once until shortly before its ``expires_in``."""
        async with self._locks.setdefault(app, asyncio.Lock()):
            cached = self._tokens.get(app)
            if cached is not None and time.monotonic() < cached[1]:
                return cached[0]
            params = {"grant_type": "account_credentials", "account_id": app.account_id}
            basic = base64.b64encode(f"{app.client_id}:{app.client_secret}".encode()).decode()
            auth = {"Authorization": f"Basic {basic}"}
            try:
                async with self._http.session.post(self.oauth_url, params=params, headers=auth) as response:
                    status, answer = response.status, await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise VideoUnavailable(NAME, f"getting a token: {failure(exc)}") from None
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if status != 200 or not isinstance(token, str):
                error = answer.get("error") if isinstance(answer, dict) else None
                raise VideoUnavailable(NAME, f"the token was refused (HTTP {status}, {error or 'no reason'})")
            lifetime = answer.get("expires_in")
            seconds = lifetime if isinstance(lifetime, int | float) else 3600
            self._tokens[app] = token, time.monotonic() + max(0.0, seconds - TOKEN_MARGIN)
            return token

    async def request(self, app: App, method: str, path: str, body: Mapping[str, Any]) -> tuple[int, Any]:
        """One request's status and JSON answer; a token Zoom no longer takes (401) is replaced once."""
        for attempt in (1, 2):
            auth = {"Authorization": f"Bearer {await self.token(app)}"}
            try:
                async with self._http.session.request(method, self.api_url + path, json=body, headers=auth) as answer:
                    status, raw = answer.status, await answer.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise VideoUnavailable(NAME, f"{method} {path.split('/')[1]}: {failure(exc)}") from None
            if status == 401 and attempt == 1:
                self._tokens.pop(app, None)
                continue
            try:
                return status, json.loads(raw) if raw else {}
            except ValueError:
                return status, {}
        raise AssertionError("unreachable")

    async def create(self, app: App, session: Session) -> Meeting:
        """A scheduled meeting (type 2) for the session, in UTC, registrants approved at once and Zoom's own
        registration e-mails off (Plenary sends the links)."""
        start_time, duration = schedule(session)
        body = {
            "topic": (next(iter(session.title.values()), "") or session.id)[:200],
            "type": 2,
            "start_time": start_time,
            "duration": duration,
            "timezone": "UTC",
            "settings": {
                "approval_type": 0,
                "registration_type": 1,
                "registrants_confirmation_email": False,
                "registrants_email_notification": False,
            },
        }
        status, answer = await self.request(app, "POST", "/users/me/meetings", body)
        _check("creating the meeting", status, answer)
        if "id" not in answer:
            raise VideoUnavailable(NAME, "the new meeting has no id")
        return Meeting(str(answer["id"]), str(answer.get("uuid", "")), start_time, duration)

    async def move(self, app: App, meeting: Meeting, session: Session) -> bool:
        """Move the meeting to the session's start and length; False when it no longer exists."""
        start_time, duration = schedule(session)
        patch = {"start_time": start_time, "duration": duration, "timezone": "UTC"}
        status, answer = await self.request(app, "PATCH", f"/meetings/{meeting.meeting_id}", patch)
        if status == 404:
            return False
        _check("moving the meeting", status, answer)
        meeting.start_time, meeting.duration = start_time, duration
        return True

    async def register(self, app: App, meeting: Meeting, seat: Seat) -> dict[str, str] | None:
        """A registrant for the seat (``registrant_id``, ``join_url``, ``email``); None when the meeting no longer
        exists. Zoom gives back the same registrant for the same e-mail: a delegate whose address another
        delegate's registrant has already (a shared office address) is registered with the synthetic one."""
        first, _, last = (seat.name.strip() or seat.delegate_id).rpartition(" ")
        first, last = (first, last) if first else (last, "")
        taken = {r.get("registrant_id") for d, r in meeting.registrants.items() if d != seat.delegate_id}
        synthetic = synthetic_email(seat.delegate_id)
        for email in dict.fromkeys((seat.email or synthetic, synthetic)):
            person = {"email": email, "first_name": first, "last_name": last}
            status, answer = await self.request(app, "POST", f"/meetings/{meeting.meeting_id}/registrants", person)
            if status == 404:
                return None
            _check("registering a delegate", status, answer)
            registrant_id, join_url = answer.get("registrant_id"), answer.get("join_url")
            if not isinstance(registrant_id, str) or not isinstance(join_url, str):
                raise VideoUnavailable(NAME, "a registrant came without an id or a join_url")
            if registrant_id not in taken:
                return {"registrant_id": registrant_id, "join_url": join_url, "email": email}
        raise VideoUnavailable(NAME, "Zoom gave a delegate another delegate's registrant")


def _check(doing: str, status: int, answer: Any) -> None:
    """Raise unless the answer is a success with a JSON object."""
    if 200 <= status < 300 and isinstance(answer, dict):
        return
    code = answer.get("code") if isinstance(answer, dict) else None
    message = str(answer.get("message", ""))[:200] if isinstance(answer, dict) else ""
    raise VideoUnavailable(NAME, f"{doing} failed: HTTP {status}, code {code}" + (f": {message}" if message else ""))
