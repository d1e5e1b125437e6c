"""Zoom's REST API (Server-to-Server OAuth, meetings, registrants) and its webhook emitter, on loopback.

Modelled, after developers.zoom.us (s2s-oauth, webhooks, "Resolving webhook delays"), zoom/rivet-javascript's
``meetings.d.ts`` types and its S2S auth and webhook verifier:

* ``POST /oauth/token?grant_type=account_credentials&account_id=…`` (or the same as a form body) with HTTP Basic
  ``client_id:client_secret`` answers ``access_token``, ``token_type`` "bearer", ``expires_in`` 3600, ``scope``,
  ``api_url``; wrong credentials get 400 ``{"reason": "Invalid client_id or client_secret", "error":
  "invalid_client"}``. Every request is recorded (:attr:`FakeZoom.token_requests`).
* ``/v2`` with ``Authorization: Bearer``: 401 ``{"code": 124, "message": "Invalid access token."}`` (or
  "Access token is expired."); ``POST /v2/users/me/meetings`` (201), ``GET``/``PATCH`` (204)/``DELETE`` (204)
  ``/v2/meetings/{id}``, unknown ones 404 ``{"code": 3001, "message": "Meeting does not exist: {id}."}``;
  ``POST /v2/meetings/{id}/registrants`` (201 ``id`` = the meeting's, ``registrant_id``, ``join_url``, ``topic``,
  ``start_time``; the same e-mail again gives back the same registrant) and ``GET`` (``registrants`` paged).
* Webhooks: a compact JSON body, ``x-zm-request-timestamp`` (seconds) and ``x-zm-signature`` = ``v0=`` + hex
  HMAC-SHA256(secret token, ``v0:{timestamp}:{body}``); ``meeting.participant_joined``/``_left`` with
  ``event``, ``event_ts`` (ms), ``payload.account_id``, ``payload.object`` (meeting id as a string, uuid, host_id,
  topic, type, start_time, timezone, duration, participant{user_id, user_name, id, participant_uuid, email,
  registrant_id (registrants only), join_time | leave_time, leave_reason}). Success is 200 or 204 within the
  deadline (3 s); otherwise 3 retries 5, 20 and 60 minutes apart (each delay times ``time_scale``), each attempt
  freshly signed. ``endpoint.url_validation`` expects ``{"plainToken", "encryptedToken": hex HMAC(secret,
  plainToken)}``; :meth:`FakeZoom.validate_endpoint` records whether the answer was right and how fast.

Not modelled: other endpoints, scopes, rate limits, recurring meetings and occurrences, passcodes on join,
waiting rooms, meeting.started/ended, the deprecated verification token. First attempts go out one at a time
in event order; :class:`Fault` duplicates, reorders, ages the timestamp (6 min) or breaks the signature.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from tests.doubles.webhooks import JsonBody, Outgoing, WebhookDouble, compact_json, running

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
EmailAs = Literal["shown", "empty", "omitted"]
"""How a participant's e-mail appears in webhooks: as known, ``""`` (Zoom's display rules), or no key at all."""
RETRY_DELAYS = (300.0, 1200.0, 3600.0)
"""Seconds before each retry: 5 min after the first attempt, 20 min after that, 60 min after that."""
STALE_AGE = 360
"""Seconds a :attr:`Fault.STALE_TIMESTAMP` delivery's timestamp lies in the past (receivers allow 5 min)."""


class Fault(enum.StrEnum):
    """A delivery fault for the next emitted webhook(s)."""

    DUPLICATE = "duplicate"
    REORDER = "reorder"
    """Hold the event back and deliver it after the next one."""
    STALE_TIMESTAMP = "stale_timestamp"
    """Sign correctly, with a timestamp :data:`STALE_AGE` seconds old."""
    BAD_SIGNATURE = "bad_signature"
    """Sign with another secret."""


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """One request to /oauth/token and its answer."""

    client_id: str | None
    grant_type: str | None
    account_id: str | None
    status: int
    access_token: str | None


@dataclass(frozen=True, slots=True)
class WebhookDelivery(JsonBody):
    """One webhook POST attempt; each retry is a delivery of its own."""

    event: str
    body: bytes
    headers: Mapping[str, str]
    attempt: int
    status: int | None
    """None when the connection failed or the deadline passed."""
    latency: float
    ok: bool
    """200 or 204 within the deadline."""
    fault: str | None = None


