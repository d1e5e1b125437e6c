"""The secretariat's commands: answers by state and agency, nudges, the check-in code. Everyone else is refused
politely; every attempt is in the audit log."""

from __future__ import annotations

import io

import segno
from telegram import Update
from telegram.ext import ContextTypes

from bot.chat import Chat
from bot.head import counts_text
from domain import checkin
from domain.callbacks import Callback, find
from domain.model import Session
from domain.values import localize
from services.checkins import at_venue

SILENT_NAMES = 40
"""How many of those who have not answered /status names; the rest are counted."""
SECRETARIAT_COMMANDS = ("status", "remind", "checkincode")
"""The secretariat's extra commands, in its accounts' menu (``BotCommandScopeChat``)."""


class SecretariatCommands(Chat):
    """The commands of ``secretariat.telegram_admins``."""

    async def _admitted(self, update: Update, command: str, arg: str | None) -> Session | None:
        """The session a secretariat command is about, once the account is known to be the secretariat's."""
        user = update.effective_user
        if user is None:
            return None
        language = await self.language(update)
        if not await self.desk.steering.attempt(user.id, command, arg or ""):
            await self.reply(update, self.sayer(language)("forbidden.secretariat"))
            return None
        session = self.desk.steering.session(arg)
        if session is None:
            await self.reply(update, self.sayer(language)("secretariat.no_session", session=arg or ""))
        return session

    async def working(self) -> str:
        """The language the secretariat is spoken to in."""
        deployment = self.deployment()
        return deployment.commission.language if deployment is not None else "en"

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/status [session]``: answers by state and agency, and who has not answered."""
        session = await self._admitted(update, "status", context.args[0] if context.args else None)
        if session is not None:
            await self.reply(update, await self.status_text(session))

    async def status_text(self, session: Session) -> str:
        """The status of a session's answers, in the working language."""
        deployment = self.deployment()
        assert deployment is not None
        language = await self.working()
        say = self.sayer(language)
        status = await self.desk.steering.status(session)
        lines = [say("status.heading", title=self.title(session, language)), counts_text(say, status.counts)]
        for group in status.groups:
            counts = counts_text(say, group.counts)
            if group.agency is None:
                state = deployment.states.get(group.state)
                name = localize(state.name, language, language) if state else group.state
                lines.append(say("status.state", state=name, counts=counts))
            else:
                agency = deployment.agencies.get((group.state, group.agency))
                name = localize(agency.short_name or agency.name, language, language) if agency else group.agency
                lines.append("    " + say("status.agency", agency=name, counts=counts))
        if status.silent:
            names = [localize(d.name, language, language) for d in status.silent[:SILENT_NAMES]]
            more = len(status.silent) - len(names)
            text = ", ".join(names) + (f" (+{more})" if more else "")
            lines += ["", say("status.silent", count=len(status.silent), names=text)]
        return "\n".join(lines)[:4000]

    async def remind(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/remind [session]``: nudge those who have not answered (each at most once a day)."""
        session = await self._admitted(update, "remind", context.args[0] if context.args else None)
        if session is None:
            return
        say = self.sayer(await self.working())
        nudged = await self.desk.steering.remind(session)
        title = self.title(session, await self.working())
        if nudged.nudged == 0 and nudged.recently == 0:
            await self.reply(update, say("remind.none", title=title))
        else:
            await self.reply(update, say("remind.done", count=nudged.nudged, recent=nudged.recently, title=title))

    async def checkincode(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/checkincode [session]``: the code for the hall now, and its QR code (a deep link to the bot)."""
        session = await self._admitted(update, "checkincode", context.args[0] if context.args else None)
        if session is None:
            return
        language = await self.working()
        say = self.sayer(language)
        if not at_venue(session):
            await self.reply(update, say("checkincode.no_venue", title=self.title(session, language)))
            return
        shown = self.desk.checkins.code(session.id)
        deployment = self.deployment()
        assert deployment is not None
        until = self.desk.phrases.clock_time(language, shown.until, session.timezone)
        text = say("checkincode", title=self.title(session, language), code=shown.code, until=until)
        links = self.desk.bindings.links
        link = links.url(checkin.PREFIX + shown.code) if links is not None else None
        message = update.effective_message
        if link and message is not None:
            png = io.BytesIO()
            segno.make(link, error="m").save(png, kind="png", scale=8, border=4)
            await message.reply_photo(png.getvalue(), caption=text)
        else:
            await self.reply(update, text)

    async def secretariat_pressed(self, update: Update, callback: Callback) -> bool:
        """The secretariat's buttons (``st`` status, ``rm`` remind); False when the callback is not one."""
        if callback.action not in ("st", "rm") or not callback.args:
            return False
        user = update.effective_user
        deployment = self.deployment()
        if user is None or deployment is None:
            return True
        if not await self.desk.steering.attempt(user.id, callback.action, callback.args[0]):
            await self.answer_query(
                update, self.sayer(await self.language(update))("forbidden.secretariat"), alert=True
            )
            return True
        session_id = find(callback.args[0], deployment.sessions)
        session = deployment.sessions.get(session_id) if session_id else None
        await self.answer_query(update)
        if session is not None and callback.action == "st":
            await self.reply(update, await self.status_text(session))
        return True
