"""The Bot API double grown for a whole bot: updates in (long polling or webhook), conversations out.

:class:`FakeBotApi` extends :class:`~tests.doubles.telegram_api.FakeTelegramApi` (everything it does for
``sendMessage`` still holds) so that a python-telegram-bot ``Application`` can run against it over HTTP:

* **Updates in.** ``message_update``, ``command_update``, ``callback_update``, ``edited_update``,
  ``group_update``, ``channel_post_update`` and ``raw_update`` build Update JSON as Telegram sends it, with
  increasing ``update_id``. ``push(update)`` queues one for ``getUpdates``, which long-polls like Telegram
  (``offset`` confirms, ``timeout`` holds, ``limit``, a persistent ``allowed_updates`` filter applied when an
  update is created, 409 while a webhook is set or when another long poll takes over).
  ``await deliver(update)`` POSTs it to the webhook set by ``setWebhook`` with its secret header.
* **Conversations out.** ``sendMessage`` also validates ``reply_markup``; ``sendPhoto`` (multipart upload,
  file_id or URL), ``editMessageText``, ``editMessageReplyMarkup``, ``answerCallbackQuery``,
  ``deleteMessage``, ``setMyCommands``/``getMyCommands``/``deleteMyCommands`` per scope and language,
  ``setChatMenuButton``/``getChatMenuButton`` are modelled. Every message the bot sent is kept with its
  current text and keyboard (:class:`BotMessage`), so edits and callback queries refer to it.

Error descriptions are Telegram's: those the Bot API server makes are taken from its source
(tdlib/telegram-bot-api), those Telegram's servers make (``BUTTON_DATA_INVALID``, "message to edit not
found"...) are as bots receive them; the wording for bad commands, language codes and menu buttons is close
but unchecked. Not modelled: inline messages (``inline_message_id``), Telegram's slowdowns of repeated
``getUpdates`` and ``setWebhook`` calls (they would only make tests slow), webhook retries, and answering a
webhook with a method call.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import contextvars
import hashlib
import itertools
import json
import re
import struct
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web
from telegram.constants import UpdateType

from tests.doubles.telegram_api import (
    DEFAULT_TOKEN,
    MAX_MESSAGE_LENGTH,
    ChatId,
    FakeTelegramApi,
    ReceivedMessage,
    _chat_id,
    _EntityError,
    _error,
    _json_value,
    _ok,
    _utf16_length,
    parse_text,
)

T = TypeVar("T")
U = TypeVar("U", bound=Mapping[str, Any])

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
MAX_CALLBACK_DATA = 64
"""Bytes of UTF-8 an inline button's ``callback_data`` may hold."""
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
LONG_POLL_MAX_TIMEOUT = 50
ALL_UPDATE_TYPES = frozenset(str(t) for t in UpdateType)
DEFAULT_ALLOWED_UPDATES = ALL_UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
"""What Telegram sends when ``allowed_updates`` was never set, or set to ``[]``."""

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_TERMINATED = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
POLL_TERMINATED_BY_WEBHOOK = "Conflict: terminated by setWebhook request"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
BUTTON_DATA_INVALID = "Bad Request: BUTTON_DATA_INVALID"
TEXT_BUTTONS = "Bad Request: can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"