@dataclass(frozen=True, slots=True)
class UrlValidation:
    """One endpoint.url_validation challenge and how it was answered."""

    plain_token: str
    expected: str
    answer: Any
    status: int | None
    latency: float
    correct: bool
    """200, the plainToken echoed, the right encryptedToken, within the deadline."""


@dataclass(eq=False)
class Registrant:
    """A meeting registrant; ``join_url`` is theirs alone."""

    id: str
    email: str
    first_name: str
    last_name: str
    join_url: str
    status: str
    create_time: str


@dataclass(eq=False)
class Meeting:
    """A scheduled meeting: its API representation and registrants."""

    data: dict[str, Any]
    registrants: dict[str, Registrant] = field(default_factory=dict)
    next_user_id: int = 16778240

    @property
    def id(self) -> int:
        """The numeric meeting ID."""
        return int(self.data["id"])


@dataclass(eq=False)
class Participant:
    """Someone in a meeting, as the webhooks describe them."""

    meeting: Meeting
    fields: dict[str, Any]


class FakeZoom(WebhookDouble[WebhookDelivery, Fault]):
    """Zoom's API and webhooks on 127.0.0.1; use ``async with zoom_server(...) as zoom``.

    Deliveries, :meth:`inject`, :meth:`redeliver` (freshly signed), :meth:`settle` and
    :meth:`wait_for_deliveries` are :class:`tests.doubles.webhooks.WebhookDouble`'s.
    """

    def __init__(
        self,
        *,
        account_id: str = "plenary-account",
        client_id: str = "plenary-client",
        client_secret: str = "plenary-client-secret",
        webhook_secret: str = "plenary-webhook-secret",
        webhook_url: str | None = None,
        deadline: float = 3.0,
        retry_delays: Sequence[float] = RETRY_DELAYS,
        time_scale: float = 1.0,
        host_email: str = "host@example.test",
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(Fault)
        self.account_id, self.client_id, self.client_secret = account_id, client_id, client_secret
        self.webhook_secret, self.webhook_url, self.deadline = webhook_secret, webhook_url, deadline
        self.retry_delays, self.time_scale, self.clock = tuple(retry_delays), time_scale, clock
        self.host_email, self.host_id = host_email, _zoom_id()
        self.token_requests: list[TokenRequest] = []
        self.validations: list[UrlValidation] = []
        self.meetings: dict[int, Meeting] = {}
        self._tokens: dict[str, float] = {}

    # lifecycle

    def _application(self) -> web.Application:
        """OAuth, and the API behind its bearer-token check."""
        app = web.Application(middlewares=[self._bearer])
        app.router.add_post("/oauth/token", self._token)
        app.router.add_post("/v2/users/{user}/meetings", self._create_meeting)
        app.router.add_route("*", "/v2/meetings/{id}", self._meeting)
        app.router.add_route("*", "/v2/meetings/{id}/registrants", self._registrants)
        return app

    @property
    def web_url(self) -> str:
        """The root, standing in for https://zoom.us and https://api.zoom.us; join links point here."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The API base, standing in for https://api.zoom.us/v2."""
        return f"{self.web_url}/v2"

    @property
    def oauth_url(self) -> str:
        """The token endpoint, standing in for https://zoom.us/oauth/token."""
        return f"{self.web_url}/oauth/token"

    @property
    def tokens_issued(self) -> int:
        """How many access tokens were granted."""
        return sum(1 for r in self.token_requests if r.access_token)

    def expire_tokens(self) -> None:
        """Make every issued access token expired."""
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    # participants

    async def join(self, join_url: str, *, name: str | None = None, email_as: EmailAs = "shown") -> Participant:
        """Join by a link: a registrant's ``/w/{id}?tk=…`` identifies them; the meeting's ``/j/{id}`` is a guest."""
        parts = urlsplit(join_url)
        kind, _, meeting_id = parts.path.strip("/").partition("/")
        meeting = self.meetings.get(int(meeting_id)) if meeting_id.isdigit() else None
        if meeting is None or kind not in ("w", "j"):
            raise ValueError(f"{join_url} is no meeting's link")
        if kind == "j":
            return await self.join_guest(meeting.id, name or "Guest", email_as=email_as)
        tk = parse_qs(parts.query).get("tk", [""])[0]
        registrant = next((r for r in meeting.registrants.values() if r.join_url.endswith(f"tk={tk}")), None)
        if not tk or registrant is None or registrant.status != "approved":
            raise ValueError(f"{join_url} is no approved registrant's link")
        user_name = name or f"{registrant.first_name} {registrant.last_name}".strip()
        return await self._enter(meeting, user_name, registrant.email, email_as, registrant.id)

    async def join_guest(
        self, meeting_id: int, name: str, *, email: str = "", email_as: EmailAs = "shown"
    ) -> Participant:
        """Join without registering: no registrant_id; ``email`` is empty unless given."""
        return await self._enter(self.meetings[meeting_id], name, email, email_as, None)

    async def leave(self, participant: Participant, reason: str = "left the meeting") -> None:
        """The participant leaves: meeting.participant_left with leave_time and leave_reason."""
        fields = {k: v for k, v in participant.fields.items() if k != "join_time"}
        fields["leave_time"] = _iso(self.clock())
        fields["leave_reason"] = f"{fields['user_name']} left the meeting.<br>Reason: {reason}."
        self._emit("meeting.participant_left", participant.meeting, fields)

    async def _enter(self, meeting: Meeting, name: str, email: str, email_as: str, reg: str | None) -> Participant:
        fields: dict[str, Any] = {"user_id": str(meeting.next_user_id), "user_name": name, "id": ""}
        fields["participant_uuid"] = str(uuid.uuid4()).upper()
        fields["join_time"] = _iso(self.clock())
        if email_as != "omitted":
            fields["email"] = email if email_as == "shown" else ""
        if reg is not None:
            fields["registrant_id"] = reg
        meeting.next_user_id += 1
        self._emit("meeting.participant_joined", meeting, fields)
        return Participant(meeting, fields)

    # webhooks

    def sign(self, timestamp: int, body: bytes, secret: str | None = None) -> str:
        """``v0=`` + hex HMAC-SHA256(secret, ``v0:{timestamp}:{body}``)."""
        message = b"v0:%d:%s" % (timestamp, body)
        return "v0=" + hmac.new((secret or self.webhook_secret).encode(), message, hashlib.sha256).hexdigest()

    async def validate_endpoint(self, url: str | None = None) -> UrlValidation:
        """Send an endpoint.url_validation challenge and record the answer."""
        plain = secrets.token_urlsafe(16)
        body = compact_json(
            {"payload": {"plainToken": plain}, "event_ts": self._ms(), "event": "endpoint.url_validation"}
        )
        expected = hmac.new(self.webhook_secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
        status, answer, latency, _ = await self._post(url or self._endpoint(), body, None)
        right = isinstance(answer, dict) and (answer.get("plainToken"), answer.get("encryptedToken")) == (
            plain,
            expected,
        )
        record = UrlValidation(plain, expected, answer, status, latency, status == 200 and right)
        self.validations.append(record)
        return record

    def _emit(self, event: str, meeting: Meeting, participant: Mapping[str, Any]) -> None:
        keys = ("id", "uuid", "host_id", "topic", "type", "start_time", "timezone", "duration")
        obj = {k: meeting.data[k] for k in keys} | {"id": str(meeting.id), "participant": dict(participant)}
        body = compact_json(
            {"event": event, "payload": {"account_id": self.account_id, "object": obj}, "event_ts": self._ms()}
        )
        if self.webhook_url is not None:  # no fault is used up while no webhook is sent
            self._queue(event, body)

    async def _deliver(self, outgoing: Outgoing, attempt: int) -> tuple[WebhookDelivery, float | None]:
        """A freshly signed POST; unless 200/204, retried after ``retry_delays`` (times ``time_scale``)."""
        status, _, latency, headers = await self._post(self._endpoint(), outgoing.body, outgoing.fault)
        ok = status in (200, 204)
        args = (outgoing.event, outgoing.body, headers, attempt, status, latency, ok, outgoing.fault)
        retry = not ok and attempt <= len(self.retry_delays)
        return WebhookDelivery(*args), self.retry_delays[attempt - 1] * self.time_scale if retry else None

    async def _post(self, url: str, body: bytes, fault: str | None) -> tuple[int | None, Any, float, dict[str, str]]:
        timestamp = int(self.clock()) - (STALE_AGE if fault == Fault.STALE_TIMESTAMP else 0)
        secret = "not-the-secret-token" if fault == Fault.BAD_SIGNATURE else None
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "Zoom Marketplace/1.0a"}
        headers |= {"x-zm-request-timestamp": str(timestamp), "x-zm-signature": self.sign(timestamp, body, secret)}
        headers["x-zm-trackingid"] = f"v=2.0;clid=us1;rid={secrets.token_hex(8)}"
        sent = await self._http_post(url, body, headers, self.deadline)
        if sent.error is not None or sent.body is None:  # failed, or the body did not come in full
            return None, None, sent.latency, headers
        raw, latency = sent.body, sent.latency
        try:
            return sent.status, json.loads(raw) if raw else None, latency, headers
        except ValueError:
            return sent.status, raw.decode(errors="replace"), latency, headers

    def _endpoint(self) -> str:
        if self.webhook_url is None:
            raise RuntimeError("no webhook_url is set")
        return self.webhook_url

    def _ms(self) -> int:
        return int(self.clock() * 1000)

    # HTTP: OAuth

    async def _token(self, request: web.Request) -> web.Response:
        form = {**(await request.post()), **request.query}
        grant, account = _str(form.get("grant_type")), _str(form.get("account_id"))
        client_id, secret = _basic(request.headers.get("Authorization", ""))
        status, answer = 200, dict[str, Any]()
        if (client_id, secret) != (self.client_id, self.client_secret):
            status, answer = 400, {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
        elif grant != "account_credentials":
            status, answer = 400, {"reason": "unsupported grant type", "error": "unsupported_grant_type"}
        elif account != self.account_id:
            status, answer = 400, {"reason": "Invalid account_id", "error": "invalid_request"}
        token = secrets.token_urlsafe(32) if status == 200 else None
        if token:
            self._tokens[token] = self.clock() + 3600
            scope = "meeting:read:admin meeting:write:admin"
            answer = {"access_token": token, "token_type": "bearer", "expires_in": 3600, "scope": scope}
            answer["api_url"] = self.web_url
        self.token_requests.append(TokenRequest(client_id, grant, account, status, token))
        return web.json_response(answer, status=status)

    @web.middleware
    async def _bearer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/v2/"):
            return await handler(request)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expires = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if expires is None:
            return _error(401, 124, "Invalid access token.")
        if self.clock() >= expires:
            return _error(401, 124, "Access token is expired.")
        return await handler(request)

    # HTTP: meetings

    async def _create_meeting(self, request: web.Request) -> web.Response:
        if request.match_info["user"] not in ("me", self.host_email):
            return _error(404, 1001, f"User does not exist: {request.match_info['user']}.")
        body = await _json_body(request)
        if body is None:
            return _error(400, 300, "Request Body should be a valid JSON object.")
        meeting_id = secrets.randbelow(9 * 10**10) + 10**10
        settings = {"approval_type": 2, "registration_type": 1, "join_before_host": False, "waiting_room": False}
        settings |= body.get("settings") or {}
        pwd = secrets.token_urlsafe(24)
        data: dict[str, Any] = {
            "uuid": base64.b64encode(uuid.uuid4().bytes).decode(),
            "id": meeting_id,
            "host_id": self.host_id,
            "host_email": self.host_email,
            "topic": body.get("topic", "Zoom meeting"),
            "type": body.get("type", 2),
            "status": "waiting",
            "start_time": body.get("start_time") or _iso(self.clock()),
            "duration": body.get("duration", 60),
            "timezone": body.get("timezone", "UTC"),
            "agenda": body.get("agenda", ""),
            "created_at": _iso(self.clock()),
            "start_url": f"{self.web_url}/s/{meeting_id}?zak={secrets.token_urlsafe(24)}",
            "join_url": f"{self.web_url}/j/{meeting_id}?pwd={pwd}",
            "password": body.get("password", secrets.token_hex(3)),
            "encrypted_password": pwd,
            "settings": settings,
            "pre_schedule": False,
        }
        if settings["approval_type"] in (0, 1):
            data["registration_url"] = f"{self.web_url}/meeting/register/{secrets.token_urlsafe(16)}"
        self.meetings[meeting_id] = Meeting(data)
        return web.json_response(data, status=201)

    def _find(self, request: web.Request) -> Meeting | web.Response:
        raw = request.match_info["id"]
        meeting = self.meetings.get(int(raw)) if raw.isdigit() else None
        return meeting if meeting is not None else _error(404, 3001, f"Meeting does not exist: {raw}.")

    async def _meeting(self, request: web.Request) -> web.Response:
        meeting = self._find(request)
        if isinstance(meeting, web.Response):
            return meeting
        if request.method == "GET":
            return web.json_response(meeting.data)
        if request.method == "DELETE":
            del self.meetings[meeting.id]
            return web.Response(status=204)
        if request.method != "PATCH":
            return web.Response(status=405)
        body = await _json_body(request)
        if body is None:
            return _error(400, 300, "Request Body should be a valid JSON object.")
        settings = meeting.data["settings"] | (body.pop("settings", None) or {})
        meeting.data |= {k: v for k, v in body.items() if k not in ("id", "uuid", "host_id")} | {"settings": settings}
        if settings["approval_type"] in (0, 1):
            meeting.data.setdefault("registration_url", f"{self.web_url}/meeting/register/{secrets.token_urlsafe(16)}")
        return web.Response(status=204)

    async def _registrants(self, request: web.Request) -> web.Response:
        meeting = self._find(request)
        if isinstance(meeting, web.Response):
            return meeting
        if request.method == "GET":
            return self._list_registrants(request, meeting)
        if request.method != "POST":
            return web.Response(status=405)
        approval = meeting.data["settings"]["approval_type"]
        if approval not in (0, 1):
            return _error(400, 3000, f"Registration has not been enabled for this meeting: {meeting.id}.")
        body = await _json_body(request)
        email, first = (body or {}).get("email"), (body or {}).get("first_name")
        if not isinstance(email, str) or "@" not in email or not isinstance(first, str) or not first:
            field_name = "first_name" if isinstance(email, str) and "@" in email else "email"
            answer = {
                "code": 300,
                "message": "Validation Failed.",
                "errors": [{"field": field_name, "message": "Invalid field."}],
            }
            return web.json_response(answer, status=400)
        found = next((r for r in meeting.registrants.values() if r.email.lower() == email.lower()), None)
        registrant = found or self._register(meeting, email, first, str((body or {}).get("last_name", "")), approval)
        answer = {"id": meeting.id, "join_url": registrant.join_url, "registrant_id": registrant.id}
        answer |= {"start_time": meeting.data["start_time"], "topic": meeting.data["topic"]}
        return web.json_response(answer, status=201)

    def _register(self, meeting: Meeting, email: str, first: str, last: str, approval: int) -> Registrant:
        registrant_id = _zoom_id()
        join_url = f"{self.web_url}/w/{meeting.id}?tk={secrets.token_urlsafe(32)}"
        status = "approved" if approval == 0 else "pending"
        registrant = Registrant(registrant_id, email, first, last, join_url, status, _iso(self.clock()))
        meeting.registrants[registrant_id] = registrant
        return registrant

    def _list_registrants(self, request: web.Request, meeting: Meeting) -> web.Response:
        status = request.query.get("status", "approved")
        size = min(int(request.query.get("page_size", "30")), 300)
        start = int(request.query.get("next_page_token") or 0)
        chosen = [r for r in meeting.registrants.values() if r.status == status]
        page = chosen[start : start + size]
        registrants = [
            {"id": r.id, "email": r.email, "first_name": r.first_name, "last_name": r.last_name, "status": r.status}
            | {"create_time": r.create_time, "join_url": r.join_url, "custom_questions": []}
            for r in page
        ]
        following = str(start + size) if start + size < len(chosen) else ""
        answer = {"page_count": -(-len(chosen) // size), "page_size": size, "total_records": len(chosen)}
        return web.json_response(answer | {"next_page_token": following, "registrants": registrants})


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


async def _json_body(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _basic(header: str) -> tuple[str | None, str | None]:
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(int(timestamp), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zoom_id() -> str:
    return secrets.token_urlsafe(16)[:22]


@asynccontextmanager
async def zoom_server(**options: Any) -> AsyncIterator[FakeZoom]:
    """Run a :class:`FakeZoom` (keyword arguments as its constructor's) for the duration of the block."""
    async with running(FakeZoom(**options)) as zoom:
        yield zoom
