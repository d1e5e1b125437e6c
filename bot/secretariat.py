"""The secretariat's commands: answers by state and agency, nudges, the check-in code. Everyone else is refused
politely; every attempt is in the audit log."""

from __future__ import annotations

import io

import segno
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.chat import Chat
from bot.head import counts_text
from domain import checkin
from domain.callbacks import Callback
from domain.model import Session
from domain.records import RsvpSource
from domain.values import localize
from services.checkins import at_venue

SILENT_NAMES = 40
"""How many of those who have not answered /status names; the rest are counted."""
SECRETARIAT_COMMANDS = (
    "status",
    "attendance",
    "mark",
    "decision",
    "summary",
    "remind",
    "broadcast",
    "close",
    "checkincode",
)
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

    def working(self) -> str:
        """The language the secretariat is spoken to in."""
        deployment = self.deployment()
        return deployment.commission.language if deployment is not None else "en"

    async def status(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/status [session]``: answers by state and agency, and who has not answered."""
        session = await self._admitted(update, "status", context.args[0] if context.args else None)
        if session is not None:
            await self.reply(update, await self.status_text(session))

    async def attendance(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/attendance [session]``: who is there, by state, and the quorum (the same table as ``plenary
        attendance``)."""
        session = await self._admitted(update, "attendance", context.args[0] if context.args else None)
        if session is not None:
            await self.reply(update, await self.attendance_text(session))

    async def attendance_text(self, session: Session) -> str:
        """The attendance table in the working language: a line per state, the quorum, the guests."""
        deployment = self.deployment()
        table = await self.desk.attendance.table(session.id)
        assert deployment is not None
        assert table is not None
        language = self.working()
        say = self.sayer(language)
        lines = [say("attendance.heading", title=self.title(session, language))]
        for state in table.states:
            known = deployment.states.get(state.state)
            t = state.tally
            lines.append(
                say(
                    "attendance.state" if state.represented else "attendance.state_absent",
                    state=localize(known.name, language, language) if known else state.state,
                    in_person=str(t.in_person),
                    remote=str(t.remote),
                    briefly=str(t.briefly),
                    absent=str(t.absent),
                )
            )
        q = table.quorum
        if q is None:
            lines += ["", say("attendance.quorum.none")]
        else:
            values = {"rule": q.rule, "represented": str(q.represented), "states": str(q.states)}
            values["required"] = str(q.required)
            if q.met and q.first_met_at is not None:
                values["when"] = self.desk.phrases.clock_time(language, q.first_met_at, session.timezone)
                lines += ["", say("attendance.quorum.met", **values)]
            else:
                lines += ["", say("attendance.quorum.not_met", **values)]
        if table.guests:
            names = ", ".join(g.name or g.participant_id for g in table.guests[:SILENT_NAMES])
            lines.append(say("attendance.guests", count=len(table.guests), names=names))
        return "\n".join(lines)[:4000]

    async def status_text(self, session: Session) -> str:
        """The status of a session's answers, in the working language."""
        deployment = self.deployment()
        assert deployment is not None
        language = self.working()
        say = self.sayer(language)
        status = await self.desk.steering.status(session)
        lines = [say("status.heading", title=self.title(session, language)), counts_text(say, status.counts)]
        if status.sources:
            given = " · ".join(
                say(f"status.by.{source.value}", n=status.sources[source])
                for source in RsvpSource
                if source in status.sources
            )
            lines.append(say("status.sources", sources=given))
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
        say = self.sayer(self.working())
        nudged = await self.desk.steering.remind(session)
        title = self.title(session, self.working())
        if nudged.nudged == 0 and nudged.recently == 0:
            await self.reply(update, say("remind.none", title=title))
        else:
            await self.reply(update, say("remind.done", count=nudged.nudged, recent=nudged.recently, title=title))

    async def checkincode(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/checkincode [session]``: the code for the hall now, and its QR code (a deep link to the bot)."""
        session = await self._admitted(update, "checkincode", context.args[0] if context.args else None)
        if session is None:
            return
        language = self.working()
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

    async def broadcast(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/broadcast [session] text``: the message is shown back with the number of recipients, and goes
        (through the outbox, to everyone invited) only when confirmed."""
        message, user, deployment = update.effective_message, update.effective_user, self.deployment()
        if message is None or user is None or deployment is None:
            return
        # The text as written, line breaks kept: after the command, and after the session's id if one is named.
        parts = (message.text or "").split(maxsplit=1)
        body = parts[1] if len(parts) > 1 else ""
        first, _, rest = body.partition(" ")
        named = first.strip() if first.strip() in deployment.sessions else None
        text = (rest if named else body).strip()
        session = await self._admitted(update, "broadcast", named)
        if session is None:
            return
        language = self.working()
        say = self.sayer(language)
        if not text:
            await self.reply(update, say("broadcast.usage"))
            return
        draft = await self.desk.steering.write(user.id, session, text)
        count = len(self.desk.steering.invited(session))
        preview = say("broadcast.preview", title=self.title(session, language), count=count, text=draft.text)
        markup = InlineKeyboardMarkup(
            [
                [self.buttons.button(say("button.send", count=count), "bs", str(draft.id))],
                [self.buttons.button(say("button.cancel"), "bx", str(draft.id))],
            ]
        )
        await self.reply(update, preview, markup)

    async def close(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/close [session]``: the session is over from now on (no more join links or check-ins)."""
        session = await self._admitted(update, "close", context.args[0] if context.args else None)
        user = update.effective_user
        if session is None or user is None:
            return
        language = self.working()
        closed, at = await self.desk.steering.close(user.id, session)
        when = self.desk.phrases.clock_time(language, at, session.timezone)
        key = "close.done" if closed else "close.already"
        await self.reply(update, self.sayer(language)(key, title=self.title(session, language), when=when))

    async def secretariat_pressed(self, update: Update, callback: Callback) -> bool:
        """The secretariat's buttons (``bs`` send a broadcast, ``bx`` drop it); False when the callback is not
        one of them."""
        if callback.action not in ("bs", "bx") or not callback.args or not callback.args[0].isdigit():
            return False
        user = update.effective_user
        if user is None:
            return True
        if not await self.desk.steering.attempt(user.id, f"broadcast.{callback.action}", callback.args[0]):
            refused = self.sayer(await self.language(update))("forbidden.secretariat")
            await self.answer_query(update, refused, alert=True)
            return True
        say = self.sayer(self.working())
        broadcast_id = int(callback.args[0])
        if callback.action == "bs":
            broadcast, count, sent = await self.desk.steering.send(user.id, broadcast_id)
            text = say("broadcast.sent" if sent else "broadcast.already", count=count)
        else:
            broadcast = await self.desk.steering.broadcasts.get(broadcast_id)
            if broadcast is not None and broadcast.sent_at is not None:
                text = say("broadcast.already", count=broadcast.recipients or 0)
            else:
                text = say("broadcast.dropped")
        await self.answer_query(update, text if broadcast is not None else say("stale"))
        query = update.callback_query
        if broadcast is not None and query is not None and query.message is not None:
            try:
                await query.edit_message_text(f"{text}\n\n{broadcast.text}"[:4000])
            except BadRequest as exc:  # pressed twice: the same text again
                if "not modified" not in exc.message.lower():
                    raise
        return True
