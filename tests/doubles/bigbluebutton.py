"""A BigBlueButton server (bbb-web 2.7+/3.0 API plus bbb-webhooks v3) over real HTTP on loopback, for tests.

Modelled: the API under ``{base_url}/bigbluebutton/api/<call>`` signed as bbb-web checks it — the hex of
hash(call + raw query string without ``checksum`` + secret), the algorithm told by the length (sha1 40,
sha256 64, sha384 96, sha512 128; bbb-web compares case-insensitively, bbb-webhooks exactly); ``create``
(idempotent: ``duplicateWarning`` and the same createTime/internalMeetingID; ``meta_<name>`` kept lowercased
when the name matches ``[a-zA-Z][a-zA-Z0-9-]*``), ``join`` (``role``, or the legacy password; ``createTime``
checked — ``mismatchCreateTimeParam``; a 302 to ``/html5client/join?sessionToken=…``, or XML with
``redirect=false``; errors redirect with ``errors=[{"key","message"}]`` unless ``redirect=false``),
``getMeetingInfo``, ``isMeetingRunning``, ``end``, ``getMeetings``; and bbb-webhooks' ``hooks/create|destroy|
list`` with its callbacks: one form POST per event (``domain``, ``event`` = a JSON array, ``timestamp``),
signed sha1(callbackURL + form body + secret) in a ``checksum`` query parameter (or ``Authorization:
Bearer``), retried after each of ``retry_intervals`` on a non-2xx answer (401 counts as delivered) or a
timeout, and the hook deleted when the retries run out unless it is permanent (then retried for ever).

A participant is in a meeting only once a test makes it enter (:meth:`BigBlueButtonServer.enter` with the
session token of a real ``join``, :meth:`~BigBlueButtonServer.open_join_url`, or ``join_guest`` for someone
whose join URL carried no ``userID``); ``leave`` and ``end_meeting`` take them out. Faults: drop or
duplicate an event, hold events and release them reversed (one POST each or all in one), and whatever the
receiving server answers (errors, slowness) drives the retries.

Not modelled: recordings, presentations, breakouts, guest policy and lobby, voice/video, raw events
(``getRaw`` is stored and listed only), events other than meeting-created, user-joined, user-left and
meeting-ended (no presenter events), JSON answers, maxParticipants, meeting expiry timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import secrets
import string
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, cast
from urllib.parse import parse_qs, parse_qsl, quote_plus, urlencode, urlsplit
from xml.sax.saxutils import escape

import aiohttp
import yarl
from aiohttp import web

ALGORITHMS = {40: "sha1", 64: "sha256", 96: "sha384", 128: "sha512"}
"""The checksum's hex length → the hash bbb-web and bbb-webhooks check it with."""
NOT_FOUND = ("notFound", "A meeting with that ID does not exist")
_META = re.compile(r"meta_[a-zA-Z][a-zA-Z0-9-]*")
Event = dict[str, Any]


class _Raw(str):
    """XML already escaped."""


def _x(value: object) -> str:
    if isinstance(value, _Raw):
        return value
    return escape(str(value).lower() if isinstance(value, bool) else str(value), {'"': "&quot;", "'": "&apos;"})


def _tags(*pairs: tuple[str, object]) -> _Raw:
    return _Raw("".join(f"<{tag}>{_x(value)}</{tag}>" for tag, value in pairs))


def _response(*pairs: tuple[str, object]) -> str:
    return f"<response>{_tags(*pairs)}</response>"


def _failed(key: str, message: str) -> str:
    return _response(("returncode", "FAILED"), ("messageKey", key), ("message", message))


