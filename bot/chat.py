"""What every handler shares: who is writing, in which language, and how to answer them."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError

from bot.keyboards import Buttons, Say
from domain.deployment import Deployment
from domain.model import Delegate, Session
from domain.ports import Bindings, Clock, Phrases, Preferences, Renderer, Updates
from domain.values import localize
from services.answers import AnswerService
from services.attendance import AttendanceService
from services.bindings import BindingService
from services.checkins import CheckinService
from services.delegations import DelegationService
from services.roster import Roster
from services.steering import SteeringService
from services.summaries import SummaryService
from services.summary_review import SummaryReview

log = logging.getLogger(__name__)


@dataclass
class Desk:
    """The use cases and ports the handlers call."""

    bindings: BindingService
    accounts: Bindings
    updates: Updates
    phrases: Phrases
    clock: Clock
    deployment: Callable[[], Deployment | None]
    answers: AnswerService
    attendance: AttendanceService
    checkins: CheckinService
    delegations: DelegationService
    steering: SteeringService
    renderer: Renderer
    preferences: Preferences
    roster: Roster
    links: Callable[[str], Awaitable[dict[str, str]]]
    """A delegate's personal links (``calendar``: their feed)."""
    secret: Callable[[], bytes]
    """The server's secret (known once the service has started)."""
    summaries: SummaryService | None = None
    """The sessions' summaries (the secretariat's ``/decision``)."""
    review: SummaryReview | None = None
    """The secretariat's review of summaries (``summary: review``: the draft's Publish and Edit, ``/summary``)."""


class Chat:
    """The base of the conversation: the desk, and the helpers every command uses."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.bot: Bot | None = None
        """The bot that sends what no update asked for (the secretariat's alerts); set when it starts."""
        self.failed: set[int] = set()
        """Updates whose handling failed, until the webhook that received them has answered (500)."""
        self._cards: dict[tuple[object, ...], InlineKeyboardMarkup] = {}
        """Session card keyboards already made (``DelegateCommands.card_markup``)."""

    @property
    def buttons(self) -> Buttons:
        """Signed buttons under the server's secret."""
        return Buttons(self.desk.secret())

    def deployment(self) -> Deployment | None:
        """The configuration in force."""
        return self.desk.deployment()

    async def delegate_of(self, update: Update) -> Delegate | None:
        """The bound delegate writing, if any (a revoked or unbound account is a stranger)."""
        user, deployment = update.effective_user, self.deployment()
        if user is None or deployment is None:
            return None
        delegate_id = await self.desk.accounts.delegate_for(user.id)
        return deployment.delegates.get(delegate_id) if delegate_id else None

    async def member(self, update: Update) -> Delegate | None:
        """The bound delegate writing; a stranger is told what the bot is, and None comes back."""
        delegate = await self.delegate_of(update)
        if delegate is None:
            await self.reply(update, self.sayer(await self.language(update))("stranger"))
        return delegate

    async def language(self, update: Update) -> str:
        """A bound delegate's language; a stranger's Telegram language when there are words in it, else the
        commission's working language."""
        delegate = await self.delegate_of(update)
        if delegate is not None:
            return delegate.language
        deployment = self.deployment()
        user = update.effective_user
        code = (user.language_code or "") if user is not None else ""
        known = self.desk.phrases.languages()
        for candidate in (code, code.split("-", 1)[0]):
            if candidate in known:
                return candidate
        return deployment.commission.language if deployment is not None else "en"

    def invited(self, delegate: Delegate, *, upcoming: bool = True) -> list[Session]:
        """The sessions a delegate is invited to (those not over yet, when ``upcoming``), soonest first."""
        deployment = self.deployment()
        if deployment is None:
            return []
        now = self.desk.clock.now()
        sessions = [
            s
            for s in deployment.sessions.values()
            if deployment.is_invited(s.id, delegate.id) and (not upcoming or s.ends_at > now)
        ]
        return sorted(sessions, key=lambda s: s.starts_at)

    def pick(self, delegate: Delegate, arg: str | None) -> Session | None:
        """The session a command names (its id or number), else the delegate's next one."""
        if not arg:
            upcoming = self.invited(delegate)
            return upcoming[0] if upcoming else None
        for session in self.invited(delegate, upcoming=False):
            if arg in (session.id, str(session.number or "")):
                return session
        return None

    def sayer(self, language: str) -> Say:
        """``say(key, **values)`` in one language, with the commission's name and address filled in."""
        deployment = self.deployment()
        common: dict[str, str] = {}
        if deployment is not None:
            commission = deployment.commission
            short = commission.short_name or commission.name
            common = {
                "commission": localize(short, language, commission.language),
                "email": commission.secretariat.email,
            }

        def say(key: str, **values: Any) -> str:
            return self.desk.phrases.say(language, key, **{**common, **{k: str(v) for k, v in values.items()}})

        return say

    def title(self, session: Session, language: str) -> str:
        """A session's title in a language."""
        deployment = self.deployment()
        fallback = deployment.commission.language if deployment is not None else language
        return localize(session.title, language, fallback)

    async def reply(
        self,
        update: Update,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        *,
        html: bool = False,
    ) -> Message | None:
        """Answer in the chat the update came from (plain text unless ``html``: nothing to escape)."""
        message = update.effective_message
        if message is None:
            return None
        mode = ParseMode.HTML if html else None
        return await message.reply_text(text, reply_markup=markup, parse_mode=mode, disable_web_page_preview=True)

    async def answer_query(self, update: Update, text: str | None = None, *, alert: bool = False) -> None:
        """Answer a button press (Telegram shows a spinner until it is answered)."""
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer(text[:200] if text else None, show_alert=alert)
        except TelegramError as exc:  # too late (15 s) or the query is gone: nothing left to do
            log.info("could not answer a button press (%s)", type(exc).__name__)

    async def edit_markup(self, update: Update, markup: InlineKeyboardMarkup | None) -> None:
        """Replace the keyboard of the message whose button was pressed (an identical one is no change)."""
        query = update.callback_query
        if query is None or query.message is None:
            return
        try:
            await query.edit_message_reply_markup(markup)
        except BadRequest as exc:
            if "not modified" not in exc.message.lower():
                log.info("could not edit a keyboard (%s)", exc.message[:100])

    async def tell_secretariat(self, text: str) -> None:
        """Send a line to the secretariat's Telegram accounts."""
        deployment, bot = self.deployment(), self.bot
        if deployment is None or bot is None:
            return
        for admin in deployment.commission.secretariat.telegram_admins:
            try:
                await bot.send_message(admin, text)
            except TelegramError as exc:
                log.warning("could not tell secretariat account %d (%s)", admin, type(exc).__name__)
