"""A self-hosted Jitsi Meet with token authentication and the jitsi-contrib ``event_sync`` module, on loopback.

Modelled, after jitsi-meet's ``resources/prosody-plugins/token/util.lib.lua`` and ``luajwtjitsi.lib.lua`` and
jitsi-contrib/prosody-plugins ``event_sync/mod_event_sync_component.lua``:

* Token checks in Prosody's order and with its messages (raised as :class:`TokenRefused`): three segments,
  header ``typ`` "JWT", ``alg`` the configured one (``signature_algorithm``, HS256 by default), the HMAC
  signature, ``exp``/``nbf`` numbers with ``now >= exp`` and ``now < nbf`` refused (luajwtjitsi has no
  leeway; ``leeway`` defaults to 0), ``iss`` among the accepted issuers (``app_id``), the ``room`` claim
  present, ``aud`` a string among the accepted audiences (``"*"`` accepts any), every ``context.user`` value a
  string (lib-jitsi-meet's doc/tokens.md: numbers or ``null`` raise), then ``verify_room``: the room claim is
  the bare room name or ``"*"``, and with domain verification ``sub`` is the tenant (``/TENANT/ROOM``) or the
  domain, or ``"*"``.
* event_sync: ``POST {api_prefix}/events/room/created|room/destroyed|occupant/joined|occupant/left`` with
  ``User-Agent``, ``Content-Type: application/json`` and the static ``api_headers`` (nothing is signed);
  Unix-second timestamps; ``occupant`` = ``occupant_jid``, ``joined_at``, ``left_at`` and ``name``/``id``/
  ``email`` from ``context.user`` (all of it with ``include_user_info``); ``room_name``, ``room_jid``,
  ``is_breakout`` and ``breakout_room_id`` (breakout events name the main room); ``all_occupants`` on destroy.
  A main room is destroyed only once it and all its breakout rooms are empty. Retries as the module's: a
  connection failure or ``should_retry(code)`` (default ``code >= 500``) is retried ``api_retry_count`` (3)
  times, ``api_retry_delay`` (1 s) apart; a request outlasting ``api_timeout`` (20 s) is dropped, not retried.

Not modelled: XMPP, jicofo, lobby and passwords, ``asap_key_server`` (RS256), speaker stats, healthcheck rooms,
breakout rooms' 5 s grace before the main room closes. First attempts go out one at a time in event order
(the real module fires them concurrently): :attr:`Fault.REORDER` and :attr:`Fault.DUPLICATE` break that order.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jwt
from aiohttp import web

from tests.doubles.webhooks import JsonBody, Outgoing, WebhookDouble, compact_json, running

USER_AGENT = "Prosody (0.12.4; posix)"
_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


class TokenRefused(Exception):
    """Prosody answered ``not-allowed``: ``reason`` is its text."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Fault(enum.StrEnum):
    """A delivery fault for the next emitted event(s)."""

    DUPLICATE = "duplicate"
    """Deliver the event twice."""
    REORDER = "reorder"
    """Hold the event back and deliver it after the next one."""


@dataclass(frozen=True, slots=True)
class Delivery(JsonBody):
    """One HTTP attempt event_sync made; each retry is a delivery of its own."""

    event: str
    """``room/created``, ``room/destroyed``, ``occupant/joined`` or ``occupant/left``."""
    url: str
    body: bytes
    headers: Mapping[str, str]
    attempt: int
    status: int | None
    """The receiver's HTTP status; None when the connection failed or timed out."""
    error: str | None
    """``"connection"`` or ``"timeout"``, else None."""
    latency: float
    sent_at: float
    retried: bool
    """True when the module scheduled another attempt after this one."""
    fault: str | None = None


@dataclass(eq=False)
class _Room:
    jid: str
    main: _Room | None = None
    created_at: int | None = None
    occupants: dict[str, dict[str, Any]] = field(default_factory=dict)
    active: set[str] = field(default_factory=set)
    breakouts: dict[str, _Room] = field(default_factory=dict)

    @property
    def node(self) -> str:
        return self.jid.split("@", 1)[0]

    def extra(self) -> dict[str, Any]:
        """event_sync_extra_payload: breakout rooms report their main room."""
        if self.main is None:
            return {"is_breakout": False, "room_jid": self.jid, "room_name": self.node}
        return {
            "is_breakout": True,
            "breakout_room_id": self.node,
            "room_jid": self.main.jid,
            "room_name": self.main.node,
        }

    def in_use(self) -> bool:
        return bool(self.active) or any(b.active for b in self.breakouts.values())


