"""BigBlueButton: bbb-web's signed API (``create``, ``join``, ``getMeetingInfo``) and bbb-webhooks' callbacks.

A session's meeting has the session's id as its ``meetingID``. Every API call is signed as bbb-web checks it:
the hex hash of call name + query string + shared secret, with the session's ``video.checksum`` algorithm
(bbb-web tells it by the length). A personal link is a signed ``join`` with ``userID`` = the delegate's id (what
bbb-webhooks reports as ``external-user-id``) and the ``createTime`` of the meeting in progress, so that a link
made for an earlier meeting of the same id is refused (``mismatchCreateTimeParam``) rather than let in.

bbb-webhooks (v3.4+) POSTs a form ``domain``, ``event`` (a JSON array of events), ``timestamp`` to the callback
URL registered with ``hooks/create``, signed in a ``checksum`` query parameter: the hash (sha1 unless
``hookChecksumAlgorithm`` says otherwise) of the callback URL *as registered* + the raw form body + the secret;
or, with its ``auth2_0`` option, ``Authorization: Bearer <secret>``. It takes 401 as delivered (neither retried
nor counted against the hook), retries any other non-2xx answer and deletes the hook when its retries run out:
so a forged or stale callback is answered 401, and :meth:`BigBlueButtonProvider.keep_up` registers the hook
again periodically (a duplicate answers ``duplicateWarning``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus, urlencode

import aiohttp
import yarl

from domain.model import Session
from domain.ports import VideoState
from domain.video import Participant, Seat, VideoEvent, VideoEventKind, WebhookReading, WebhookRequest
from integrations.video import Http, VideoUnavailable, failure, header

ALGORITHMS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
"""A checksum's hex length → its hash, as bbb-web and bbb-webhooks tell it."""
CALLBACK_PATH = "/webhooks/bigbluebutton"
"""Where, under the service's public URL, bbb-webhooks posts."""
HOOK_EVENTS = "user-joined,user-left,meeting-ended"
DELEGATE_DATA = "plenary_delegate"
"""The ``userdata-`` key a personal link carries the delegate's id in: ``getMeetingInfo`` shows it as
``customdata``, where it tells a delegate from a guest (whose ``userID`` is bbb-web's internal one)."""
_KINDS = {
    "user-joined": VideoEventKind.JOINED,
    "user-left": VideoEventKind.LEFT,
    "meeting-ended": VideoEventKind.ENDED,
}


@dataclass(frozen=True, slots=True)
class _Server:
    api: str
    """The API base, ``https://HOST/bigbluebutton/api``."""
    secret: str
    algorithm: str


def _server(session: Session) -> _Server:
    video = session.video
    if video is None or video.provider != "bigbluebutton" or video.url is None or video.secret is None:
        raise VideoUnavailable("bigbluebutton", f"session {session.id} has no BigBlueButton server")
    base = video.url.rstrip("/")
    return _Server(base if base.endswith("/api") else f"{base}/api", video.secret.get_secret_value(), video.checksum)


def _servers(sessions: Iterable[Session]) -> list[_Server]:
    """The distinct servers (url, secret, algorithm) of the BigBlueButton sessions among these."""
    found: dict[_Server, None] = {}
    for session in sessions:
        if session.video is not None and session.video.provider == "bigbluebutton":
            found.setdefault(_server(session))
    return list(found)


def sign(server: _Server, call: str, params: Sequence[tuple[str, str]]) -> str:
    """The signed URL of an API call (bbb-web checks the checksum over the query string exactly as sent)."""
    query = urlencode(params)
    checksum = hashlib.new(server.algorithm, f"{call}{query}{server.secret}".encode()).hexdigest()
    return f"{server.api}/{call}?{query}{'&' if query else ''}checksum={checksum}"


