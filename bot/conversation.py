"""The Telegram conversation: each handler parses an update, calls one use case and answers from the catalogue.

Only private chats are spoken to; messages in groups and channels, edited messages and update kinds the bot
does not handle are left alone. An update Telegram delivers twice (a webhook retried, a second process
polling) is handled once: the database notes every ``update_id`` before anything else runs. A button's data
is signed (``domain.callbacks``): forged, altered or stale data are answered and change nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from telegram import Bot, BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    BaseHandler,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.chat import Chat, Desk
from bot.corrections import CorrectionCommands
from bot.delegate import DelegateCommands
from bot.head import HeadCommands
from bot.secretariat import SECRETARIAT_COMMANDS
from domain import checkin
from domain.callbacks import verify
from domain.events import BindingRefused, CalendarReplyRefused, QuorumChanged
from domain.links import START_PREFIX
from domain.values import localize
from services.bindings import LinkOpened

log = logging.getLogger(__name__)

COMMANDS = ("sessions", "rsvp", "agenda", "join", "checkin", "calendar", "delegation", "language", "timezone", "help")
"""The commands in every delegate's menu, in its order (``/delegation`` answers heads only)."""
PRIVATE = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
"""New messages in a private chat: not edits, not groups or channels."""

__all__ = ["COMMANDS", "Conversation", "Desk"]


