"""A Telegram Bot API test double served over HTTP on loopback, for the real python-telegram-bot ``Bot``.

Point ``telegram.Bot(api.token, base_url=api.base_url)`` at it. python-telegram-bot 22 posts to
``{base_url}{token}/{method}`` with form-encoded parameters (strings as they are, everything else
JSON-encoded); the double also understands JSON bodies, multipart forms and query strings.

Only ``sendMessage`` is modelled closely: it is validated, rate limited and recorded, and faults can be
injected into it — error answers, a hold before answering, a connection closed before the request is read
(nothing received) or after the message was taken (received, never answered). ``getMe``, ``setWebhook``,
``deleteWebhook``, ``getWebhookInfo``, ``getUpdates``, ``setMyCommands``, ``getMyCommands`` and
``deleteMyCommands`` have minimal answers; any other method is a 404 like Telegram's.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import html
import json
import math
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

ChatId = int | str
"""A chat as the client names it: a numeric id, or ``@username`` for a channel."""

DEFAULT_TOKEN = "123456789:TEST-plenary-bot-token"
MAX_MESSAGE_LENGTH = 4096
HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre", "tg-spoiler", "span", "blockquote"}
)
_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
}
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)([^<>]*)>")
_ATTRIBUTE = re.compile(r"""([A-Za-z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_INTEGER = re.compile(r"-?\d+")
_WINDOW = 1.0


class Fault(enum.StrEnum):
    """What the double answers to a sendMessage instead of accepting it."""

    RETRY_AFTER = "retry_after"
    """429 Too Many Requests with ``parameters.retry_after``; starts a penalty."""
    BAD_GATEWAY = "bad_gateway"
    """502 Bad Gateway."""
    SERVER_ERROR = "server_error"
    """500 Internal Server Error."""
    BLOCKED = "blocked"
    """403 Forbidden: bot was blocked by the user."""
    CHAT_NOT_FOUND = "chat_not_found"
    """400 Bad Request: chat not found."""
    STALL = "stall"
    """Hold the request before answering (see :meth:`FakeTelegramApi.stall`)."""
    HANG_UP = "hang_up"
    """Accept and record the message, then close the connection without answering."""


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One sendMessage the double received, and how it answered it."""

    chat_id: ChatId | None
    text: str | None
    parse_mode: str | None
    received_at: float
    """``time.monotonic()`` when the request arrived."""
    accepted: bool
    """True when the message counts as delivered to the chat."""
    status: int
    """The HTTP status of the answer (200 when accepted)."""
    description: str
    """``"OK"``, or the error description sent back."""
    message_id: int | None = None
    retry_after: int | None = None
    """The ``retry_after`` sent with a 429."""
    during_penalty: bool = False
    """True when it arrived while a 429 penalty was still running."""
    stalled: bool = False
    """True when the double held the request before answering."""
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ApiCall:
    """Any Bot API call the double received with the right token."""

    method: str
    params: Mapping[str, Any]
    received_at: float


@dataclass(slots=True)
class _PlannedFault:
    kind: Fault
    remaining: int
    chat_id: ChatId | None
    retry_after: int
    seconds: float | None
    deliver: bool


class _EntityError(ValueError):
    pass


class FakeTelegramApi:
    """A Bot API server on 127.0.0.1 with recording, fault injection and Telegram's rate limits.

    Use it as ``async with FakeTelegramApi() as api:`` and hand ``api.base_url`` and ``api.token`` to
    ``telegram.Bot``. ``api.messages`` holds the accepted sendMessage calls, ``api.requests`` all of them.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        limit_per_second: int | None = None,
        per_chat_per_second: int | None = None,
        bot_username: str = "plenary_test_bot",
    ) -> None:
        self.token = token
        self.limit_per_second = limit_per_second
        self.per_chat_per_second = per_chat_per_second
        self.bot_username = bot_username
        self.messages: list[ReceivedMessage] = []
        self.requests: list[ReceivedMessage] = []
        self.calls: list[ApiCall] = []
        self.rate_limited = 0
        """How many sendMessage calls were answered 429 for going over the configured limits."""
        self.sent_during_penalty = 0
        """How many sendMessage calls arrived before a previous 429's ``retry_after`` had passed."""
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self.commands: list[dict[str, Any]] = []
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._handle)
        self._faults: list[_PlannedFault] = []
        self._unread_hang_ups = 0
        self.hung_up_unread = 0
        """How many sendMessage requests the double closed the connection on without reading them."""
        self._blocked: set[ChatId] = set()
        self._unknown: set[ChatId] = set()
        self._penalty_until: dict[ChatId | None, float] = {}
        self._accepted_times: deque[float] = deque()
        self._chat_times: dict[ChatId, deque[float]] = {}
        self._next_message_id: dict[ChatId, int] = {}
        self._channel_ids: dict[str, int] = {}
        self._release_event = asyncio.Event()
        self._recorded = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Awaitable[web.Response]]] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
        }

    # lifecycle

    async def start(self) -> None:
        """Serve the API on a free port of 127.0.0.1."""
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def close(self) -> None:
        """Release every held request and stop serving."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    @property
    def port(self) -> int:
        """The TCP port the double listens on."""
        if self._port is None:
            raise RuntimeError("FakeTelegramApi is not started")
        return self._port

    @property
    def base_url(self) -> str:
        """The ``base_url`` for ``telegram.Bot``, like ``http://127.0.0.1:PORT/bot``."""
        return f"http://127.0.0.1:{self.port}/bot"

    # programming faults

    def fail_next(
        self,
        n: int = 1,
        kind: Fault | str = Fault.RETRY_AFTER,
        *,
        retry_after: int = 1,
        chat_id: ChatId | None = None,
        seconds: float | None = None,
        deliver: bool = True,
    ) -> None:
        """Answer the next ``n`` sendMessage calls (to ``chat_id`` only, if given) with the fault ``kind``.

        A 429 fault starts a penalty of ``retry_after`` seconds for ``chat_id`` (for every chat when it is
        None). ``seconds`` and ``deliver`` apply to :attr:`Fault.STALL` as in :meth:`stall`.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if retry_after < 1:
            raise ValueError("retry_after is a whole number of seconds, at least 1")
        self._faults.append(_PlannedFault(Fault(kind), n, _chat_id(chat_id), retry_after, seconds, deliver))

    def stall(
        self, seconds: float | None = None, *, deliver: bool = True, n: int = 1, chat_id: ChatId | None = None
    ) -> None:
        """Hold the next ``n`` sendMessage calls for ``seconds`` (None: until :meth:`release`) before answering.

        With ``deliver`` the message is accepted and recorded first and answered normally after the hold
        ("accepted, but the answer was lost" once the client has timed out); without it nothing is
        delivered and the held request is answered 502.
        """
        self.fail_next(n, Fault.STALL, chat_id=chat_id, seconds=seconds, deliver=deliver)

    def hang_up(self, n: int = 1, *, after_reading: bool = False, chat_id: ChatId | None = None) -> None:
        """Close the connection on the next ``n`` sendMessage calls instead of answering.

        Without ``after_reading`` the request is not read: nothing is received or recorded, whatever the
        chat (``chat_id`` is not known yet). With it the message is accepted and recorded first, then the
        connection is closed: delivered, and the client never hears so.
        """
        if n < 1:
            raise ValueError("n must be at least 1")
        if after_reading:
            self.fail_next(n, Fault.HANG_UP, chat_id=chat_id)
        elif chat_id is not None:
            raise ValueError("a request that is not read has no chat_id to match")
        else:
            self._unread_hang_ups += n

    def release(self) -> None:
        """End every hold in progress now; later stalls hold again."""
        self._release_event.set()
        self._release_event = asyncio.Event()

    def block_chat(self, chat_id: ChatId) -> None:
        """Answer every sendMessage to ``chat_id`` with 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(_require_chat_id(chat_id))

    def unknown_chat(self, chat_id: ChatId) -> None:
        """Answer every sendMessage to ``chat_id`` with 400 "Bad Request: chat not found"."""
        self._unknown.add(_require_chat_id(chat_id))

    def restore_chat(self, chat_id: ChatId) -> None:
        """Undo :meth:`block_chat` and :meth:`unknown_chat` for ``chat_id``."""
        key = _require_chat_id(chat_id)
        self._blocked.discard(key)
        self._unknown.discard(key)

    def clear_faults(self) -> None:
        """Forget every programmed fault, blocked and unknown chat, and running penalty."""
        self._faults.clear()
        self._blocked.clear()
        self._unknown.clear()
        self._penalty_until.clear()

    # reading back

    def texts(self, chat_id: ChatId | None = None) -> list[str]:
        """The texts of the accepted messages, in order, to ``chat_id`` only if given."""
        key = _chat_id(chat_id)
        return [m.text or "" for m in self.messages if key is None or m.chat_id == key]

    async def wait_for_messages(self, count: int) -> list[ReceivedMessage]:
        """Wait until at least ``count`` messages were accepted and return them all (bound it with asyncio.timeout)."""
        await self._wait_until(lambda: len(self.messages) >= count)
        return list(self.messages)

    async def wait_for_requests(self, count: int) -> list[ReceivedMessage]:
        """Wait until at least ``count`` sendMessage calls arrived; return them (bound it with asyncio.timeout)."""
        await self._wait_until(lambda: len(self.requests) >= count)
        return list(self.requests)

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            await self._recorded.wait()

    # HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        prefix, _, method = request.match_info["tail"].partition("/")
        if not prefix.startswith("bot") or not method or "/" in method:
            return _error(404, "Not Found")
        if prefix.removeprefix("bot") != self.token:
            return _error(401, "Unauthorized")
        if method.lower() == "sendmessage" and self._unread_hang_ups:
            self._unread_hang_ups -= 1
            self.hung_up_unread += 1
            return _hang_up(request)
        try:
            params = await _read_params(request)
        except ValueError as exc:
            return _error(400, f"Bad Request: {exc}")
        self.calls.append(ApiCall(method, params, time.monotonic()))
        handler = self._methods.get(method.lower())
        if handler is None:
            return _error(404, "Not Found: method not found")
        response = await handler(params)
        return _hang_up(request) if response is _HANG_UP else response

    async def _get_me(self, params: dict[str, Any]) -> web.Response:
        return _ok(self._bot_user())

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        url = str(params.get("url") or "")
        self.webhook_url = url or None
        self.webhook_secret = str(params["secret_token"]) if params.get("secret_token") else None
        return _ok(True, "Webhook was set" if url else "Webhook was deleted")

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        self.webhook_url = None
        self.webhook_secret = None
        return _ok(True, "Webhook was deleted")

    async def _get_webhook_info(self, params: dict[str, Any]) -> web.Response:
        return _ok({"url": self.webhook_url or "", "has_custom_certificate": False, "pending_update_count": 0})

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
                "webhook first",
            )
        return _ok([])

    async def _set_my_commands(self, params: dict[str, Any]) -> web.Response:
        commands = _json_value(params.get("commands"))
        if not isinstance(commands, list):
            return _error(400, 'Bad Request: parameter "commands" is required')
        self.commands = [dict(c) for c in commands if isinstance(c, dict)]
        return _ok(True)

    async def _get_my_commands(self, params: dict[str, Any]) -> web.Response:
        return _ok(self.commands)

    async def _delete_my_commands(self, params: dict[str, Any]) -> web.Response:
        self.commands = []
        return _ok(True)

    # sendMessage

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        now = time.monotonic()
        chat_id = _chat_id(params.get("chat_id"))
        text = None if params.get("text") is None else str(params["text"])
        parse_mode = str(params["parse_mode"]) if params.get("parse_mode") else None
        if chat_id is None:
            return self._refuse(
                ReceivedMessage(None, text, parse_mode, now, False, 400, "Bad Request: chat_id is empty"), params
            )
        remaining = self._penalty_remaining(chat_id, now)
        if remaining > 0:
            self.sent_during_penalty += 1
            retry_after = max(1, math.ceil(remaining))
            return self._refuse(
                ReceivedMessage(
                    chat_id,
                    text,
                    parse_mode,
                    now,
                    False,
                    429,
                    _too_many(retry_after),
                    retry_after=retry_after,
                    during_penalty=True,
                ),
                params,
            )
        fault = self._take_fault(chat_id)
        if fault is not None and fault.kind is Fault.HANG_UP:
            self._answer(chat_id, text, parse_mode, params, now, None)
            return _HANG_UP
        if fault is None or fault.kind is not Fault.STALL:
            return self._answer(chat_id, text, parse_mode, params, now, fault)
        if fault.deliver:
            answer = self._answer(chat_id, text, parse_mode, params, now, None, stalled=True)
        else:
            received = ReceivedMessage(chat_id, text, parse_mode, now, False, 502, "Bad Gateway", stalled=True)
            answer = self._refuse(received, params)
        await self._hold(fault.seconds)
        return answer

    def _answer(
        self,
        chat_id: ChatId,
        text: str | None,
        parse_mode: str | None,
        params: dict[str, Any],
        now: float,
        fault: _PlannedFault | None,
        *,
        stalled: bool = False,
    ) -> web.Response:
        """Decide, record and build the answer to one sendMessage that is not under a penalty."""

        def refuse(status: int, description: str, retry_after: int | None = None) -> web.Response:
            received = ReceivedMessage(
                chat_id, text, parse_mode, now, False, status, description, None, retry_after, stalled=stalled
            )
            return self._refuse(received, params)

        if fault is not None and fault.kind is Fault.RETRY_AFTER:
            self._start_penalty(fault.chat_id, now, fault.retry_after)
            return refuse(429, _too_many(fault.retry_after), fault.retry_after)
        if fault is not None:
            return refuse(*_FAULT_ANSWERS[fault.kind])
        if chat_id in self._blocked:
            return refuse(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._unknown:
            return refuse(400, "Bad Request: chat not found")
        if not text:
            return refuse(400, "Bad Request: message text is empty")
        try:
            plain, entities = parse_text(text, parse_mode)
        except _EntityError as exc:
            return refuse(400, f"Bad Request: can't parse entities: {exc}")
        if not plain.strip():
            return refuse(400, "Bad Request: message text is empty")
        if len(plain) > MAX_MESSAGE_LENGTH:
            return refuse(400, "Bad Request: message is too long")
        limited = self._over_limit(chat_id, now)
        if limited is not None:
            retry_after, scope = limited
            self.rate_limited += 1
            self._start_penalty(scope, now, retry_after)
            return refuse(429, _too_many(retry_after), retry_after)

        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        self._accepted_times.append(now)
        self._chat_times.setdefault(chat_id, deque()).append(now)
        self._record(
            ReceivedMessage(chat_id, text, parse_mode, now, True, 200, "OK", message_id, stalled=stalled, params=params)
        )
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": self._bot_user(),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": plain,
        }
        if entities:
            message["entities"] = entities
        return _ok(message)

    def _refuse(self, received: ReceivedMessage, params: Mapping[str, Any]) -> web.Response:
        """Record a refused sendMessage and build its error answer."""
        self._record(dataclasses.replace(received, params=params))
        retry_after = received.retry_after
        return _error(received.status, received.description, {"retry_after": retry_after} if retry_after else None)

    def _record(self, received: ReceivedMessage) -> None:
        self.requests.append(received)
        if received.accepted:
            self.messages.append(received)
        self._recorded.set()
        self._recorded = asyncio.Event()

    def _take_fault(self, chat_id: ChatId) -> _PlannedFault | None:
        for fault in self._faults:
            if fault.chat_id is None or fault.chat_id == chat_id:
                fault.remaining -= 1
                if fault.remaining == 0:
                    self._faults.remove(fault)
                return fault
        return None

    async def _hold(self, seconds: float | None) -> None:
        release = self._release_event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await release.wait()

    def _penalty_remaining(self, chat_id: ChatId, now: float) -> float:
        until = max(self._penalty_until.get(None, 0.0), self._penalty_until.get(chat_id, 0.0))
        return until - now

    def _start_penalty(self, scope: ChatId | None, now: float, retry_after: int) -> None:
        self._penalty_until[scope] = max(self._penalty_until.get(scope, 0.0), now + retry_after)

    def _over_limit(self, chat_id: ChatId, now: float) -> tuple[int, ChatId | None] | None:
        """Return (retry_after, penalty scope) if one more message now breaks a sliding 1-second limit."""
        _prune(self._accepted_times, now)
        chat_times = self._chat_times.get(chat_id, deque())
        _prune(chat_times, now)
        if self.limit_per_second is not None and len(self._accepted_times) >= self.limit_per_second:
            return _retry_after(self._accepted_times[0], now), None
        if self.per_chat_per_second is not None and len(chat_times) >= self.per_chat_per_second:
            return _retry_after(chat_times[0], now), chat_id
        return None

    def _bot_user(self) -> dict[str, Any]:
        head = self.token.partition(":")[0]
        return {
            "id": int(head) if head.isdigit() else 1,
            "is_bot": True,
            "first_name": "Plenary Test",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _chat(self, chat_id: ChatId) -> dict[str, Any]:
        if isinstance(chat_id, str):
            numeric = self._channel_ids.setdefault(chat_id, -1001000000000 - len(self._channel_ids) - 1)
            return {"id": numeric, "type": "channel", "title": chat_id[1:], "username": chat_id[1:]}
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": f"User {chat_id}"}
        kind = "supergroup" if str(chat_id).startswith("-100") else "group"
        return {"id": chat_id, "type": kind, "title": f"Chat {chat_id}"}


_FAULT_ANSWERS: dict[Fault, tuple[int, str]] = {
    Fault.BAD_GATEWAY: (502, "Bad Gateway"),
    Fault.SERVER_ERROR: (500, "Internal Server Error"),
    Fault.BLOCKED: (403, "Forbidden: bot was blocked by the user"),
    Fault.CHAT_NOT_FOUND: (400, "Bad Request: chat not found"),
}


def parse_text(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Return the plain text and entities Telegram would make of ``text``; only HTML is parsed."""
    if parse_mode is None or parse_mode.upper() != "HTML":
        return text, []
    return _parse_html(text)


def _parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    parts: list[str] = []
    offset = 0  # in UTF-16 code units, as Telegram counts entity offsets
    stack: list[tuple[str, int, dict[str, Any]]] = []
    entities: list[dict[str, Any]] = []
    position = 0
    while (start := text.find("<", position)) != -1:
        chunk = html.unescape(text[position:start])
        parts.append(chunk)
        offset += _utf16_length(chunk)
        byte_offset = len(text[:start].encode())
        match = _TAG.match(text, start)
        if match is None:
            raise _EntityError(f'Unsupported start tag "" at byte offset {byte_offset}')
        closing, name, attributes = match.group(1) == "/", match.group(2).lower(), match.group(3)
        if closing:
            if not stack:
                raise _EntityError(f"Unexpected end tag at byte offset {byte_offset}")
            open_name, open_offset, extra = stack.pop()
            if open_name != name:
                raise _EntityError(f'Can\'t find end tag corresponding to start tag "{open_name}"')
            if offset > open_offset and extra.get("type") is not None:
                entities.append({"offset": open_offset, "length": offset - open_offset, **extra})
        else:
            if name not in HTML_TAGS:
                raise _EntityError(f'Unsupported start tag "{name}" at byte offset {byte_offset}')
            stack.append((name, offset, _entity_extra(name, _attributes(attributes), stack)))
        position = match.end()
    tail = html.unescape(text[position:])
    parts.append(tail)
    if stack:
        raise _EntityError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(parts), entities


def _entity_extra(
    name: str, attributes: dict[str, str], stack: list[tuple[str, int, dict[str, Any]]]
) -> dict[str, Any]:
    if name == "span" and attributes.get("class") != "tg-spoiler":
        raise _EntityError('Tag "span" must have class "tg-spoiler"')
    if name == "a":
        return {"type": "text_link", "url": attributes["href"]} if attributes.get("href") else {"type": None}
    if name == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language, not two entities
        language = attributes.get("class", "").removeprefix("language-")
        if language:
            stack[-1][2]["language"] = language
        return {"type": None}
    if name == "blockquote" and "expandable" in attributes:
        return {"type": "expandable_blockquote"}
    return {"type": _ENTITY_TYPES[name]}


def _attributes(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _ATTRIBUTE.finditer(raw):
        value = next((g for g in match.groups()[1:] if g is not None), "")
        found[match.group(1).lower()] = html.unescape(value)
    return found


def _utf16_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


async def _read_params(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = dict(request.query)
    if not request.body_exists:
        return params
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError as exc:
            raise ValueError("can't parse JSON body") from exc
        if not isinstance(body, dict):
            raise ValueError("JSON body must be an object")
        params.update(body)
    elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        for key, value in (await request.post()).items():
            if isinstance(value, str):
                params[key] = value
            elif isinstance(value, bytes | bytearray):
                params[key] = bytes(value).decode("utf-8", "replace")
            else:
                params[key] = f"<file {value.filename}>"
    return params


def _json_value(value: Any) -> Any:
    """A parameter as sent: form fields carry non-string values JSON-encoded, JSON bodies carry them as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def _chat_id(value: Any) -> ChatId | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if _INTEGER.fullmatch(text):
        return int(text)
    return text or None


def _require_chat_id(value: ChatId) -> ChatId:
    chat_id = _chat_id(value)
    if chat_id is None:
        raise ValueError(f"not a chat id: {value!r}")
    return chat_id


def _prune(times: deque[float], now: float) -> None:
    while times and times[0] <= now - _WINDOW:
        times.popleft()


def _retry_after(oldest: float, now: float) -> int:
    return max(1, math.ceil(oldest + _WINDOW - now))


def _too_many(retry_after: int) -> str:
    return f"Too Many Requests: retry after {retry_after}"


_HANG_UP = web.Response(status=599)
"""Returned by a method handler: close the connection instead of answering."""


def _hang_up(request: web.Request) -> web.Response:
    """Close the connection; the response returned is never written."""
    if request.transport is not None:
        request.transport.close()
    return web.Response(status=599)


def _ok(result: Any, description: str | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": True, "result": result}
    if description:
        body["description"] = description
    return web.json_response(body)


def _error(status: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=status)