_CREATED = (  # bbb-web's create-meeting.ftlx
    "<response><returncode>SUCCESS</returncode><meetingID>{id}</meetingID><internalMeetingID>{internal}"
    "</internalMeetingID><parentMeetingID>bbb-none</parentMeetingID>{passwords}<createTime>{create_time}</createTime>"
    "<voiceBridge>{bridge}</voiceBridge><dialNumber>{dial}</dialNumber><createDate>{create_date}</createDate>"
    "<hasUserJoined>{joined}</hasUserJoined><duration>{duration}</duration><hasBeenForciblyEnded>false"
    "</hasBeenForciblyEnded><messageKey>{key}</messageKey><message>{message}</message></response>"
)
_INFO = (  # bbb-web's get-meeting-info.ftlx, less the breakout fields
    "<meetingName>{name}</meetingName><meetingID>{id}</meetingID><internalMeetingID>{internal}</internalMeetingID>"
    "<createTime>{create_time}</createTime><createDate>{create_date}</createDate><voiceBridge>{bridge}</voiceBridge>"
    "<dialNumber>{dial}</dialNumber>{passwords}<running>{running}</running><duration>{duration}</duration>"
    "<hasUserJoined>{joined}</hasUserJoined><recording>{record}</recording><hasBeenForciblyEnded>false"
    "</hasBeenForciblyEnded><startTime>{create_time}</startTime><endTime>0</endTime><participantCount>{count}"
    "</participantCount><listenerCount>0</listenerCount><voiceParticipantCount>0</voiceParticipantCount><videoCount>"
    "0</videoCount><maxUsers>{max_users}</maxUsers><moderatorCount>{moderators}</moderatorCount><attendees>"
    "{attendees}</attendees><metadata>{metadata}</metadata><isBreakout>false</isBreakout>"
)
_ATTENDEE = (
    "<attendee><userID>{external}</userID><fullName>{name}</fullName><role>{role}</role><isPresenter>{presenter}"
    "</isPresenter><isListeningOnly>false</isListeningOnly><hasJoinedVoice>false</hasJoinedVoice><hasVideo>false"
    "</hasVideo><clientType>HTML5</clientType>{customdata}</attendee>"
)
_JOINED = (  # bbb-web's join-meeting.ftlx
    "<response><returncode>SUCCESS</returncode><messageKey>successfullyJoined</messageKey><message>You have joined "
    "successfully.</message><meeting_id>{internal}</meeting_id><user_id>{user}</user_id><auth_token>{auth}"
    "</auth_token><session_token>{token}</session_token><guestStatus>ALLOW</guestStatus><url>{url}</url></response>"
)
_ENDED = (
    "A request to end the meeting was sent.  Please wait a few seconds, and then use the getMeetingInfo or "
    "isMeetingRunning API calls to verify that it was ended."
)


def _render(template: str, **values: object) -> str:
    return template.format(**{k: _x(v) for k, v in values.items()})


def sign(call: str, query: str, secret: str, algorithm: str = "sha1") -> str:
    """The API checksum: hex hash of call name + query string (without ``checksum``) + shared secret."""
    return hashlib.new(algorithm, f"{call}{query}{secret}".encode()).hexdigest()


def form_encode(pairs: Iterable[tuple[str, str]]) -> str:
    """``application/x-www-form-urlencoded`` as WHATWG URLSearchParams writes it (bbb-webhooks' POST body)."""
    return "&".join(f"{_form(k)}={_form(v)}" for k, v in pairs)


def _form(text: str) -> str:
    return quote_plus(text, safe="*").replace("~", "%7E")  # URLSearchParams keeps * and escapes ~


def callback_checksum(callback_url: str, body: str, secret: str, algorithm: str = "sha1") -> str:
    """bbb-webhooks' callback checksum (v3.4+): hash(callbackURL as registered + form body + secret)."""
    return hashlib.new(algorithm, f"{callback_url}{body}{secret}".encode()).hexdigest()


def _token(n: int) -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(n))


@dataclass(frozen=True)
class ApiCall:
    """One API request received (hooks calls are named ``hooks/create`` and so on)."""

    name: str
    params: Mapping[str, str]
    algorithm: str | None
    """The checksum's algorithm when it matched, else None."""
    status: int
    message_key: str | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class Attendee:
    """A ``join`` registration, and the participant once entered."""

    internal_user_id: str
    external_user_id: str
    full_name: str
    role: str
    session_token: str
    internal_meeting_id: str
    guest: bool = False
    presenter: bool = False
    customdata: dict[str, str] = field(default_factory=dict)
    """The ``userdata-*`` join parameters, without the prefix."""


