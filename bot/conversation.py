"""The Telegram conversation: each handler parses an update, calls one use case and answers from the catalogue.

Only private chats are spoken to; messages in groups and channels, edited messages and update kinds the bot
does not handle are left alone. An update Telegram delivers twice (a webhook retried, a second process
polling) is handled once: the database notes every ``update_id`` before anything else runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from domain.deployment import Deployment
from domain.events import BindingRefused
from domain.ports import Bindings, Clock, Phrases, Updates
from domain.values import localize
from services.bindings import BindingService, LinkOpened

log = logging.getLogger(__name__)

COMMANDS = ("start", "help")
"""The commands in the menu, in its order."""
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
"""New messages in a private chat: not edits, not groups or channels."""


@dataclass
class Conversation:
    """What the handlers need: the use cases they call and the words they answer with."""

    bindings: BindingService
    accounts: Bindings
    updates: Updates
    phrases: Phrases
    clock: Clock
    deployment: Callable[[], Deployment | None]
    bot: Bot | None = None
    """The bot that sends what no update asked for (the secretariat's alerts); set when it starts."""

    def handlers(self) -> list[tuple[BaseHandler[Any, Any, Any], int]]:
        """The handlers, with their groups: the replay check first (group -1), then the commands."""
        return [
            (TypeHandler(Update, self.once), -1),
            (CommandHandler("start", self.start, filters=PRIVATE), 0),
            (CommandHandler("help", self.help, filters=PRIVATE), 0),
            (MessageHandler(PRIVATE & filters.COMMAND, self.unknown_command), 0),
            (MessageHandler(PRIVATE & ~filters.COMMAND, self.text), 0),
        ]

    def install(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Add the handlers to a python-telegram-bot ``Application``."""
        for handler, group in self.handlers():
            application.add_handler(handler, group)

    async def register_commands(self, bot: Bot) -> None:
        """The command menu in every language there are words in (Telegram picks the user's), and by default in
        the commission's working language."""
        deployment = self.deployment()
        default = deployment.commission.language if deployment is not None else "en"
        for language in (*self.phrases.languages(), ""):
            commands = [BotCommand(c, self.phrases.say(language or default, f"command.{c}")) for c in COMMANDS]
            await bot.set_my_commands(commands, language_code=language or None)

    async def tell_secretariat(self, event: BindingRefused) -> None:
        """Tell the secretariat's Telegram accounts that a personal link was refused, in the working language."""
        deployment, bot = self.deployment(), self.bot
        if deployment is None or bot is None:
            return
        language = deployment.commission.language
        delegate = deployment.delegates.get(event.delegate_id)
        name = localize(delegate.name, language, language) if delegate is not None else ""
        label = f"{name} ({event.delegate_id})" if name else event.delegate_id
        key = f"secretariat.refused.{event.reason}"
        text = self.phrases.say(language, key, delegate=label, user=str(event.telegram_user_id))
        for admin in deployment.commission.secretariat.telegram_admins:
            try:
                await bot.send_message(admin, text)
            except TelegramError as exc:
                log.warning("could not tell secretariat account %d of a refused link (%s)", admin, type(exc).__name__)

    async def once(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop an update already handled (by this process or another) before any handler sees it."""
        if not await self.updates.first_time(update.update_id, self.clock.now()):
            log.info("update %d was handled already: ignored", update.update_id)
            raise ApplicationHandlerStop

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/start <token>`` from a personal link binds the account; a bare ``/start`` says what the bot is."""
        user, message = update.effective_user, update.effective_message
        if user is None or message is None:
            return
        token = context.args[0] if context.args else ""
        if not token:
            await self.help(update, context)
            return
        opened = await self.bindings.open_link(token, user.id, message.chat_id, user.username)
        deployment = self.deployment()
        delegate = deployment.delegates.get(opened.delegate_id or "") if deployment else None
        language = delegate.language if delegate is not None else await self._language(update)
        if opened.outcome is LinkOpened.BOUND and delegate is not None and deployment is not None:
            name = localize(delegate.name, language, deployment.commission.language)
            await self._reply(update, language, "start.bound", name=name)
        else:
            await self._reply(update, language, f"start.{opened.outcome.value}")

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """What the bot does (to a stranger: what it is)."""
        key = "help" if await self._delegate(update) else "stranger"
        await self._reply(update, await self._language(update), key)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have."""
        key = "unknown_command" if await self._delegate(update) else "stranger"
        await self._reply(update, await self._language(update), key)

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything else written to the bot: a delegate is shown the help, a stranger what the bot is."""
        await self.help(update, context)

    async def _delegate(self, update: Update) -> str | None:
        user = update.effective_user
        return await self.accounts.delegate_for(user.id) if user is not None else None

    async def _language(self, update: Update) -> str:
        """A bound delegate's language; a stranger's Telegram language when there are words in it, else the
        commission's working language."""
        deployment = self.deployment()
        delegate_id = await self._delegate(update)
        if deployment is not None and delegate_id in deployment.delegates:
            return deployment.delegates[delegate_id].language
        user = update.effective_user
        code = (user.language_code or "") if user is not None else ""
        known = self.phrases.languages()
        for candidate in (code, code.split("-", 1)[0]):
            if candidate in known:
                return candidate
        return deployment.commission.language if deployment is not None else "en"

    async def _reply(self, update: Update, language: str, key: str, **values: str) -> None:
        message = update.effective_message
        if message is None:
            return
        deployment = self.deployment()
        commission = deployment.commission if deployment is not None else None
        if commission is not None:
            short = commission.short_name or commission.name
            values.setdefault("commission", localize(short, language, commission.language))
            values.setdefault("email", commission.secretariat.email)
        await message.reply_text(self.phrases.say(language, key, **values))  # plain text: nothing to escape