_COMMAND = re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?!\w)")
_BOT_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_SECRET = re.compile(r"[A-Za-z0-9_-]+")
_LANGUAGE = re.compile(r"[a-z]{2}")
_OTHER_BUTTON_ACTIONS = (
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")
_PHOTO_SIDES = (90, 320, 800, 1280, 2560)
_SCOPES = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
_CHAT_SCOPES = ("chat", "chat_administrators", "chat_member")

ScopeKey = tuple[str, ChatId | None, int | None]
"""A command scope as ``(type, chat_id, user_id)``: ``("default", None, None)``, ``("chat", 42, None)``..."""


@dataclass(frozen=True, slots=True)
class TgUser:
    """A Telegram user who writes to the bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"
    is_premium: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The User object as Telegram sends it."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        _put(user, last_name=self.last_name, username=self.username, language_code=self.language_code)
        if self.is_premium:
            user["is_premium"] = True
        return user

    def private_chat(self) -> dict[str, Any]:
        """The Chat object of the user's private chat with the bot."""
        chat: dict[str, Any] = {"id": self.id, "first_name": self.first_name}
        _put(chat, last_name=self.last_name, username=self.username)
        chat["type"] = "private"
        return chat


@dataclass(frozen=True, slots=True)
class TgChat:
    """A group, supergroup or channel."""

    id: int
    type: str
    title: str
    username: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Chat object as Telegram sends it."""
        chat: dict[str, Any] = {"id": self.id, "title": self.title}
        _put(chat, username=self.username)
        chat["type"] = self.type
        return chat


DEFAULT_GROUP = TgChat(-1001234567890, "supergroup", "Plenary commission")
DEFAULT_CHANNEL = TgChat(-1009876543210, "channel", "Plenary notices", "plenary_notices")


@dataclass(eq=False, slots=True)
class BotMessage:
    """A message the bot sent, as it stands now (edits change it in place; ``history`` keeps what it was)."""

    chat_id: int
    message_id: int
    date: int
    text: str | None = None
    """The text as the user reads it (HTML parsed away); None for a photo."""
    entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    """The inline keyboard attached to the message, as sent."""
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    photo: bytes | None = None
    """The uploaded bytes of a photo (None when sent by file_id or URL)."""
    photo_source: str | None = None
    """The file_id or URL a photo was sent by."""
    photo_sizes: list[dict[str, Any]] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    """The parameters of the request that sent it (a reply keyboard, for one, is only there)."""
    history: list[tuple[str | None, dict[str, Any] | None]] = field(default_factory=list)
    """``(text, reply_markup)`` before each accepted edit."""

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        """The ``callback_data`` of the inline buttons, in order."""
        return [b["callback_data"] for b in self.buttons if b.get("callback_data")]

    def button(self, text: str) -> dict[str, Any]:
        """The inline button labelled ``text``."""
        for button in self.buttons:
            if button.get("text") == text:
                return button
        raise KeyError(f"no button {text!r} on message {self.message_id}: {[b.get('text') for b in self.buttons]}")


@dataclass(frozen=True, slots=True)
class EditCall:
    """An editMessageText or editMessageReplyMarkup call and how the double answered it."""

    method: str
    chat_id: ChatId | None
    message_id: int | None
    text: str | None
    reply_markup: dict[str, Any] | None
    status: int
    description: str

    @property
    def accepted(self) -> bool:
        """True when the message was changed."""
        return self.status == 200


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    """An answerCallbackQuery call and how the double answered it."""

    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None
    cache_time: int | None
    status: int
    description: str

    @property
    def accepted(self) -> bool:
        """True when the query was answered."""
        return self.status == 200


@dataclass(frozen=True, slots=True)
class WebhookDelivery:
    """One POST of an update to the webhook."""

    update: Mapping[str, Any]
    url: str
    secret_token: str | None
    """The secret header sent (None: no header)."""
    status: int
    body: str

    @property
    def update_id(self) -> int:
        """The update's ``update_id``."""
        return int(self.update["update_id"])


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file part of a multipart request."""

    filename: str | None
    content_type: str
    data: bytes


@dataclass(slots=True)
class _Query:
    data: str
    answered: bool = False
    expired: bool = False


USE_CONFIGURED: Any = object()
"""The default of :meth:`FakeBotApi.deliver`'s ``secret_token``: send the secret given to setWebhook."""

_UPLOADS: contextvars.ContextVar[Mapping[str, UploadedFile] | None] = contextvars.ContextVar("uploads", default=None)


class FakeBotApi(FakeTelegramApi):
    """A Bot API server on 127.0.0.1 for a whole bot: see the module's docstring.

    ``async with FakeBotApi() as api:`` and build the Application with ``.token(api.token)`` and
    ``.base_url(api.base_url)``. Read back ``api.sent`` (every :class:`BotMessage`), ``api.edits``,
    ``api.callback_answers``, ``api.deleted``, ``api.deliveries``; wait with :meth:`wait_for`.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        first_update_id: int = 1001,
        webhook_timeout: float = 5.0,
        **limits: Any,
    ) -> None:
        super().__init__(token, **limits)
        self.webhook_timeout = webhook_timeout
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        """The update types Telegram creates now (``allowed_updates`` of the last getUpdates or setWebhook)."""
        self.sent: list[BotMessage] = []
        self.edits: list[EditCall] = []
        self.callback_answers: list[CallbackAnswer] = []
        self.deleted: list[tuple[int, int]] = []
        """``(chat_id, message_id)`` of every message deleted, the bot's or a user's."""
        self.deliveries: list[WebhookDelivery] = []
        self.dropped_updates: list[Mapping[str, Any]] = []
        """Updates not created because their type was not in ``allowed_updates``."""
        self.confirmed_updates: list[Mapping[str, Any]] = []
        """Updates a getUpdates ``offset`` confirmed, in order."""
        self.command_lists: dict[tuple[ScopeKey, str], list[dict[str, Any]]] = {}
        """Commands per ``(scope, language_code)``; ``""`` is every language."""
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        """The menu button per private chat; ``None`` is the default for all of them."""
        self.webhook_max_connections: int | None = None
        self._pending: list[Mapping[str, Any]] = []
        self._update_ids = itertools.count(first_update_id)
        self._query_ids = itertools.count(4_611_686_018_427_387_904)
        self._file_ids = itertools.count(1)
        self._messages: dict[tuple[int, int], BotMessage] = {}
        self._user_messages: dict[tuple[int, int], dict[str, Any]] = {}
        self._queries: dict[str, _Query] = {}
        self._files: dict[str, BotMessage] = {}
        self._users: dict[int, TgUser] = {}
        self._chats: dict[int, TgChat] = {}
        self._poll_generation = 0
        self._poll_ended: dict[int, str] = {}
        self._closing = False
        self._changed = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self._last_webhook_error: tuple[int, str] | None = None
        self._methods.update(
            {
                "sendphoto": self._send_photo,
                "editmessagetext": self._edit_message_text,
                "editmessagereplymarkup": self._edit_message_reply_markup,
                "answercallbackquery": self._answer_callback_query,
                "deletemessage": self._delete_message,
                "setchatmenubutton": self._set_chat_menu_button,
                "getchatmenubutton": self._get_chat_menu_button,
            }
        )

    async def close(self) -> None:
        """End held long polls, close the webhook client, stop serving."""
        self._closing = True
        self._notify()
        if self._session is not None:
            await self._session.close()
            self._session = None
        await super().close()

    # building updates

    def message_update(
        self,
        user: TgUser,
        text: str,
        *,
        chat: TgChat | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to: BotMessage | None = None,
    ) -> dict[str, Any]:
        """A text message from ``user``, in their private chat unless ``chat`` is given.

        Bot commands in the text get their ``bot_command`` entities, as Telegram adds them.
        """
        self._users[user.id] = user
        if chat is not None:
            self._chats[chat.id] = chat
        chat_dict = chat.to_dict() if chat is not None else user.private_chat()
        message: dict[str, Any] = {
            "message_id": self._take_message_id(chat_dict["id"]),
            "from": user.to_dict(),
            "chat": chat_dict,
            "date": int(time.time()),
        }
        if reply_to is not None:
            message["reply_to_message"] = self._message_json(reply_to)
        message["text"] = text
        found = command_entities(text) if entities is None else entities
        if found:
            message["entities"] = found
        self._user_messages[(chat_dict["id"], message["message_id"])] = message
        return self._new_update("message", message)

    def command_update(self, user: TgUser, text: str, *, chat: TgChat | None = None) -> dict[str, Any]:
        """A command such as ``"/start bXYZ"``: a message whose ``bot_command`` entity is at offset 0."""
        if not _COMMAND.match(text):
            raise ValueError(f"not a bot command: {text!r}")
        return self.message_update(user, text, chat=chat)

    def group_update(self, user: TgUser, text: str, *, chat: TgChat = DEFAULT_GROUP) -> dict[str, Any]:
        """A message from ``user`` in a group or supergroup."""
        return self.message_update(user, text, chat=chat)

    def channel_post_update(self, text: str, *, chat: TgChat = DEFAULT_CHANNEL) -> dict[str, Any]:
        """A post in a channel the bot is a member of."""
        self._chats[chat.id] = chat
        post: dict[str, Any] = {
            "message_id": self._take_message_id(chat.id),
            "sender_chat": chat.to_dict(),
            "chat": chat.to_dict(),
            "date": int(time.time()),
            "text": text,
        }
        if entities := command_entities(text):
            post["entities"] = entities
        self._user_messages[(chat.id, post["message_id"])] = post
        return self._new_update("channel_post", post)

    def edited_update(self, original: Mapping[str, Any], text: str) -> dict[str, Any]:
        """The edit of a message or channel post built earlier: ``edited_message`` or ``edited_channel_post``."""
        kind = "message" if "message" in original else "channel_post"
        message = dict(original[kind])
        message.pop("entities", None)
        message["edit_date"] = int(time.time())
        message["text"] = text
        if entities := command_entities(text):
            message["entities"] = entities
        self._user_messages[(message["chat"]["id"], message["message_id"])] = message
        return self._new_update(f"edited_{kind}", message)

    def callback_update(
        self,
        user: TgUser,
        message: BotMessage | tuple[int, int],
        data: str,
        *,
        check_button: bool = True,
        inaccessible: bool = False,
    ) -> dict[str, Any]:
        """``user`` pressing the inline button with ``data`` on a message the bot sent.

        The update carries the message as it stands (text, keyboard). With ``check_button`` the data must be
        on its keyboard now; pass False for a stale client pressing a button that an edit removed.
        ``inaccessible`` sends the message as Telegram does for one older than 48 hours.
        """
        sent = message if isinstance(message, BotMessage) else self.message(*message)
        if check_button and data not in sent.callback_data:
            raise ValueError(f"no button with callback_data {data!r} on message {sent.message_id}")
        self._users[user.id] = user
        query_id = str(next(self._query_ids))
        self._queries[query_id] = _Query(data)
        if inaccessible:
            shown: dict[str, Any] = {"chat": self._chat(sent.chat_id), "message_id": sent.message_id, "date": 0}
        else:
            shown = self._message_json(sent)
        query = {
            "id": query_id,
            "from": user.to_dict(),
            "message": shown,
            "chat_instance": _chat_instance(self.token, sent.chat_id),
            "data": data,
        }
        return self._new_update("callback_query", query)

    def raw_update(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Any update: ``payload`` is its body (``{"my_chat_member": {...}}``), numbered if it has no ``update_id``."""
        if "update_id" in payload:
            return dict(payload)
        return {"update_id": next(self._update_ids), **payload}

    # updates in

    def push(self, update: U) -> U:
        """Queue ``update`` for getUpdates, unless ``allowed_updates`` excludes its type (then it is dropped)."""
        if update_type(update) not in self.allowed_updates:
            self.dropped_updates.append(update)
            return update
        bisect.insort(self._pending, update, key=lambda u: int(u["update_id"]))
        self._notify()
        return update

    @property
    def pending_updates(self) -> list[Mapping[str, Any]]:
        """Queued updates not yet confirmed by an offset."""
        return list(self._pending)

    async def deliver(
        self, update: Mapping[str, Any], *, secret_token: str | None = USE_CONFIGURED, url: str | None = None
    ) -> int | None:
        """POST ``update`` to the webhook as Telegram does and return the HTTP status of the answer.

        ``secret_token`` defaults to the one given to setWebhook; pass another to send a wrong one, or None
        to send no header. Delivering the same update again is a replay (same ``update_id``); see also
        :meth:`redeliver`. Returns None, posting nothing, when ``allowed_updates`` excludes its type.
        """
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook is set: the bot has not called setWebhook")
        if update_type(update) not in self.allowed_updates:
            self.dropped_updates.append(update)
            return None
        secret = self.webhook_secret if secret_token is USE_CONFIGURED else secret_token
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.webhook_timeout))
        async with self._session.post(target, data=json.dumps(update), headers=headers) as response:
            body = await response.text()
            status, reason = response.status, response.reason or ""
        self.deliveries.append(WebhookDelivery(update, target, secret, status, body))
        if not 200 <= status <= 299:
            self._last_webhook_error = (int(time.time()), f"Wrong response from the webhook: {status} {reason}")
        self._notify()
        return status

    async def redeliver(self, index: int = -1, *, secret_token: str | None = USE_CONFIGURED) -> int | None:
        """Deliver again the update of ``deliveries[index]``: a replay, as after a lost answer."""
        return await self.deliver(self.deliveries[index].update, secret_token=secret_token)

    # reading back

    def message(self, chat_id: int, message_id: int) -> BotMessage:
        """The bot's message ``message_id`` in ``chat_id``."""
        return self._messages[(chat_id, message_id)]

    def sent_to(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in ``chat_id``, in order."""
        return [m for m in self.sent if m.chat_id == chat_id]

    @property
    def photos(self) -> list[BotMessage]:
        """The photos the bot sent."""
        return [m for m in self.sent if m.photo_sizes]

    def answer_to(self, callback_query_id: str) -> CallbackAnswer | None:
        """The accepted answer to a callback query, if any."""
        return next((a for a in self.callback_answers if a.callback_query_id == callback_query_id and a.accepted), None)

    def expire_callback_queries(self) -> None:
        """Make every callback query issued so far too old to answer."""
        for query in self._queries.values():
            query.expired = True

    def my_commands(
        self,
        scope: str = "default",
        *,
        chat_id: ChatId | None = None,
        user_id: int | None = None,
        language_code: str = "",
    ) -> list[dict[str, Any]]:
        """The commands set for exactly this scope and language (what getMyCommands answers)."""
        return list(self.command_lists.get(((scope, chat_id, user_id), language_code), []))

    def visible_commands(
        self, chat_id: int, language_code: str = "", *, user_id: int | None = None, admin: bool = False
    ) -> list[dict[str, Any]]:
        """The commands a user sees in ``chat_id``, resolved through the scopes as Telegram documents it."""
        if chat_id > 0:
            order: list[ScopeKey] = [("chat", chat_id, None), ("all_private_chats", None, None)]
        else:
            order = [("chat_member", chat_id, user_id)] if user_id is not None else []
            order += [("chat_administrators", chat_id, None)] if admin else []
            order.append(("chat", chat_id, None))
            order += [("all_chat_administrators", None, None)] if admin else []
            order.append(("all_group_chats", None, None))
        order.append(("default", None, None))
        for scope in order:
            for language in dict.fromkeys((language_code, "")):
                if (scope, language) in self.command_lists:
                    return list(self.command_lists[(scope, language)])
        return []

    async def wait_for(self, predicate: Callable[[], T], within: float = 2.0) -> T:
        """Wait up to ``within`` seconds until ``predicate()`` is truthy (checked after every API call); return it."""
        async with asyncio.timeout(within):
            while not (result := predicate()):
                await self._changed.wait()
        return result

    async def wait_for_sent(self, count: int, within: float = 2.0) -> list[BotMessage]:
        """Wait until the bot has sent at least ``count`` messages (text or photo); return them all."""
        await self.wait_for(lambda: len(self.sent) >= count, within)
        return list(self.sent)

    # HTTP

    async def _handle(self, request: web.Request) -> web.Response:
        token = _UPLOADS.set(await _read_uploads(request))
        try:
            return await super()._handle(request)
        finally:
            _UPLOADS.reset(token)
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # getUpdates and the webhook

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        if self.webhook_url:
            return _error(409, WEBHOOK_CONFLICT)
        offset = _int(params.get("offset")) or 0
        limit = _clamp(_int(params.get("limit")), 100, 1, 100)
        timeout = _clamp(_int(params.get("timeout")), 0, 0, LONG_POLL_MAX_TIMEOUT)
        self._set_allowed_updates(params.get("allowed_updates"))
        self._confirm(offset)
        if (batch := self._pending[:limit]) or timeout == 0 or self._closing:
            return _ok(batch)
        self._end_held_poll(POLL_TERMINATED)  # a held poll ends the one held before it, as on Telegram
        generation = self._poll_generation
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    await changed.wait()
            if self._poll_generation != generation:
                return _error(409, self._poll_ended.pop(generation, POLL_TERMINATED))
            if (batch := self._pending[:limit]) or self._closing or asyncio.get_running_loop().time() >= deadline:
                return _ok(batch)

    def _end_held_poll(self, reason: str) -> None:
        self._poll_ended[self._poll_generation] = reason
        self._poll_generation += 1
        self._notify()

    def _confirm(self, offset: int) -> None:
        if offset < 0:
            self._pending = self._pending[offset:]
        elif offset > 0:
            while self._pending and int(self._pending[0]["update_id"]) < offset:
                self.confirmed_updates.append(self._pending.pop(0))

    def _set_allowed_updates(self, value: Any) -> None:
        names = _json_value(value) if value not in (None, "") else None
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return  # Telegram keeps the previous setting
        self.allowed_updates = frozenset(n.lower() for n in names) & ALL_UPDATE_TYPES or DEFAULT_ALLOWED_UPDATES

    async def _set_webhook(self, params: dict[str, Any]) -> web.Response:
        secret = str(params.get("secret_token") or "")
        if len(secret) > 256:
            return _error(400, "Bad Request: secret token is too long")
        if secret and not _SECRET.fullmatch(secret):
            return _error(400, "Bad Request: secret token contains unallowed characters")
        self._set_allowed_updates(params.get("allowed_updates"))
        if _bool(params.get("drop_pending_updates")):
            self._pending.clear()
        response = await super()._set_webhook(params)
        self.webhook_max_connections = (_int(params.get("max_connections")) or 40) if self.webhook_url else None
        if self.webhook_url:
            self._end_held_poll(POLL_TERMINATED_BY_WEBHOOK)
        return response

    async def _delete_webhook(self, params: dict[str, Any]) -> web.Response:
        if _bool(params.get("drop_pending_updates")):
            self._pending.clear()
        self.webhook_max_connections = None
        return await super()._delete_webhook(params)

    async def _get_webhook_info(self, params: dict[str, Any]) -> web.Response:
        info: dict[str, Any] = {
            "url": self.webhook_url or "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._pending),
        }
        if self.webhook_url:
            info["max_connections"] = self.webhook_max_connections
            if self._last_webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._last_webhook_error
        if self.allowed_updates != DEFAULT_ALLOWED_UPDATES:
            info["allowed_updates"] = sorted(self.allowed_updates)
        return _ok(info)

    # sending

    async def _send_message(self, params: dict[str, Any]) -> web.Response:
        _, problem = _check_reply_markup(params.get("reply_markup"))
        if problem is not None:
            chat_id = _chat_id(params.get("chat_id"))
            text = None if params.get("text") is None else str(params["text"])
            refused = ReceivedMessage(chat_id, text, params.get("parse_mode"), time.monotonic(), False, 400, problem)
            return self._refuse(refused, params)
        response = await super()._send_message(params)
        if response.status != 200 or response.text is None:
            return response
        result = json.loads(response.text)["result"]
        return _ok(self._message_json(self.message(int(result["chat"]["id"]), int(result["message_id"]))))

    def _record(self, received: ReceivedMessage) -> None:
        if received.accepted and received.chat_id is not None and received.message_id is not None:
            text, entities = _text_and_entities(received.text or "", received.params)
            markup, _ = _check_reply_markup(received.params.get("reply_markup"))
            self._store(
                BotMessage(
                    self._numeric(received.chat_id),
                    received.message_id,
                    int(time.time()),
                    text=text,
                    entities=entities,
                    reply_markup=_inline(markup),
                    params=received.params,
                )
            )
        super()._record(received)

    async def _send_photo(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        if chat_id is None:
            return _error(400, "Bad Request: chat_id is empty")
        if chat_id in self._blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._unknown:
            return _error(400, "Bad Request: chat not found")
        markup, problem = _check_reply_markup(params.get("reply_markup"))
        if problem is not None:
            return _error(400, problem)
        uploads = _UPLOADS.get() or {}
        photo = params.get("photo")
        attached = photo.removeprefix("attach://") if isinstance(photo, str) else "photo"
        upload = uploads.get(attached) or uploads.get("photo")
        data: bytes | None = None
        source: str | None = None
        if upload is not None:
            if not upload.data.startswith(_IMAGE_MAGIC):
                return _error(400, "Bad Request: IMAGE_PROCESS_FAILED")
            data, sizes = upload.data, self._photo_sizes(_image_size(upload.data), len(upload.data))
        elif isinstance(photo, str) and photo in self._files:
            source, sizes = photo, self._files[photo].photo_sizes
        elif isinstance(photo, str) and photo.startswith(("http://", "https://")):
            source, sizes = photo, self._photo_sizes((800, 800), 50_000)
        elif photo:
            return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            return _error(400, "Bad Request: there is no photo in the request")
        caption, caption_entities = None, []
        if params.get("caption"):
            try:
                caption, caption_entities = _text_and_entities(str(params["caption"]), params, "caption_entities")
            except _EntityError as exc:
                return _error(400, f"Bad Request: can't parse entities: {exc}")
            if len(caption) > MAX_CAPTION_LENGTH:
                return _error(400, "Bad Request: message caption is too long")
        message = BotMessage(
            self._numeric(chat_id),
            self._take_message_id(chat_id),
            int(time.time()),
            reply_markup=_inline(markup),
            caption=caption,
            caption_entities=caption_entities,
            photo=data,
            photo_source=source,
            photo_sizes=sizes,
            params=params,
        )
        self._store(message)
        self._files.update({size["file_id"]: message for size in sizes})
        return _ok(self._message_json(message))

    def _photo_sizes(self, size: tuple[int, int], file_size: int) -> list[dict[str, Any]]:
        width, height = size
        longest = max(width, height, 1)
        sides = [s for s in _PHOTO_SIDES if s < longest] + [min(longest, _PHOTO_SIDES[-1])]
        number = next(self._file_ids)
        sizes = []
        for index, side in enumerate(sides):
            scale = side / longest
            sizes.append(
                {
                    "file_id": f"AgACAgIAAxkDAAI{number:06d}{index}",
                    "file_unique_id": f"AQAD{number:06d}{index}",
                    "file_size": max(1, round(file_size * scale * scale)),
                    "width": max(1, round(width * scale)),
                    "height": max(1, round(height * scale)),
                }
            )
        return sizes

    # editing, answering, deleting

    async def _edit_message_text(self, params: dict[str, Any]) -> web.Response:
        return self._edit("editMessageText", params)

    async def _edit_message_reply_markup(self, params: dict[str, Any]) -> web.Response:
        return self._edit("editMessageReplyMarkup", params)

    def _edit(self, method: str, params: dict[str, Any]) -> web.Response:
        chat_id, message_id = _chat_id(params.get("chat_id")), _int(params.get("message_id"))
        markup, problem = _check_reply_markup(params.get("reply_markup"))
        new_markup = _inline(markup)
        requested = None if params.get("text") is None else str(params["text"])

        def answer(status: int, description: str, result: Any = None) -> web.Response:
            self.edits.append(EditCall(method, chat_id, message_id, requested, new_markup, status, description))
            return _ok(result) if status == 200 else _error(status, description)

        if problem is not None:
            return answer(400, problem)
        if params.get("inline_message_id"):
            return answer(400, "Bad Request: MESSAGE_ID_INVALID")  # inline messages are not modelled
        if chat_id is None:
            return answer(400, "Bad Request: chat_id is empty")
        if message_id is None:
            return answer(400, "Bad Request: message identifier is not specified")
        key = (self._numeric(chat_id), message_id)
        message = self._messages.get(key)
        if message is None or message.deleted:
            if key in self._user_messages:
                return answer(400, "Bad Request: message can't be edited")
            return answer(400, "Bad Request: message to edit not found")
        text, entities = message.text, message.entities
        if method == "editMessageText":
            if not requested:
                return answer(400, "Bad Request: message text is empty")
            try:
                text, entities = _text_and_entities(requested, params)
            except _EntityError as exc:
                return answer(400, f"Bad Request: can't parse entities: {exc}")
            if not text.strip():
                return answer(400, "Bad Request: message text is empty")
            if len(text) > MAX_MESSAGE_LENGTH:
                return answer(400, "Bad Request: MESSAGE_TOO_LONG")
            if message.text is None:
                return answer(400, "Bad Request: there is no text in the message to edit")
        if (text, entities, new_markup) == (message.text, message.entities, message.reply_markup):
            return answer(400, NOT_MODIFIED)
        message.history.append((message.text, message.reply_markup))
        message.text, message.entities, message.reply_markup = text, entities, new_markup
        message.edit_date = int(time.time())
        return answer(200, "OK", self._message_json(message))

    async def _answer_callback_query(self, params: dict[str, Any]) -> web.Response:
        query_id = str(params.get("callback_query_id") or "")
        text = None if params.get("text") is None else str(params["text"])
        cache_time = _int(params.get("cache_time"))
        url = str(params["url"]) if params.get("url") else None

        def answer(status: int, description: str) -> web.Response:
            show_alert = _bool(params.get("show_alert"))
            self.callback_answers.append(
                CallbackAnswer(query_id, text, show_alert, url, cache_time, status, description)
            )
            return _ok(True) if status == 200 else _error(status, description)

        query = self._queries.get(query_id)
        if query is None or query.answered or query.expired:
            return answer(400, QUERY_INVALID)
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            return answer(400, "Bad Request: MESSAGE_TOO_LONG")
        query.answered = True
        return answer(200, "OK")

    async def _delete_message(self, params: dict[str, Any]) -> web.Response:
        chat_id, message_id = _chat_id(params.get("chat_id")), _int(params.get("message_id"))
        if chat_id is None:
            return _error(400, "Bad Request: chat_id is empty")
        if message_id is None:
            return _error(400, "Bad Request: message identifier is not specified")
        key = (self._numeric(chat_id), message_id)
        message = self._messages.get(key)
        if message is not None and not message.deleted:
            message.deleted = True
        elif self._user_messages.pop(key, None) is None:
            return _error(400, "Bad Request: message to delete not found")
        self.deleted.append(key)
        return _ok(True)

    # commands and the menu button

    async def _set_my_commands(self, params: dict[str, Any]) -> web.Response:
        scope, language, problem = self._scope_and_language(params)
        if problem is not None:
            return _error(400, problem)
        raw = params.get("commands")
        commands = [] if raw in (None, "") else _json_value(raw)
        if not isinstance(commands, list):
            return _error(400, "Bad Request: expected an Array of BotCommand")
        if len(commands) > 100:
            return _error(400, "Bad Request: BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not all(
                isinstance(command.get(k), str) for k in ("command", "description")
            ):
                return _error(400, 'Bad Request: can\'t parse BotCommand: Field "command" must be of type String')
            if not _BOT_COMMAND.fullmatch(command["command"]):
                return _error(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(command["description"].strip()) <= 256:
                return _error(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        listed = [{"command": c["command"], "description": c["description"]} for c in commands]
        if listed:
            self.command_lists[(scope, language)] = listed
        else:
            self.command_lists.pop((scope, language), None)
        if scope == ("default", None, None) and not language:
            self.commands = listed
        return _ok(True)

    async def _get_my_commands(self, params: dict[str, Any]) -> web.Response:
        scope, language, problem = self._scope_and_language(params)
        if problem is not None:
            return _error(400, problem)
        return _ok(self.command_lists.get((scope, language), []))

    async def _delete_my_commands(self, params: dict[str, Any]) -> web.Response:
        scope, language, problem = self._scope_and_language(params)
        if problem is not None:
            return _error(400, problem)
        self.command_lists.pop((scope, language), None)
        if scope == ("default", None, None) and not language:
            self.commands = []
        return _ok(True)

    def _scope_and_language(self, params: Mapping[str, Any]) -> tuple[ScopeKey, str, str | None]:
        default: ScopeKey = ("default", None, None)
        language = str(params.get("language_code") or "")
        if language and not _LANGUAGE.fullmatch(language):
            return default, language, "Bad Request: LANG_CODE_INVALID"
        raw = params.get("scope")
        if raw in (None, ""):
            return default, language, None
        scope = _json_value(raw)
        if not isinstance(scope, dict):
            return default, language, "Bad Request: can't parse BotCommandScope: BotCommandScope must be an Object"
        kind = scope.get("type")
        if kind in _SCOPES:
            return (kind, None, None), language, None
        if kind not in _CHAT_SCOPES:
            return default, language, "Bad Request: can't parse BotCommandScope: Unsupported type specified"
        chat_id = _chat_id(scope.get("chat_id"))
        if chat_id is None:
            return default, language, "Bad Request: can't parse BotCommandScope: Empty chat_id specified"
        if kind != "chat_member":
            return (kind, chat_id, None), language, None
        user_id = _int(scope.get("user_id"))
        if user_id is None or user_id <= 0:
            return default, language, "Bad Request: can't parse BotCommandScope: Invalid user_id specified"
        return (kind, chat_id, user_id), language, None

    async def _set_chat_menu_button(self, params: dict[str, Any]) -> web.Response:
        raw = params.get("menu_button")
        button = {"type": "default"} if raw in (None, "") else _json_value(raw)
        if not isinstance(button, dict):
            return _error(400, "Bad Request: can't parse menu button: MenuButton must be an Object")
        kind = button.get("type")
        if kind == "web_app":
            web_app = button.get("web_app")
            if not isinstance(button.get("text"), str) or not isinstance(web_app, dict) or not web_app.get("url"):
                return _error(400, 'Bad Request: can\'t parse menu button: Field "web_app" must be an Object')
        elif kind not in ("default", "commands"):
            return _error(400, "Bad Request: can't parse menu button: MenuButton has unsupported type")
        chat_id = _chat_id(params.get("chat_id"))
        key = chat_id if isinstance(chat_id, int) else None
        if kind == "default":
            self.menu_buttons.pop(key, None)
        else:
            self.menu_buttons[key] = dict(button)
        return _ok(True)

    async def _get_chat_menu_button(self, params: dict[str, Any]) -> web.Response:
        chat_id = _chat_id(params.get("chat_id"))
        key = chat_id if isinstance(chat_id, int) else None
        return _ok(self.menu_buttons.get(key) or self.menu_buttons.get(None) or {"type": "commands"})

    # the bot's messages

    def _store(self, message: BotMessage) -> None:
        self._messages[(message.chat_id, message.message_id)] = message
        self.sent.append(message)

    def _message_json(self, message: BotMessage) -> dict[str, Any]:
        chat = self._chat(message.chat_id)
        shown: dict[str, Any] = {"message_id": message.message_id}
        if chat["type"] == "channel":
            shown["sender_chat"] = chat
        else:
            shown["from"] = self._bot_from()
        shown["chat"] = chat
        shown["date"] = message.date
        if message.edit_date is not None:
            shown["edit_date"] = message.edit_date
        if message.photo_sizes:
            shown["photo"] = message.photo_sizes
        if message.text is not None:
            shown["text"] = message.text
        if message.entities:
            shown["entities"] = message.entities
        if message.caption is not None:
            shown["caption"] = message.caption
        if message.caption_entities:
            shown["caption_entities"] = message.caption_entities
        if message.reply_markup is not None:
            shown["reply_markup"] = message.reply_markup
        return shown

    def _bot_from(self) -> dict[str, Any]:
        bot = self._bot_user()
        return {k: bot[k] for k in ("id", "is_bot", "first_name", "username")}

    def _chat(self, chat_id: ChatId) -> dict[str, Any]:
        if isinstance(chat_id, int) and chat_id in self._users:
            return self._users[chat_id].private_chat()
        if isinstance(chat_id, int) and chat_id in self._chats:
            return self._chats[chat_id].to_dict()
        return super()._chat(chat_id)

    def _numeric(self, chat_id: ChatId) -> int:
        return chat_id if isinstance(chat_id, int) else int(self._chat(chat_id)["id"])

    def _take_message_id(self, chat_id: ChatId) -> int:
        """The next message_id in a chat: the bot's and its users' messages share one sequence, as on Telegram."""
        message_id = self._next_message_id.get(chat_id, 0) + 1
        self._next_message_id[chat_id] = message_id
        return message_id

    def _new_update(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"update_id": next(self._update_ids), kind: body}


def update_type(update: Mapping[str, Any]) -> str:
    """The type of an update: its one field besides ``update_id`` (``"message"``, ``"callback_query"``...)."""
    return next((key for key in update if key != "update_id"), "")


def command_entities(text: str) -> list[dict[str, Any]]:
    """The ``bot_command`` entities Telegram finds in a user's text, offsets in UTF-16 code units."""
    return [
        {"offset": _utf16_length(text[: m.start()]), "length": _utf16_length(m.group()), "type": "bot_command"}
        for m in _COMMAND.finditer(text)
    ]


def _check_reply_markup(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Return (markup, None), or (None, the error description Telegram gives for it)."""
    if raw in (None, ""):
        return None, None
    markup = _json_value(raw)
    if isinstance(markup, str):
        return None, "Bad Request: can't parse reply keyboard markup JSON object"
    if not isinstance(markup, dict):
        return None, "Bad Request: object expected as reply markup"
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup, None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return None, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict):
            return None, "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        if not isinstance(button.get("text"), str):
            return None, "Bad Request: can't parse inline keyboard button: Can't find field \"text\""
        # the order of Telegram's own checks: a non-empty url wins, then a non-empty callback_data, then the rest
        url, data = button.get("url"), button.get("callback_data")
        if url:
            if not str(url).startswith(("http://", "https://", "tg://")):
                return None, "Bad Request: BUTTON_URL_INVALID"
        elif data:
            if len(str(data).encode()) > MAX_CALLBACK_DATA:
                return None, BUTTON_DATA_INVALID
        elif not any(action in button for action in _OTHER_BUTTON_ACTIONS):
            return None, TEXT_BUTTONS
    return markup, None


def _inline(markup: dict[str, Any] | None) -> dict[str, Any] | None:
    """The markup a message keeps: only an inline keyboard stays attached to it."""
    if markup is not None and markup.get("inline_keyboard"):
        return {"inline_keyboard": markup["inline_keyboard"]}
    return None


def _text_and_entities(
    text: str, params: Mapping[str, Any], entities_key: str = "entities"
) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities of a text or caption: parsed by parse_mode, else the entities given."""
    parse_mode = params.get("parse_mode")
    if parse_mode:
        return parse_text(text, str(parse_mode))
    given = _json_value(params.get(entities_key)) if params.get(entities_key) else []
    return text, ([dict(e) for e in given if isinstance(e, dict)] if isinstance(given, list) else [])


def _image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, GIF or JPEG; a guess for anything else."""
    if data.startswith(b"\x89PNG") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data.startswith(b"GIF") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    index = 2
    while data.startswith(b"\xff\xd8") and index + 9 < len(data):
        marker, length = data[index + 1], int.from_bytes(data[index + 2 : index + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[index + 5 : index + 9])
            return int(width), int(height)
        index += 2 + length
    return 512, 512


def _chat_instance(token: str, chat_id: int) -> str:
    """A stable, opaque ``chat_instance`` for a chat, a signed 64-bit number as Telegram's are."""
    digest = hashlib.sha256(f"{token}:{chat_id}".encode()).digest()
    return str(int.from_bytes(digest[:8], "big", signed=True))


async def _read_uploads(request: web.Request) -> dict[str, UploadedFile]:
    """The file parts of a multipart request (read now; aiohttp keeps the form for the parameters)."""
    if request.content_type != "multipart/form-data" or not request.body_exists:
        return {}
    try:
        form = await request.post()
    except ValueError:
        return {}
    uploads = {}
    for name, value in form.items():
        if isinstance(value, web.FileField):
            uploads[name] = UploadedFile(value.filename, value.content_type, value.file.read())
            value.file.seek(0)
    return uploads


def _int(value: Any) -> int | None:
    """An integer parameter as Telegram reads it: leading digits of a string (``"0.5"`` is 0), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    match = re.match(r"\s*(-?\d+)", str(value))
    return int(match.group(1)) if match else None


def _clamp(value: int | None, default: int, low: int, high: int) -> int:
    return default if value is None else min(max(value, low), high)


def _bool(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _put(target: dict[str, Any], **optional: Any) -> None:
    """Set the optional fields that have a value, as Telegram leaves absent fields out."""
    target.update({k: v for k, v in optional.items() if v is not None})