class BigBlueButtonProvider:
    """Meetings on the BigBlueButton servers named in sessions' ``video:`` blocks, their callbacks to
    ``public_url`` + ``/webhooks/bigbluebutton``."""

    name = "bigbluebutton"

    def __init__(self, public_url: str, state: VideoState) -> None:
        self.callback_url = public_url.rstrip("/") + CALLBACK_PATH
        self.state = state
        self._http = Http()
        self._callbacks: dict[str, None] = {self.callback_url: None}
        """The callback URLs registered, in the exact form bbb-webhooks signs over."""
        self._signers: tuple[Sequence[Session], dict[str, _Server], dict[str, dict[str, Session]]] | None = None
        """The last sessions asked about, their servers by secret and their sessions by secret and id: the
        same sequence comes with every webhook while the configuration stays (``VideoService.sessions``)."""

    async def join_url(self, session: Session, seat: Seat, now: datetime) -> str:
        """Create the meeting (idempotent: bbb-web answers ``duplicateWarning`` with the same createTime while it
        runs), then the seat's signed ``join`` URL: their name, ``userID`` = the delegate's id, MODERATOR for the
        chair and the secretariat, VIEWER otherwise, and the meeting's ``createTime``."""
        server = _server(session)
        create_time = await self._create(server, session, now)
        params = [
            ("fullName", seat.name.strip() or seat.delegate_id),
            ("meetingID", session.id),
            ("role", "MODERATOR" if seat.moderator else "VIEWER"),
            ("userID", seat.delegate_id),
            ("createTime", create_time),
            (f"userdata-{DELEGATE_DATA}", seat.delegate_id),
            ("redirect", "true"),
        ]
        return sign(server, "join", params)

    async def _create(self, server: _Server, session: Session, now: datetime) -> str:
        name = next(iter(session.title.values()), "") or session.id
        # bbb-web ends a meeting nobody joined 5 minutes after its create, and one everybody left a minute after
        # the last left (a break): the links made for it would then be refused. It lives until the session ends.
        lasting = str(max(5, math.ceil((session.ends_at - now).total_seconds() / 60)))
        params = [
            ("meetingID", session.id),
            ("name", name),
            ("meta_plenary-session", session.id),  # bbb-web keeps meta_ names of [a-zA-Z][a-zA-Z0-9-]* only
            ("record", "false"),
            ("meetingExpireIfNoUserJoinedInMinutes", lasting),
            ("meetingExpireWhenLastUserLeftInMinutes", lasting),
        ]
        answer = await self._call(server, "create", params)
        create_time, internal = answer.findtext("createTime"), answer.findtext("internalMeetingID")
        if not create_time or not internal:
            raise VideoUnavailable(self.name, "create answered without a createTime")
        data: dict[str, object] = {"internal_meeting_id": internal, "create_time": create_time}
        if await self.state.get(self.name, session.id) != data:
            await self.state.put(self.name, session.id, data)
        return create_time

    async def _call(self, server: _Server, call: str, params: Sequence[tuple[str, str]]) -> ET.Element:
        """One API call's XML answer; FAILED answers are the caller's to read (``messageKey``)."""
        try:
            url = yarl.URL(sign(server, call, params), encoded=True)
            async with self._http.session.get(url, allow_redirects=False) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise VideoUnavailable(self.name, f"{call}: {failure(exc)}") from None
        if status != 200:
            raise VideoUnavailable(self.name, f"{call} answered HTTP {status}")
        try:
            answer = ET.fromstring(text)
        except ET.ParseError:
            raise VideoUnavailable(self.name, f"{call} answered no XML") from None
        if answer.findtext("returncode") != "SUCCESS" and answer.findtext("messageKey") != "notFound":
            key = answer.findtext("messageKey") or "no messageKey"
            raise VideoUnavailable(self.name, f"{call} was refused ({key})")
        return answer

    async def read_webhook(self, sessions: Sequence[Session], request: WebhookRequest) -> WebhookReading:
        """Check the callback's checksum (or bearer token) against every distinct secret of these sessions, in
        constant time and before anything of it is read; then read its user-joined, user-left and meeting-ended
        events for the sessions whose server signed it. Forged or unsigned: 401 (bbb-webhooks neither retries
        nor deletes the hook); well signed but malformed: 400."""
        servers, by_secret = self._servers_of(sessions)
        signed_by, refusal = self._verify(servers, request)
        if not signed_by:
            return WebhookReading(status=401, refused=refusal)
        if len(signed_by) == 1:
            ours = by_secret.get(signed_by[0], {})
        else:
            ours = {i: s for secret in signed_by for i, s in by_secret.get(secret, {}).items()}
        try:  # yarl's form decoding (compiled): parse_qsl's alone cost more than all the rest of reading it
            form = yarl.URL.build(query_string=request.body.decode(), encoded=True).query
            batch: Any = json.loads(form["event"])
            items = batch if isinstance(batch, list) else [batch]
            events = [event for item in items if (event := _event(item, ours)) is not None]
        except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError):
            return WebhookReading(status=400, refused="the callback's form or events could not be read")
        return WebhookReading(status=200, events=tuple(events), meta={"domain": form.get("domain", "")})

    def _servers_of(self, sessions: Sequence[Session]) -> tuple[dict[str, _Server], dict[str, dict[str, Session]]]:
        """The distinct servers of these sessions by secret, and the sessions by secret and id: worked out once
        for the sequence (every webhook brings the same one), not for each webhook."""
        known = self._signers
        if known is None or known[0] is not sessions:
            by_secret: dict[str, dict[str, Session]] = {}
            for s in sessions:
                if s.video is not None and s.video.secret is not None and s.video.provider == self.name:
                    by_secret.setdefault(s.video.secret.get_secret_value(), {})[s.id] = s
            servers = {server.secret: server for server in _servers(sessions)}
            self._signers = known = (sessions, servers, by_secret)
        return known[1], known[2]

    def _verify(self, secrets: Mapping[str, _Server], request: WebhookRequest) -> tuple[list[str], str]:
        """The secrets (of these servers, by secret) that signed the request, else none and why, in words."""
        given = _checksum(request.url)
        bearer = header(request.headers, "Authorization")
        if given is None and bearer is None:
            return [], "no checksum and no bearer token"
        algorithm = ALGORITHMS.get(len(given)) if given is not None else None
        matched: dict[str, None] = {}
        for secret in secrets:
            if bearer is not None and hmac.compare_digest(bearer.encode(), f"Bearer {secret}".encode()):
                matched.setdefault(secret)
            if given is None or algorithm is None:
                continue
            for url in self._callbacks:
                if _matches(algorithm, given, url.encode(), request.body, secret.encode()):
                    matched.setdefault(secret)
        if matched:
            return list(matched), ""
        if (
            given is not None
            and algorithm is not None
            and any(
                _matches(algorithm, given, f"{url}{{}}{secret}".encode())
                for secret in secrets
                for url in self._callbacks
            )
        ):
            return [], "signed over no body (bbb-webhooks before 3.4): upgrade it to sign the events"
        if given is not None and algorithm is None:
            return [], "a checksum of no known length"
        return [], "the checksum or bearer token matches no server's secret"

    async def present(self, session: Session) -> list[Participant] | None:
        """``getMeetingInfo``'s attendees; None when the meeting does not exist or does not run. bbb-web gives
        no internal user id here: ``platform_id`` is the ``userID`` (the delegate's id, or for a guest bbb-web's
        internal one), and a delegate is told by the ``userdata`` of their personal link."""
        answer = await self._call(_server(session), "getMeetingInfo", [("meetingID", session.id)])
        if answer.findtext("returncode") != "SUCCESS" or answer.findtext("running") != "true":
            return None
        found = []
        for attendee in answer.iter("attendee"):
            user_id = attendee.findtext("userID") or ""
            delegate = attendee.findtext(f"customdata/{DELEGATE_DATA}") or None
            found.append(Participant(user_id, delegate, attendee.findtext("fullName") or ""))
        return found

    async def keep_up(self, sessions: Sequence[Session], callback_url: str, now: datetime) -> None:
        """Register the callback (``hooks/create``) on every distinct server of these sessions: bbb-webhooks
        deletes a hook whose deliveries keep failing, so this runs periodically; an existing hook answers
        ``duplicateWarning``. Every server is tried; the first failure is raised after."""
        self._callbacks.setdefault(callback_url)
        params = [("callbackURL", callback_url), ("eventID", HOOK_EVENTS)]
        done = await asyncio.gather(
            *(self._call(server, "hooks/create", params) for server in _servers(sessions)), return_exceptions=True
        )
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
            if outcome.findtext("returncode") != "SUCCESS":
                raise VideoUnavailable(self.name, f"hooks/create was refused ({outcome.findtext('messageKey')})")

    async def close(self) -> None:
        """Close the HTTP session."""
        await self._http.close()


