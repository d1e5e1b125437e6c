"""A delegate's commands: their sessions, the agenda, answering, the join link, the calendar, check-in, choices."""

from __future__ import annotations

from zoneinfo import available_timezones

from babel import Locale
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.chat import Chat
from bot.keyboards import Buttons, Say
from domain.callbacks import ANSWERS_BY_CODE, Callback, find, short
from domain.deployment import Deployment
from domain.feeds import webcal
from domain.model import Delegate, Session, SessionStatus
from domain.notices import NoticeKind
from domain.records import Preferences, RsvpAnswer, RsvpSource
from services.answers import Answer, choices
from services.checkins import CheckIn

UPCOMING = 5
"""How many upcoming sessions /sessions shows, each as a card."""
CARDS_KEPT = 4096
"""Session card keyboards kept made (each a few hundred bytes)."""


class DelegateCommands(Chat):
    """What every bound delegate may do."""

    def span(self, delegate: Delegate, session: Session) -> str:
        """When a session runs, in its zone and the delegate's."""
        deployment = self.deployment()
        assert deployment is not None
        return self.desk.phrases.span(deployment, delegate.id, session.id)

    async def card(self, delegate: Delegate, session: Session) -> tuple[str, InlineKeyboardMarkup]:
        """A session in a few lines, with its answer buttons, agenda, join link and calendar."""
        say = self.sayer(delegate.language)
        current = await self.desk.answers.current(session.id, delegate.id)
        answer = say(f"answer.{current.answer.value}") if current else say("card.no_answer")
        text = say(
            "card", title=self.title(session, delegate.language), when=self.span(delegate, session), answer=answer
        )
        return text, self.card_markup(delegate, session, current.answer if current else None)

    def card_markup(self, delegate: Delegate, session: Session, chosen: RsvpAnswer | None) -> InlineKeyboardMarkup:
        """A session card's buttons, the answer on record ticked (made once per language, session and answer:
        a keyboard is immutable, and every press sends one)."""
        answering = session.status is SessionStatus.SCHEDULED and self.desk.clock.now() < session.answers_close_at
        secret, offered = self.desk.secret(), choices(session)
        key = (secret, delegate.language, session.id, offered, chosen, answering, session.is_remote)
        markup = self._cards.get(key)
        if markup is None:
            if len(self._cards) >= CARDS_KEPT:
                self._cards.clear()
            say = self.sayer(delegate.language)
            markup = self._cards[key] = Buttons(secret).session_card(
                say, session.id, offered, chosen, answering=answering, remote=session.is_remote
            )
        return markup

    async def _session_arg(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> tuple[Delegate, Session, Say] | None:
        """The writer (a delegate) and the session their command names; answered when either is missing."""
        delegate = await self.member(update)
        if delegate is None:
            return None
        say = self.sayer(delegate.language)
        arg = context.args[0] if context.args else None
        session = self.pick(delegate, arg)
        if session is None:
            await self.reply(update, say("session.unknown", session=arg) if arg else say("sessions.none"))
            return None
        return delegate, session, say

    async def sessions(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/sessions``: a card for each upcoming session."""
        delegate = await self.member(update)
        if delegate is None:
            return
        upcoming = self.invited(delegate)[:UPCOMING]
        if not upcoming:
            await self.reply(update, self.sayer(delegate.language)("sessions.none"))
        for session in upcoming:
            text, markup = await self.card(delegate, session)
            await self.reply(update, text, markup)

    async def rsvp(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/rsvp [session]``: the session's card, to answer from."""
        found = await self._session_arg(update, context)
        if found is not None:
            text, markup = await self.card(found[0], found[1])
            await self.reply(update, text, markup)

    async def agenda(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/agenda [session]``: the items, presenters and documents, as the agenda notice has them."""
        found = await self._session_arg(update, context)
        if found is not None:
            await self.send_notice(update, found[0], found[1], NoticeKind.AGENDA)

    async def send_notice(self, update: Update, delegate: Delegate, session: Session, kind: NoticeKind) -> None:
        """A notice rendered for the delegate now, as the outbox would send it."""
        deployment = self.deployment()
        assert deployment is not None
        message = self.desk.renderer.render(deployment, kind, session.id, delegate.id, now=self.desk.clock.now())
        await self.reply(update, message.telegram_html, html=True)

    async def join(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/join [session]``: the link, from shortly before the start until the end."""
        found = await self._session_arg(update, context)
        if found is not None:
            await self.give_link(update, *found)

    async def give_link(self, update: Update, delegate: Delegate, session: Session, say: Say) -> None:
        """The join link when it is time, else when it will be."""
        deployment = self.deployment()
        assert deployment is not None
        now = self.desk.clock.now()
        closed = await self.desk.steering.closures.closed_at(session.id)  # the secretariat's /close
        if not session.is_remote or session.video is None:
            await self.reply(update, say("join.not_remote", title=self.title(session, delegate.language)))
        elif session.status is not SessionStatus.SCHEDULED:
            await self.reply(update, say("answered.not_scheduled"))
        elif now >= session.ends_at or (closed is not None and now >= closed):
            await self.reply(update, say("join.ended", title=self.title(session, delegate.language)))
        elif now < (opens := session.join_opens_at(deployment.commission.telegram)):
            when = self.desk.phrases.when(deployment, delegate.id, opens, session.timezone)
            await self.reply(update, say("join.later", when=when))
        else:
            await self.send_notice(update, delegate, session, NoticeKind.START)

    async def calendar(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/calendar``: the delegate's personal feed, as https and webcal."""
        delegate = await self.member(update)
        if delegate is None:
            return
        await self.give_calendar(update, delegate)

    async def give_calendar(self, update: Update, delegate: Delegate) -> None:
        """The feed's two addresses (https for Google, webcal for Apple and Outlook)."""
        say = self.sayer(delegate.language)
        url = (await self.desk.links(delegate.id)).get("calendar")
        if not url:
            await self.reply(update, say("calendar.none"))
            return
        await self.reply(update, say("calendar", https=url, webcal=webcal(url)))

    async def checkin(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/checkin CODE``: check in at the venue with the code shown in the hall."""
        delegate = await self.member(update)
        if delegate is None:
            return
        if not context.args:
            await self.reply(update, self.sayer(delegate.language)("checkin.usage"))
            return
        await self.check_in(update, delegate, "".join(context.args))

    async def check_in(self, update: Update, delegate: Delegate, code: str) -> None:
        """Check in with a code (typed, or from the hall's QR code) and say what came of it."""
        deployment = self.deployment()
        assert deployment is not None
        say = self.sayer(delegate.language)
        done = await self.desk.checkins.check_in(delegate.id, code)
        values: dict[str, str] = {}
        if done.session is not None:
            values["title"] = self.title(done.session, delegate.language)
            if done.outcome is CheckIn.NOT_OPEN and done.opens_at and done.closes_at:
                zone = done.session.timezone
                values["opens"] = self.desk.phrases.when(deployment, delegate.id, done.opens_at, zone)
                values["closes"] = self.desk.phrases.when(deployment, delegate.id, done.closes_at, zone)
        await self.reply(update, say(f"checkin.{done.outcome.value}", **values))

    async def language_menu(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/language``: the commission's languages, each in its own words."""
        delegate, deployment = await self.member(update), self.deployment()
        if delegate is None or deployment is None:
            return
        rows = [
            [self.buttons.button(("✓ " if code == delegate.language else "") + _autonym(code), "l", code)]
            for code in deployment.commission.languages
        ]
        await self.reply(update, self.sayer(delegate.language)("language.choose"), InlineKeyboardMarkup(rows))

    async def timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/timezone [ZONE]``: set the zone times are shown in, or show it with the member states' zones."""
        delegate, deployment = await self.member(update), self.deployment()
        if delegate is None or deployment is None:
            return
        say = self.sayer(delegate.language)
        if context.args:
            zone = context.args[0]
            if zone not in available_timezones():
                await self.reply(update, say("timezone.unknown", zone=zone[:64]))
                return
            await self.choose(update, delegate, timezone=zone)
            return
        zones = sorted(_zones(deployment))
        rows = [[self.buttons.button(("✓ " if z == delegate.timezone else "") + z, "z", short(z))] for z in zones]
        await self.reply(update, say("timezone.current", zone=delegate.timezone), InlineKeyboardMarkup(rows))

    async def choose(
        self, update: Update, delegate: Delegate, *, language: str | None = None, timezone: str | None = None
    ) -> None:
        """Keep a delegate's choice of language or zone; every later message follows it."""
        kept = await self.desk.preferences.get(delegate.id)
        choice = Preferences(
            delegate_id=delegate.id,
            language=language or (kept.language if kept else None),
            timezone=timezone or (kept.timezone if kept else None),
            updated_at=self.desk.clock.now(),
        )
        await self.desk.preferences.put(choice)
        await self.desk.roster.refresh()
        now = (await self.delegate_of(update)) or delegate
        say = self.sayer(now.language)
        if language:
            await self.reply(update, say("language.set", language=_autonym(now.language)))
        if timezone:
            await self.reply(update, say("timezone.set", zone=now.timezone))

    async def pressed(self, update: Update, delegate: Delegate, callback: Callback) -> None:
        """A delegate's button: an answer, the agenda, the join link, the calendar, a language or zone."""
        deployment = self.deployment()
        assert deployment is not None
        say = self.sayer(delegate.language)
        action, args = callback.action, callback.args
        if action == "l" and args and args[0] in deployment.commission.languages:
            await self.answer_query(update)
            await self.choose(update, delegate, language=args[0])
            return
        if action == "z" and args:
            zone = find(args[0], _zones(deployment))
            await self.answer_query(update, None if zone else say("stale"))
            if zone:
                await self.choose(update, delegate, timezone=zone)
            return
        session_id = find(args[0], [s.id for s in self.invited(delegate, upcoming=False)]) if args else None
        session = deployment.sessions.get(session_id) if session_id else None
        if session is None:
            await self.answer_query(update, say("stale"), alert=True)
            return
        if action == "a" and len(args) == 2 and args[1] in ANSWERS_BY_CODE:
            await self.press_answer(update, delegate, session, ANSWERS_BY_CODE[args[1]])
        elif action == "g":
            await self.answer_query(update)
            await self.send_notice(update, delegate, session, NoticeKind.AGENDA)
        elif action == "j":
            await self.answer_query(update)
            await self.give_link(update, delegate, session, say)
        elif action == "k":
            await self.answer_query(update)
            await self.give_calendar(update, delegate)
        else:
            await self.answer_query(update, say("stale"), alert=True)

    async def press_answer(self, update: Update, delegate: Delegate, session: Session, answer: RsvpAnswer) -> None:
        """Record an answer from its button and tick it on the message it was pressed on."""
        say = self.sayer(delegate.language)
        done = await self.desk.answers.answer(session.id, delegate.id, answer, RsvpSource.TELEGRAM)
        deployment = self.deployment()
        assert deployment is not None
        values = {"answer": say(f"answer.{answer.value}")}
        if done.outcome is Answer.CLOSED:
            values["when"] = self.desk.phrases.when(deployment, delegate.id, session.answers_close_at, session.timezone)
        await self.answer_query(update, say(f"answered.{done.outcome.value}", **values))
        if done.outcome in (Answer.RECORDED, Answer.UNCHANGED, Answer.CLOSED):
            chosen = done.current.answer if done.current else None
            await self.edit_markup(update, self.card_markup(delegate, session, chosen))
        if done.outcome is Answer.RECORDED and answer is RsvpAnswer.SUBSTITUTE:
            await self.reply(update, say("answered.substitute_next"))


def _zones(deployment: Deployment) -> set[str]:
    """The zones offered by /timezone: the member states' and the commission's."""
    return {s.timezone for s in deployment.states.values()} | {deployment.commission.timezone}


def _autonym(code: str) -> str:
    """A language's name in its own words (``русский``), from CLDR."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(code.replace("-", "_"))
    except (ValueError, LookupError):
        return code
    return name[:1].upper() + name[1:] if name else code