@dataclass
class Meeting:
    """A meeting as bbb-web holds it; ``params`` are those of its ``create``."""

    meeting_id: str
    internal_meeting_id: str
    create_time: int
    params: dict[str, str]
    metadata: dict[str, str]
    voice_bridge: str
    attendees: dict[str, Attendee] = field(default_factory=dict)
    running: bool = False

    def values(self) -> dict[str, object]:
        """What the XML templates and meeting-created take from a meeting."""
        passwords = _tags(*((pw, self.params[pw]) for pw in ("attendeePW", "moderatorPW") if self.params.get(pw)))
        users = list(self.attendees.values())
        date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime(self.create_time / 1000))  # Java Date
        return dict(
            id=self.meeting_id, internal=self.internal_meeting_id, create_time=self.create_time, create_date=date,
            name=self.params.get("name", ""), bridge=self.voice_bridge, passwords=passwords, joined=self.running,
            dial=self.params.get("dialNumber", "613-555-1234"), duration=int(self.params.get("duration", "0")),
            running=self.running, record=self.params.get("record", "").lower() == "true", count=len(users),
            max_users=int(self.params.get("maxParticipants", "0")),
            moderators=sum(u.role == "MODERATOR" for u in users),
        )  # fmt: skip


@dataclass
class Hook:
    """A bbb-webhooks subscription (``event_ids`` lowercased, as bbb-webhooks stores them)."""

    hook_id: str
    callback_url: str
    meeting_id: str | None
    event_ids: list[str] | None
    get_raw: bool = False
    permanent: bool = False


@dataclass(frozen=True)
class Delivery:
    """One callback POST attempt and the receiver's answer (``status`` None: timed out or no connection)."""

    hook_id: str
    url: str
    form: Mapping[str, str]
    events: list[Event]
    attempt: int
    status: int | None
    error: str | None
    headers: Mapping[str, str]
    at: float = field(default_factory=time.monotonic)