class Conversation(DelegateCommands, HeadCommands, CorrectionCommands, Chat):
    """Every handler of the bot, over the use cases of the desk."""

    def handlers(self) -> list[tuple[BaseHandler[Any, Any, Any], int]]:
        """The handlers, with their groups: the replay check first (group -1), then the commands."""
        commands = {
            "start": self.start,
            "help": self.help,
            "sessions": self.sessions,
            "rsvp": self.rsvp,
            "agenda": self.agenda,
            "join": self.join,
            "checkin": self.checkin,
            "calendar": self.calendar,
            "language": self.language_menu,
            "timezone": self.timezone,
            "delegation": self.delegation,
            "status": self.status,
            "attendance": self.attendance,
            "mark": self.mark,
            "decision": self.decision,
            "summary": self.summary,
            "remind": self.remind,
            "broadcast": self.broadcast,
            "close": self.close,
            "checkincode": self.checkincode,
        }
        return [
            (TypeHandler(Update, self.once), -1),
            *((CommandHandler(name, handler, filters=PRIVATE), 0) for name, handler in commands.items()),
            (MessageHandler(PRIVATE & filters.COMMAND, self.unknown_command), 0),
            (MessageHandler(PRIVATE & ~filters.COMMAND, self.text), 0),
            (CallbackQueryHandler(self.pressed_button), 0),
            (TypeHandler(Update, self.unhandled), 1),
        ]

    def install(self, application: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Add the handlers to a python-telegram-bot ``Application``."""
        for handler, group in self.handlers():
            application.add_handler(handler, group)

    async def register_commands(self, bot: Bot) -> None:
        """The command menu in every language there are words in (Telegram picks the user's), by default in the
        commission's working language, and the secretariat's own commands in its accounts' chats."""
        deployment = self.deployment()
        default = deployment.commission.language if deployment is not None else "en"
        for language in (*self.desk.phrases.languages(), ""):
            commands = [BotCommand(c, self.desk.phrases.say(language or default, f"command.{c}")) for c in COMMANDS]
            await bot.set_my_commands(commands, language_code=language or None)
        if deployment is None:
            return
        extra = [*COMMANDS, *SECRETARIAT_COMMANDS]
        menu = [BotCommand(c, self.desk.phrases.say(default, f"command.{c}")) for c in extra]
        for admin in deployment.commission.secretariat.telegram_admins:
            try:
                await bot.set_my_commands(menu, scope=BotCommandScopeChat(admin))
            except TelegramError as exc:  # an account that never wrote to the bot has no chat yet
                log.info("no command menu for secretariat account %d yet (%s)", admin, type(exc).__name__)

    async def tell_refused(self, event: BindingRefused) -> None:
        """Tell the secretariat's Telegram accounts that a personal link was refused, in the working language."""
        deployment = self.deployment()
        if deployment is None:
            return
        language = deployment.commission.language
        delegate = deployment.delegates.get(event.delegate_id)
        name = localize(delegate.name, language, language) if delegate is not None else ""
        label = f"{name} ({event.delegate_id})" if name else event.delegate_id
        say = self.sayer(language)
        await self.tell_secretariat(
            say(f"secretariat.refused.{event.reason}", delegate=label, user=str(event.telegram_user_id))
        )

    async def tell_reply_refused(self, event: CalendarReplyRefused) -> None:
        """Tell the secretariat's Telegram accounts that a calendar reply was nobody's answer (a forwarded
        invitation), in the working language."""
        deployment = self.deployment()
        session = deployment.sessions.get(event.session_id) if deployment is not None else None
        if deployment is None or session is None:
            return
        language = deployment.commission.language
        title = self.title(session, language)
        await self.tell_secretariat(
            self.sayer(language)("secretariat.reply_refused", title=title, address=event.address)
        )

    async def tell_quorum(self, event: QuorumChanged) -> None:
        """Tell the secretariat's Telegram accounts at once that a running session gained or lost its quorum."""
        deployment = self.deployment()
        session = deployment.sessions.get(event.session_id) if deployment is not None else None
        if deployment is None or session is None:
            return
        language = deployment.commission.language
        key = "secretariat.quorum.met" if event.met else "secretariat.quorum.lost"
        values = {"represented": str(event.represented), "states": str(event.states), "required": str(event.required)}
        await self.tell_secretariat(self.sayer(language)(key, title=self.title(session, language), **values))

    async def once(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Stop an update already handled (by this process or another) before any handler sees it."""
        if not await self.desk.updates.first_time(update.update_id, self.desk.clock.now()):
            log.info("update %d was handled already: ignored", update.update_id)
            raise ApplicationHandlerStop

    async def unhandled(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button pressed outside a private chat (an inline message, a group): answered, nothing else."""
        if update.callback_query is not None and not _private(update):
            await self.answer_query(update)

    async def start(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/start b…`` from a personal link binds the account; ``/start c…`` from the hall's QR code checks in;
        a bare ``/start`` says what the bot is (and binds by username, where the commission allows it)."""
        user, message = update.effective_user, update.effective_message
        deployment = self.deployment()
        if user is None or message is None or deployment is None:
            return
        token = context.args[0] if context.args else ""
        if token.startswith(checkin.PREFIX) and not token.startswith(START_PREFIX):
            delegate = await self.member(update)
            if delegate is not None:
                await self.check_in(update, delegate, token)
            return
        if token:
            opened = await self.desk.bindings.open_link(token, user.id, message.chat_id, user.username)
        else:
            opened = await self.desk.bindings.by_username(deployment, user.id, message.chat_id, user.username)
            if opened.outcome is LinkOpened.UNKNOWN:
                await self.help(update, context)
                return
        delegate = deployment.delegates.get(opened.delegate_id or "")
        language = delegate.language if delegate is not None else await self.language(update)
        say = self.sayer(language)
        if opened.outcome is LinkOpened.BOUND and delegate is not None:
            name = localize(delegate.name, language, deployment.commission.language)
            await self.reply(update, say("start.bound", name=name))
            upcoming = self.invited(delegate)
            if upcoming:  # straight to the next session: answer, agenda, link and calendar one tap away
                text, markup = await self.card(delegate, upcoming[0])
                await self.reply(update, text, markup)
        else:
            await self.reply(update, say(f"start.{opened.outcome.value}"))
            if opened.outcome in (LinkOpened.TAKEN, LinkOpened.OTHER_DELEGATE) and opened.delegate_id:
                # Told by the process that refused it (not by every process that hears of it).
                await self.tell_refused(BindingRefused(opened.delegate_id, user.id, opened.outcome.value))

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """What the bot does (to a stranger: what it is)."""
        delegate = await self.delegate_of(update)
        say = self.sayer(await self.language(update))
        if delegate is None:
            await self.reply(update, say("stranger"))
            return
        text = say("help")
        if self.desk.delegations.head(delegate.id) is not None:
            text += "\n" + say("help.head")
        user = update.effective_user
        if user is not None and self.desk.steering.admits(user.id):
            text += "\n" + say("help.secretariat")
        await self.reply(update, text)

    async def unknown_command(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A command the bot does not have."""
        key = "unknown_command" if await self.delegate_of(update) else "stranger"
        await self.reply(update, self.sayer(await self.language(update))(key))

    async def text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Anything else written to the bot: a delegate is shown the help, a stranger what the bot is."""
        await self.help(update, context)

    async def pressed_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button: verified, then handed to the delegate's, the head's or the secretariat's handling."""
        query = update.callback_query
        if query is None:
            return
        if not _private(update):
            await self.answer_query(update)
            return
        language = await self.language(update)
        callback = verify(self.desk.secret(), query.data)
        if callback is None:
            log.warning("a button press with data that is not ours was refused (update %d)", update.update_id)
            await self.answer_query(update, self.sayer(language)("stale"), alert=True)
            return
        if await self.secretariat_pressed(update, callback) or await self.review_pressed(update, callback):
            return
        delegate = await self.delegate_of(update)
        if delegate is None:
            await self.answer_query(update, self.sayer(language)("stranger"), alert=True)
            return
        if await self.head_pressed(update, delegate, callback):
            return
        await self.pressed(update, delegate, callback)


def _private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type == "private"