@dataclass(eq=False)
class Occupant:
    """Someone in a room: the handle to move or remove them."""

    occupant_jid: str
    user: Mapping[str, Any] | None
    room: _Room
    main: _Room

    @property
    def room_name(self) -> str:
        """The main room's node, ``[tenant]room`` under a tenant."""
        return self.main.node

    @property
    def breakout_room_id(self) -> str | None:
        """The breakout room's id while in one."""
        return None if self.room.main is None else self.room.node


class FakeJitsi(WebhookDouble[Delivery, Fault]):
    """Jitsi's token auth and event_sync on 127.0.0.1; use ``async with jitsi_server(...) as jitsi``.

    Deliveries, :meth:`inject`, :meth:`redeliver` (event_sync itself never sends again beyond its retries),
    :meth:`settle` and :meth:`wait_for_deliveries` are :class:`tests.doubles.webhooks.WebhookDouble`'s.
    """

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        api_prefix: str,
        api_headers: Mapping[str, str] | None = None,
        algorithm: str = "HS256",
        audiences: Sequence[str] | None = None,
        issuers: Sequence[str] | None = None,
        domain: str = "meet.example.test",
        tenant: str | None = None,
        verify_domain: bool = True,
        include_user_info: bool = False,
        leeway: float = 0,
        api_timeout: float = 20.0,
        api_retry_count: int = 3,
        api_retry_delay: float = 1.0,
        should_retry: Callable[[int], bool] = lambda code: code >= 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if algorithm not in _DIGESTS:
            raise ValueError(f"unsupported algorithm {algorithm}")
        super().__init__(Fault)
        self.app_id, self.app_secret, self.algorithm = app_id, app_secret, algorithm
        self.api_prefix = api_prefix.rstrip("/")
        self.api_headers = dict(api_headers or {})
        self.audiences = list(audiences or [app_id])
        self.issuers = list(issuers or [app_id])
        self.domain, self.tenant, self.verify_domain = domain, tenant, verify_domain
        self.include_user_info, self.leeway, self.clock = include_user_info, leeway, clock
        self.api_timeout, self.api_retry_count, self.api_retry_delay = api_timeout, api_retry_count, api_retry_delay
        self.should_retry = should_retry
        self.refusals: list[tuple[str, str]] = []
        """Every refused join: (link, reason)."""
        self._rooms: dict[str, _Room] = {}

    # lifecycle

    def _application(self) -> web.Application:
        """Join links, at any path."""
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle_link)
        return app

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT``: a join link may name this host instead of the domain."""
        return f"http://127.0.0.1:{self.port}"

    # tokens and links

    def sign(self, claims: Mapping[str, Any], *, algorithm: str | None = None, secret: str | None = None) -> str:
        """A JWT of these claims, signed as the token generator would (typ JWT)."""
        return jwt.encode(dict(claims), secret or self.app_secret, algorithm=algorithm or self.algorithm)

    def claims(
        self, room: str = "*", *, name: str | None = None, email: str | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Claims this deployment accepts for ``room``, valid for an hour; ``extra`` overrides any of them."""
        user = {k: v for k, v in {"name": name, "email": email, "id": extra.pop("user_id", None)}.items() if v}
        aud = next((a for a in self.audiences if a != "*"), self.app_id)
        now = int(self.clock())
        claims: dict[str, Any] = {"iss": self.issuers[0], "aud": aud, "sub": self.tenant or self.domain, "room": room}
        claims |= {"iat": now, "nbf": now - 10, "exp": now + 3600} | ({"context": {"user": user}} if user else {})
        return claims | extra

    def link(self, room: str, token: str | None = None, *, tenant: str | None = None) -> str:
        """``https://DOMAIN/[TENANT/]ROOM?jwt=TOKEN``."""
        tenant = tenant or self.tenant
        path = f"{quote(tenant)}/{quote(room)}" if tenant else quote(room)
        return f"https://{self.domain}/{path}" + (f"?jwt={token}" if token else "")

    # controller

    async def join(self, url: str) -> Occupant:
        """Open a personal join link: verify its token as Prosody does, then enter the room (raises TokenRefused)."""
        tenant, room_name, token = self._parse_link(url)
        room = self._main_room(tenant, room_name)
        try:
            user = self._verify(token, room, tenant, room_name)
        except TokenRefused as refused:
            self.refusals.append((url, refused.reason))
            raise
        occupant = Occupant(f"{uuid.uuid4()}@{self.domain}/{secrets.token_urlsafe(6)}", user, room, room)
        await self._enter(occupant, room)
        return occupant

    async def join_guest(self, room: str, name: str | None = None, *, tenant: str | None = None) -> Occupant:
        """An occupant with no token identity (the anonymous guest domain): only occupant_jid and joined_at."""
        main = self._main_room(tenant or self.tenant, room.lower())
        occupant = Occupant(f"{uuid.uuid4()}@guest.{self.domain}/{secrets.token_urlsafe(6)}", None, main, main)
        await self._enter(occupant, main)
        return occupant

    async def leave(self, occupant: Occupant) -> None:
        """The occupant leaves the room they are in (the conference, for them)."""
        await self._exit(occupant)

    async def move_to_breakout(self, occupant: Occupant, subject: str) -> None:
        """Move to the breakout room named ``subject`` (made on first use): leave the main room, join the breakout."""
        breakout = occupant.main.breakouts.get(subject)
        if breakout is None:
            breakout = _Room(f"{uuid.uuid4()}@breakout.{self.domain}", main=occupant.main)
            occupant.main.breakouts[subject] = breakout
        await self._exit(occupant, switching=True)
        await self._enter(occupant, breakout)

    async def return_to_main(self, occupant: Occupant) -> None:
        """Leave the breakout room for the main room."""
        await self._exit(occupant, switching=True)
        await self._enter(occupant, occupant.main)

    def present(self, room: str, *, tenant: str | None = None) -> list[str]:
        """The occupant JIDs now in the main room ``room``."""
        found = self._rooms.get(self._room_jid(tenant or self.tenant, room.lower()))
        return sorted(found.active) if found else []

    # rooms

    def _parse_link(self, url: str) -> tuple[str | None, str, str | None]:
        parts = urlsplit(url)
        if parts.hostname not in (self.domain, "127.0.0.1"):
            raise ValueError(f"{url} is not a link to {self.domain} or {self.base_url}")
        segments = [s for s in parts.path.split("/") if s]
        if not 1 <= len(segments) <= 2:
            raise ValueError(f"{url} names no room")
        token = parse_qs(parts.query).get("jwt", [None])[0]
        tenant = segments[0].lower() if len(segments) == 2 else None
        return tenant, segments[-1].lower(), token

    def _room_jid(self, tenant: str | None, room: str) -> str:
        return f"[{tenant}]{room}@conference.{self.domain}" if tenant else f"{room}@conference.{self.domain}"

    def _main_room(self, tenant: str | None, room: str) -> _Room:
        jid = self._room_jid(tenant, room)
        return self._rooms.get(jid) or _Room(jid)

    async def _enter(self, occupant: Occupant, room: _Room) -> None:
        if room.created_at is None:
            if room.main is None:
                self._rooms[room.jid] = room
            room.created_at = int(self.clock())
            self._emit("room/created", {"event_name": "muc-room-created", "created_at": room.created_at} | room.extra())
        user = dict(occupant.user or {})
        data: dict[str, Any] = {"occupant_jid": occupant.occupant_jid, "joined_at": int(self.clock())}
        data |= user if self.include_user_info else {k: user[k] for k in ("name", "id", "email") if k in user}
        room.occupants[occupant.occupant_jid] = data
        room.active.add(occupant.occupant_jid)
        occupant.room = room
        payload = {"event_name": "muc-occupant-joined", "occupant": data, "active_occupants_count": len(room.active)}
        self._emit("occupant/joined", payload | room.extra())

    async def _exit(self, occupant: Occupant, *, switching: bool = False) -> None:
        room = occupant.room
        if occupant.occupant_jid not in room.active:
            raise ValueError(f"{occupant.occupant_jid} is not in {room.jid}")
        room.active.discard(occupant.occupant_jid)
        data = room.occupants[occupant.occupant_jid]
        data["left_at"] = int(self.clock())
        payload = {
            "event_name": "muc-occupant-left",
            "occupant": dict(data),
            "active_occupants_count": len(room.active),
        }
        self._emit("occupant/left", payload | room.extra())
        if room.main is not None and not room.active:
            self._destroy(room)
        if not switching and not occupant.main.in_use():
            self._destroy(occupant.main)

    def _destroy(self, room: _Room) -> None:
        if room.created_at is None:
            return
        payload = {"event_name": "muc-room-destroyed", "created_at": room.created_at, "destroyed_at": int(self.clock())}
        self._emit("room/destroyed", payload | {"all_occupants": list(room.occupants.values())} | room.extra())
        room.created_at, room.occupants = None, {}
        if room.main is None:
            self._rooms.pop(room.jid, None)

    # token verification (util.lib.lua + luajwtjitsi.lib.lua)

    def _verify(self, token: str | None, room: _Room, tenant: str | None, bare_room: str) -> dict[str, Any] | None:
        if token is None:
            raise TokenRefused("token required")
        claims = self._decode(token)
        if claims.get("iss") is None:
            raise TokenRefused("'iss' claim is missing")
        if "*" not in self.issuers and claims["iss"] not in self.issuers:
            raise TokenRefused("Invalid issuer ('iss' claim)")
        if claims.get("room") is None:
            raise TokenRefused("'room' claim is missing")
        if claims.get("aud") is None:
            raise TokenRefused("'aud' claim is missing")
        if "*" not in self.audiences and claims["aud"] not in self.audiences:
            raise TokenRefused("Invalid audience ('aud' claim)")
        context = claims.get("context")
        user = context.get("user") if isinstance(context, dict) else None
        if user is not None and (not isinstance(user, dict) or not all(isinstance(v, str) for v in user.values())):
            raise TokenRefused("context.user values must be strings (null and numbers raise in Prosody)")
        if not self._room_allowed(claims, room, tenant, bare_room):
            raise TokenRefused("Room and token mismatched")
        return user

    def _decode(self, token: str) -> dict[str, Any]:
        segments = token.split(".")
        if len(segments) != 3 or not all(segments):
            raise TokenRefused("Invalid token")
        header, body = _json_segment(segments[0], "Invalid header"), _json_segment(segments[1], "Invalid body")
        if header.get("typ") != "JWT":
            raise TokenRefused("Invalid typ")
        if header.get("alg") != self.algorithm:
            raise TokenRefused("Invalid or incorrect alg")
        signed = f"{segments[0]}.{segments[1]}".encode()
        expected = hmac.new(self.app_secret.encode(), signed, _DIGESTS[self.algorithm]).digest()
        if not hmac.compare_digest(expected, _b64(segments[2], "Invalid signature")):
            raise TokenRefused("Invalid signature")
        now = self.clock()
        for claim in ("exp", "nbf"):
            if claim in body and (isinstance(body[claim], bool) or not isinstance(body[claim], int | float)):
                raise TokenRefused(f"{claim} must be number")
        if "exp" in body and now >= body["exp"] + self.leeway:
            raise TokenRefused("Not acceptable by exp")
        if "nbf" in body and now + self.leeway < body["nbf"]:
            raise TokenRefused("Not acceptable by nbf")
        return body

    def _room_allowed(self, claims: Mapping[str, Any], room: _Room, tenant: str | None, bare_room: str) -> bool:
        auth_room = str(claims["room"])
        if not self.verify_domain:
            return auth_room == "*" or bare_room == auth_room.lower()
        sub = claims.get("sub")
        if not isinstance(sub, str):
            return False  # Prosody concatenates nil and fails
        checked_room = bare_room if auth_room == "*" else auth_room.lower()
        if tenant is not None:
            return room.jid == self._room_jid(tenant if sub == "*" else sub.lower(), checked_room)
        host = f"conference.{self.domain}" if sub == "*" else f"conference.{sub.lower()}"
        return room.jid == f"{checked_room}@{host}"

    # event_sync

    def _emit(self, event: str, payload: Mapping[str, Any]) -> None:
        self._queue(event, compact_json(payload))

    async def _deliver(self, outgoing: Outgoing, attempt: int) -> tuple[Delivery, float | None]:
        """POST to ``{api_prefix}/events/{event}``; retried as event_sync does, ``api_retry_delay`` apart."""
        url = f"{self.api_prefix}/events/{outgoing.event}"
        headers = {"User-Agent": USER_AGENT, "Content-Type": "application/json", **self.api_headers}
        sent = await self._http_post(url, outgoing.body, headers, self.api_timeout)
        status, error = sent.status, sent.error
        retry = error != "timeout" and attempt <= self.api_retry_count and (status is None or self.should_retry(status))
        args = (outgoing.event, url, outgoing.body, headers, attempt, status, error, sent.latency, sent.started, retry)
        return Delivery(*args, outgoing.fault), self.api_retry_delay if retry else None

    async def _handle_link(self, request: web.Request) -> web.Response:
        try:
            occupant = await self.join(f"{self.base_url}{request.path_qs}")
        except TokenRefused as refused:
            return web.json_response({"error": "not-allowed", "text": refused.reason}, status=403)
        except ValueError as bad:
            return web.json_response({"error": "bad-request", "text": str(bad)}, status=400)
        return web.json_response({"occupant_jid": occupant.occupant_jid, "room_jid": occupant.room.jid})


def _b64(segment: str, error: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise TokenRefused(error) from None


def _json_segment(segment: str, error: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64(segment, error))
    except ValueError:
        raise TokenRefused(error) from None
    if not isinstance(value, dict):
        raise TokenRefused(error)
    return value


@asynccontextmanager
async def jitsi_server(**options: Any) -> AsyncIterator[FakeJitsi]:
    """Run a :class:`FakeJitsi` (keyword arguments as its constructor's) for the duration of the block."""
    async with running(FakeJitsi(**options)) as jitsi:
        yield jitsi