_HASHES = {name: getattr(hashlib, name) for name in ALGORITHMS.values()}
"""The hashes' own constructors: ``hashlib.new`` looks the name up again for every checksum."""


def _matches(algorithm: str, given: str, *signed: bytes) -> bool:
    """Whether ``given`` is the hex hash of the parts of ``signed``, one after the other."""
    digest = _HASHES[algorithm]()
    for part in signed:
        digest.update(part)
    return hmac.compare_digest(digest.hexdigest(), given.lower())


def _checksum(url: str) -> str | None:
    """The last ``checksum`` parameter of the URL's query string (as ``parse_qsl`` would read it, but without
    decoding every other parameter: hex digits come as they are)."""
    found = None
    for pair in url.partition("?")[2].partition("#")[0].split("&"):
        if pair.startswith("checksum="):
            found = pair[9:]
    return unquote_plus(found) if found is not None and ("%" in found or "+" in found) else found


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping[key]
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ValueError(f"{key} is not a string")
    return str(value)


def _event(item: Any, sessions: Mapping[str, Session]) -> VideoEvent | None:
    """One bbb-webhooks v3 event for one of these sessions (by ``external-meeting-id``), else None."""
    data = item["data"]
    kind = _KINDS.get(data["id"])
    if kind is None:
        return None
    attributes = data["attributes"]
    meeting, ts = attributes["meeting"], int(_text(data["event"], "ts"))
    session = sessions.get(_text(meeting, "external-meeting-id"))
    internal_meeting = _text(meeting, "internal-meeting-id")
    at = datetime.fromtimestamp(ts / 1000, UTC)
    if session is None:
        return None
    if kind is VideoEventKind.ENDED:
        return VideoEvent(session.id, kind, at, f"bigbluebutton:{internal_meeting}::{data['id']}:{ts}")
    user = attributes["user"]
    internal_user = _text(user, "internal-user-id")
    external = str(user.get("external-user-id") or "")
    delegate = external if external and external != internal_user else None  # no userID: a guest
    participant = Participant(internal_user, delegate, str(user.get("name") or ""))
    key = f"bigbluebutton:{internal_meeting}:{internal_user}:{data['id']}:{ts}"
    return VideoEvent(session.id, kind, at, key, participant)