@dataclass(eq=False)
class BigBlueButtonServer:
    """The double; run it with :func:`bigbluebutton_server`. Records: ``calls``, ``events``, ``deliveries``."""

    secret: str = "bbb-test-secret"
    _: KW_ONLY
    algorithms: Sequence[str] = ("sha1", "sha256", "sha384", "sha512")
    """bbb-web's (and bbb-webhooks') ``supportedChecksumAlgorithms``."""
    hook_checksum_algorithm: str = "sha1"
    """bbb-webhooks' ``hookChecksumAlgorithm`` for the callbacks."""
    bearer_auth: bool = False
    """bbb-webhooks' ``auth2_0``: ``Authorization: Bearer <secret>`` instead of the checksum."""
    retry_intervals: Sequence[float] = (0.02, 0.05, 0.1)
    """Seconds before each retry (bbb-webhooks' ``retryIntervals``, in ms there: 100 ms … 60 s)."""
    request_timeout: float = 1.0
    permanent_urls: Sequence[str] = ()
    """Callback URLs registered at start as permanent hooks (never deleted, retried every ``permanent_interval``)."""
    permanent_interval: float = 0.2
    domain: str = "127.0.0.1"
    """The ``domain`` form field (bbb-webhooks' ``bbb.serverDomain``)."""
    session_token_in_events: bool = False
    """bbb-webhooks 3.5+: user-joined carries ``session-token``, an array of the join's session tokens."""
    legacy_empty_body_checksum: bool = False
    """bbb-webhooks 3.0–3.3: the callback checksum is hash(callbackURL + "{}" + secret), the same for all events."""
    clock: Callable[[], int] = field(default=lambda: time.time_ns() // 1_000_000)
    """The server's clock in Unix milliseconds (a demo runs it at a simulated time)."""
    calls: list[ApiCall] = field(default_factory=list, init=False)
    events: list[Event] = field(default_factory=list, init=False)
    """Every event that happened, in order, whether delivered, dropped or held."""
    deliveries: list[Delivery] = field(default_factory=list, init=False)
    removed_hooks: list[Hook] = field(default_factory=list, init=False)
    """Hooks deleted after their callback retries ran out."""
    hooks: dict[str, Hook] = field(default_factory=dict, init=False)
    meetings: dict[str, Meeting] = field(default_factory=dict, init=False)
    """The meetings not ended, by external meetingID."""
    sessions: dict[str, Attendee] = field(default_factory=dict, init=False)
    """Every ``join`` registration, by session token."""
    base_url: str = field(default="", init=False)
    """``http://127.0.0.1:PORT`` once started; the API is at ``{base_url}/bigbluebutton/api/``."""
    _drop: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _twice: Counter[str] = field(default_factory=Counter, init=False, repr=False)
    _held: list[Event] | None = field(default=None, init=False, repr=False)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set, init=False, repr=False)
    _last_create: int = field(default=0, init=False, repr=False)
    _runner: web.AppRunner | None = field(default=None, init=False, repr=False)
    _client: aiohttp.ClientSession | None = field(default=None, init=False, repr=False)

    async def start(self) -> None:
        """Serve on a free port of 127.0.0.1 and register the permanent hooks."""
        app = web.Application()
        app.router.add_get("/bigbluebutton/api/{call:.*}", self._handle)
        app.router.add_get("/html5client/join", self._client_page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.base_url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        self._client = aiohttp.ClientSession(headers={"User-Agent": "node-fetch"})
        for url in self.permanent_urls:
            hook_id = str(uuid.uuid5(uuid.NAMESPACE_URL, url))  # bbb-webhooks: uuidv5(callbackURL, URL)
            self.hooks[hook_id] = Hook(hook_id, url, None, None, permanent=True)

    async def close(self) -> None:
        """Cancel pending callbacks and stop serving."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def settle(self, seconds: float = 10.0) -> None:
        """Wait (at most ``seconds``: TimeoutError) until every callback was delivered or given up, retries included."""
        async with asyncio.timeout(seconds):
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # the HTTP API

    @staticmethod
    async def _client_page(request: web.Request) -> web.Response:
        return web.Response(text="<html><title>BigBlueButton</title></html>", content_type="text/html")

    async def _handle(self, request: web.Request) -> web.Response:
        call = request.match_info["call"]
        if call == "hooks/ping":
            return web.Response(text="bbb-webhooks API up!")
        raw = request.raw_path.partition("?")[2]
        params: dict[str, str] = {}
        for key, value in parse_qsl(raw, keep_blank_values=True):
            params.setdefault(key, value)  # bbb-web reads the first value
        algorithm, response = self._verify(call, raw, params.get("checksum", ""))
        handler = getattr(self, "_api_" + call.replace("/", "_"), None)
        if response is None:
            response = cast(web.Response, handler(params)) if handler else web.Response(status=404, text="Not Found")
        found = re.search(r"<messageKey>([^<]*)</messageKey>", response.text or "")
        self.calls.append(ApiCall(call, params, algorithm, response.status, found[1] if found else None))
        return response

    def _verify(self, call: str, raw: str, checksum: str) -> tuple[str | None, web.Response | None]:
        """The checksum's algorithm when it matches, else the refusal bbb-web (or bbb-webhooks) answers."""
        hooks = call.startswith("hooks/")
        algorithm = ALGORITHMS.get(len(checksum))
        if hooks and checksum and algorithm is None:
            return None, web.Response(status=500, text="Internal Server Error")  # bbb-webhooks throws
        query = re.sub(r"checksum=[^&]*$", "", re.sub(r"checksum=[^&]*&", "", re.sub(r"&checksum=[^&]*", "", raw)))
        given = checksum if hooks else checksum.lower()
        if (
            algorithm is not None
            and algorithm in self.algorithms
            and sign(call, query, self.secret, algorithm) == given
        ):
            return algorithm, None
        refusal = "You did not pass the checksum security check." if hooks else "Checksums do not match"
        return None, self._xml(_failed("checksumError", refusal))

    @staticmethod
    def _xml(text: str) -> web.Response:
        return web.Response(text=text, content_type="text/xml", charset="utf-8")

    def _api_create(self, p: dict[str, str]) -> web.Response:
        meeting_id = p.get("meetingID", "").strip()
        if not meeting_id:
            return self._xml(_failed("missingParamMeetingID", "You must specify a meeting ID for the meeting."))
        existing = self.meetings.get(meeting_id)
        if existing is None:
            return self._xml(_render(_CREATED, **self._new_meeting(meeting_id, p).values(), key="", message=""))
        passwords = ("attendeePW", "moderatorPW")  # bbb-web: both the same as before, or neither given
        if any(pw in p for pw in passwords) and any(existing.params.get(pw) != p.get(pw) for pw in passwords):
            message = "A meeting already exists with that meeting ID.  Please use a different meeting ID."
            return self._xml(_failed("idNotUnique", message))
        message = "This conference was already in existence and may currently be in progress."
        return self._xml(_render(_CREATED, **existing.values(), key="duplicateWarning", message=message))

    def _new_meeting(self, meeting_id: str, p: dict[str, str]) -> Meeting:
        self._last_create = create_time = max(self.clock(), self._last_create + 1)
        internal = f"{hashlib.sha1(meeting_id.encode()).hexdigest()}-{create_time}"
        metadata = {k[5:].lower(): v for k, v in p.items() if _META.fullmatch(k)}
        bridge = p.get("voiceBridge") or str(secrets.randbelow(90000) + 10000)
        meeting = self.meetings[meeting_id] = Meeting(meeting_id, internal, create_time, dict(p), metadata, bridge)
        v = meeting.values()
        created = {k.replace("_", "-"): v[k] for k in ("name", "duration", "create_time", "create_date", "record")}
        self._emit("meeting-created", meeting, meeting={
            "internal-meeting-id": internal, "external-meeting-id": meeting_id, **created, "is-breakout": False,
            "parent-id": "bbb-none", "moderator-pass": p.get("moderatorPW", ""), "viewer-pass": p.get("attendeePW", ""),
            "voice-conf": bridge, "dial-number": v["dial"], "max-users": v["max_users"], "metadata": metadata,
        })  # fmt: skip
        return meeting

    def _api_join(self, p: dict[str, str]) -> web.Response:
        redirect = p.get("redirect", "true").lower() != "false"
        meeting = self.meetings.get(p.get("meetingID", "").strip())
        failure = self._join_failure(p, meeting)
        if failure is not None or meeting is None:
            key, message = failure or NOT_FOUND
            if not redirect:
                return self._xml(_failed(key, message))
            errors = json.dumps([{"key": key, "message": message}], separators=(",", ":"))
            target = p.get("errorRedirectUrl") or p.get("logoutURL") or f"{self.base_url}/"
            location = f"{target}{'&' if '?' in target else '?'}{urlencode({'errors': errors})}"
            return web.Response(status=302, headers={"Location": location})
        user = self._register(meeting, p, self._role(meeting, p) or "VIEWER")
        url = f"{self.base_url}/html5client/join?sessionToken={user.session_token}"
        if redirect:
            return web.Response(status=302, headers={"Location": url})
        ids = {"internal": meeting.internal_meeting_id, "user": user.internal_user_id, "token": user.session_token}
        return self._xml(_render(_JOINED, **ids, auth=_token(12), url=url))

    def _join_failure(self, p: dict[str, str], meeting: Meeting | None) -> tuple[str, str] | None:
        if not p.get("fullName", "").strip():
            return "validationError", "You must provide your name"
        if meeting is None:
            return NOT_FOUND
        if "createTime" in p and p["createTime"] != str(meeting.create_time):
            return "mismatchCreateTimeParam", "The createTime parameter submitted mismatches with the current meeting."
        if self._role(meeting, p) is None:
            if not p.get("password"):
                return "Params required", "You must either send the valid role of the user, or the password."
            return "invalidPassword", "The provided password is neither a moderator or attendee password"
        return None

    @staticmethod
    def _role(meeting: Meeting, p: dict[str, str]) -> str | None:
        if (role := p.get("role", "").upper()) in ("MODERATOR", "VIEWER"):
            return role
        by_password = {meeting.params.get("moderatorPW"): "MODERATOR", meeting.params.get("attendeePW"): "VIEWER"}
        return by_password.get(p["password"]) if p.get("password") else None

    def _register(self, meeting: Meeting, p: dict[str, str], role: str) -> Attendee:
        internal = f"w_{_token(12)}"
        external = p.get("userID") or internal  # bbb-web: no userID → the internal one
        custom = {k[9:]: v for k, v in p.items() if k.startswith("userdata-")}
        guest = p.get("guest", "").lower() == "true"
        args = internal, external, p["fullName"].strip(), role, _token(16), meeting.internal_meeting_id, guest
        user = Attendee(*args, customdata=custom)
        self.sessions[user.session_token] = user
        return user

    def _api_getMeetingInfo(self, p: dict[str, str]) -> web.Response:
        meeting = self.meetings.get(p.get("meetingID", ""))
        if meeting is None:
            return self._xml(_failed(*NOT_FOUND))
        return self._xml(f"<response><returncode>SUCCESS</returncode>{self._info(meeting)}</response>")

    @staticmethod
    def _info(m: Meeting) -> str:
        attendees = "".join(
            _render(_ATTENDEE, external=u.external_user_id, name=u.full_name, role=u.role, presenter=u.presenter,
                    customdata=_tags(("customdata", _tags(*u.customdata.items()))) if u.customdata else "")
            for u in m.attendees.values()
        )  # fmt: skip
        return _render(_INFO, **m.values(), attendees=_Raw(attendees), metadata=_tags(*m.metadata.items()))

    def _api_isMeetingRunning(self, p: dict[str, str]) -> web.Response:
        meeting = self.meetings.get(p.get("meetingID", ""))
        return self._xml(_response(("returncode", "SUCCESS"), ("running", meeting is not None and meeting.running)))

    def _api_end(self, p: dict[str, str]) -> web.Response:
        meeting = self.meetings.get(p.get("meetingID", ""))
        if meeting is None:
            return self._xml(_failed(*NOT_FOUND))
        self._finish(meeting)
        return self._xml(
            _response(("returncode", "SUCCESS"), ("messageKey", "sentEndMeetingRequest"), ("message", _ENDED))
        )

    def _api_getMeetings(self, p: dict[str, str]) -> web.Response:
        meetings = "".join(f"<meeting>{self._info(m)}</meeting>" for m in self.meetings.values())
        none = _tags(("messageKey", "noMeetings"), ("message", "no meetings were found on this server"))
        found = f"<meetings>{meetings}</meetings>" if meetings else f"<meetings/>{none}"
        return self._xml(f"<response><returncode>SUCCESS</returncode>{found}</response>")

    # the bbb-webhooks API

    def _api_hooks_create(self, p: dict[str, str]) -> web.Response:
        url = p.get("callbackURL")
        if url is None:
            return self._xml(_failed("missingParamCallbackURL", "You must specify a callbackURL in the parameters."))
        if hook := next((h for h in self.hooks.values() if h.callback_url == url), None):
            duplicate = (
                ("messageKey", "duplicateWarning"),
                ("message", "There is already a hook for this callback URL."),
            )
            return self._xml(_response(("returncode", "SUCCESS"), ("hookID", hook.hook_id), *duplicate))
        event_ids = p["eventID"].lower().split(",") if "eventID" in p else None
        hook = Hook(str(uuid.uuid4()), url, p.get("meetingID"), event_ids, p.get("getRaw", "").lower() == "true")
        self.hooks[hook.hook_id] = hook
        flags = ("permanentHook", False), ("rawData", hook.get_raw)
        return self._xml(_response(("returncode", "SUCCESS"), ("hookID", hook.hook_id), *flags))

    def _api_hooks_destroy(self, p: dict[str, str]) -> web.Response:
        if "hookID" not in p:
            return self._xml(_failed("missingParamHookID", "You must specify a hookID in the parameters."))
        hook = self.hooks.get(p["hookID"])
        if hook is None or hook.permanent:
            return self._xml(_failed("destroyMissingHook", "The hook informed was not found."))
        del self.hooks[hook.hook_id]
        return self._xml(_response(("returncode", "SUCCESS"), ("removed", True)))

    def _api_hooks_list(self, p: dict[str, str]) -> web.Response:
        hooks = list(self.hooks.values())
        if "meetingID" in p:
            hooks = sorted((h for h in hooks if h.meeting_id in (None, p["meetingID"])), key=lambda h: h.hook_id)
        items = "".join(
            f"<hook><hookID>{h.hook_id}</hookID><callbackURL><![CDATA[{h.callback_url}]]></callbackURL>"
            + (f"<meetingID><![CDATA[{h.meeting_id}]]></meetingID>" if h.meeting_id is not None else "")
            + (f"<eventID>{','.join(h.event_ids)}</eventID>" if h.event_ids is not None else "")
            + f"{_tags(('permanentHook', h.permanent), ('rawData', h.get_raw))}</hook>"
            for h in hooks
        )
        return self._xml(f"<response><returncode>SUCCESS</returncode><hooks>{items}</hooks></response>")

    # what tests make participants do

    async def enter(self, session_token: str) -> Attendee:
        """The participant holding this session token (from a ``join``) opens the client and joins."""
        if (user := self.sessions.get(session_token)) is None:
            raise LookupError(f"no join issued the session token {session_token!r}")
        meeting = next((m for m in self.meetings.values() if m.internal_meeting_id == user.internal_meeting_id), None)
        if meeting is None:
            raise LookupError("the meeting of that join has ended")
        if user.internal_user_id not in meeting.attendees:
            # akka-apps makes the first moderator presenter (user-joined still says presenter false)
            user.presenter = user.role == "MODERATOR" and not any(u.presenter for u in meeting.attendees.values())
            meeting.attendees[user.internal_user_id] = user
            meeting.running = True
            self._emit("user-joined", meeting, user=self._user(user, joined=True))
        await asyncio.sleep(0)
        return user

    async def open_join_url(self, url: str) -> Attendee:
        """GET a join URL as a browser would (checksum checked) and enter with the session token it gives."""
        assert self._client is not None
        async with self._client.get(yarl.URL(url, encoded=True), allow_redirects=False) as response:
            location, body = response.headers.get("Location", ""), await response.text()
        tokens = parse_qs(urlsplit(location).query).get("sessionToken")
        if response.status != 302 or not tokens:
            raise AssertionError(f"join refused: {response.status} {location or body}")
        return await self.enter(tokens[0])

    async def join_guest(self, meeting_id: str, name: str, *, role: str = "VIEWER") -> Attendee:
        """Someone joins through a URL without ``userID`` (not one of ours): external id = internal id."""
        user = self._register(self.meetings[meeting_id], {"fullName": name}, role)
        return await self.enter(user.session_token)

    async def leave(self, user: Attendee) -> None:
        """The participant closes the client."""
        for meeting in self.meetings.values():
            if meeting.attendees.pop(user.internal_user_id, None) is not None:
                self._emit("user-left", meeting, user=self._user(user, joined=False))
        await asyncio.sleep(0)

    async def end_meeting(self, meeting_id: str) -> None:
        """A moderator ends the meeting (as the ``end`` call does): everyone leaves, then meeting-ended."""
        self._finish(self.meetings[meeting_id])
        await asyncio.sleep(0)

    def _finish(self, meeting: Meeting) -> None:
        for user in list(meeting.attendees.values()):
            del meeting.attendees[user.internal_user_id]
            self._emit("user-left", meeting, user=self._user(user, joined=False))
        del self.meetings[meeting.meeting_id]
        self._emit("meeting-ended", meeting)

    # faults

    def drop(self, event_id: str, times: int = 1) -> None:
        """Deliver the next ``times`` events of this id to nobody (the meeting's state changes all the same)."""
        self._drop[event_id] += times

    def duplicate(self, event_id: str, times: int = 1) -> None:
        """Deliver the next ``times`` events of this id twice to each hook."""
        self._twice[event_id] += times

    def hold(self) -> None:
        """Keep back the events that happen from now on, until :meth:`release`."""
        self._held = []

    def release(self, *, reverse: bool = True, together: bool = False) -> None:
        """Deliver the held events (newest first with ``reverse``), one POST each, or all in one ``together``."""
        held, self._held = self._held or [], None
        batch = held[::-1] if reverse else held
        for events in [batch] if together and batch else [[e] for e in batch]:
            self._dispatch(events)

    # webhooks out

    def _user(self, u: Attendee, *, joined: bool) -> dict[str, Any]:
        user: dict[str, Any] = {"internal-user-id": u.internal_user_id, "external-user-id": u.external_user_id}
        if joined:  # user-left carries no name, role or presenter (UserLeftMeetingEvtMsg lacks them)
            user |= {"name": u.full_name, "role": u.role, "presenter": False}
            if self.session_token_in_events:
                user["session-token"] = [u.session_token]
            if u.customdata:
                user["userdata"] = u.customdata
        return user | {"guest": u.guest}

    def _emit(self, event_id: str, m: Meeting, *, meeting: dict[str, Any] | None = None, **extra: Any) -> None:
        ids = {"internal-meeting-id": m.internal_meeting_id, "external-meeting-id": m.meeting_id}
        attributes = {"meeting": meeting or ids, **extra}
        event = {"data": {"type": "event", "id": event_id, "attributes": attributes, "event": {"ts": self.clock()}}}
        self.events.append(event)
        if self._drop[event_id] > 0:
            self._drop[event_id] -= 1
        elif self._held is not None:
            self._held.append(event)
        else:
            self._dispatch([event])
            if self._twice[event_id] > 0:
                self._twice[event_id] -= 1
                self._dispatch([event])

    def _dispatch(self, events: list[Event]) -> None:
        first = events[0]["data"]
        external = first["attributes"]["meeting"]["external-meeting-id"]
        for hook in list(self.hooks.values()):
            if hook.meeting_id in (None, external) and (hook.event_ids is None or first["id"] in hook.event_ids):
                task = asyncio.get_running_loop().create_task(self._deliver(hook, events))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _deliver(self, hook: Hook, events: list[Event]) -> None:
        text = "[" + ",".join(json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events) + "]"
        form = {"domain": self.domain, "event": text, "timestamp": str(self.clock())}  # the keys in this order
        body = form_encode(form.items())
        url, headers = self._signed(hook.callback_url, body)
        delays = [0.0, *self.retry_intervals]
        for attempt in range(1, 1_000_000):
            await asyncio.sleep(delays[attempt - 1] if attempt <= len(delays) else self.permanent_interval)
            status, error = await self._post(url, body, headers)
            self.deliveries.append(Delivery(hook.hook_id, url, form, events, attempt, status, error, headers))
            if status is not None and (200 <= status < 300 or status == 401):
                return
            if attempt >= len(delays) and not hook.permanent:
                if self.hooks.pop(hook.hook_id, None) is not None:
                    self.removed_hooks.append(hook)
                return

    def _signed(self, callback_url: str, body: str) -> tuple[str, dict[str, str]]:
        if self.bearer_auth:
            return callback_url, {"Authorization": f"Bearer {self.secret}"}
        signed = "{}" if self.legacy_empty_body_checksum else body
        checksum = callback_checksum(callback_url, signed, self.secret, self.hook_checksum_algorithm)
        return f"{callback_url}{'&' if '?' in callback_url else '?'}checksum={checksum}", {}

    async def _post(self, url: str, body: str, headers: Mapping[str, str]) -> tuple[int | None, str | None]:
        assert self._client is not None
        headers = {"Content-Type": "application/x-www-form-urlencoded;charset=UTF-8", **headers}
        timeout = aiohttp.ClientTimeout(total=self.request_timeout)
        try:
            async with self._client.post(
                yarl.URL(url, encoded=True), data=body.encode(), headers=headers, timeout=timeout, max_redirects=10
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return None, type(exc).__name__


@contextlib.asynccontextmanager
async def bigbluebutton_server(secret: str = "bbb-test-secret", **options: Any) -> AsyncIterator[BigBlueButtonServer]:
    """Run a :class:`BigBlueButtonServer` (same keyword options) on loopback while inside the block."""
    server = BigBlueButtonServer(secret, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close()
