"""The bot's python-telegram-bot ``Application``: built with no job queue (the timeline and the outbox do the
scheduling) and run by long polling beside the service; updates of different chats are handled
concurrently, and those of one chat in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor
from telegram.request import BaseRequest

from bot.conversation import Conversation

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]


class PerChat(BaseUpdateProcessor):
    """Handles updates concurrently, except that the updates of one chat wait for each other (in order)."""

    def __init__(self, limit: int = 64) -> None:
        super().__init__(max_concurrent_updates=limit)
        self._chats: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """Run the update's handling under its chat's lock."""
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is None:
            await coroutine
            return
        lock = self._chats.setdefault(chat.id, asyncio.Lock())
        try:
            async with lock:
                await coroutine
        finally:
            if not lock.locked() and self._chats.get(chat.id) is lock:
                del self._chats[chat.id]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""


def build(
    token: str,
    conversation: Conversation,
    base_url: str | None = None,
    *,
    webhook: bool = False,
    requests: tuple[BaseRequest, BaseRequest] | None = None,
) -> AnyApplication:
    """The bot's Application with the conversation's handlers (with no updater in webhook mode), making its Bot
    API calls and its getUpdates through ``requests`` (python-telegram-bot's own, when None)."""
    builder = ApplicationBuilder().token(token).job_queue(None).concurrent_updates(PerChat())
    if requests is not None:
        builder = builder.request(requests[0]).get_updates_request(requests[1])
    if webhook:
        builder = builder.updater(None)
    if base_url:
        builder = builder.base_url(base_url)
    application = builder.build()
    conversation.install(application)
    application.add_error_handler(Failures(conversation).record)
    return application


class Failures:
    """The error handler: a handler failed. The update is logged by id (never its content: it may carry a link)
    and forgotten as handled, so that Telegram's next delivery of it (a webhook answered 500) is handled."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation

    async def record(self, update: object, context: Any) -> None:
        """Log the failure and let the update be handled again."""
        update_id = update.update_id if isinstance(update, Update) else None
        log.error("the bot could not handle update %s: %r", update_id, context.error)
        if update_id is None:
            return
        self.conversation.failed.add(update_id)
        try:
            await self.conversation.desk.updates.forget(update_id)
        except Exception as exc:  # the database is what failed: the update stays noted, and is lost
            log.error("could not forget update %d after its failure: %s", update_id, type(exc).__name__)


async def begin(application: AnyApplication, conversation: Conversation) -> None:
    """Initialise the Application, set its command menu and start handling updates (polling or webhook)."""
    await application.initialize()
    conversation.bot = application.bot
    try:
        await conversation.register_commands(application.bot)
    except TelegramError as exc:  # the menu is a convenience: the bot answers without it
        log.warning("could not set the bot's command menu (%s)", type(exc).__name__)
    await application.start()


class Polling:
    """Runs the Application by long polling, from the service's start to its stop; among replicas, only the
    leader polls (a second poller would get 409 Conflict): ``pause`` and ``resume`` follow the election."""

    def __init__(self, application: AnyApplication, conversation: Conversation) -> None:
        self.application, self.conversation = application, conversation
        self.running = False
        self.polling = True
        """Whether this replica should fetch updates (it leads)."""

    async def start(self) -> None:
        """Initialise the Application, set its command menu and start fetching updates (those sent while it was
        down included), if this replica polls."""
        await begin(self.application, self.conversation)
        self.running = True
        if self.polling:
            await self.resume()

    async def resume(self) -> None:
        """Fetch updates from now on."""
        self.polling = True
        updater = self.application.updater
        assert updater is not None
        if self.running and not updater.running:
            await updater.start_polling(timeout=30, allowed_updates=Update.ALL_TYPES, error_callback=_polling_error)

    async def pause(self) -> None:
        """Stop fetching updates (those being handled finish); the bot still sends."""
        self.polling = False
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()

    async def stop(self) -> None:
        """Stop fetching, let the updates being handled finish, close the connections."""
        if not self.running:
            return
        self.running = False
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        await self.application.stop()
        await self.application.shutdown()


def _polling_error(error: TelegramError) -> None:
    log.warning("fetching Telegram updates failed (%s); retrying", type(error).__name__)
