"""The secretariat's corrections and its review of summaries: ``/mark`` (a delegate's attendance), ``/decision`` (an
agenda item's outcome), ``/summary`` (the draft of a summary to review), and the draft's Publish and Edit buttons.

``/mark`` and ``/decision`` apply to the session named first (``/mark icmec-xx kgz-asanov absent …``), else to the
session in progress or the next. A correction to a summary waiting for review sends the secretariat's accounts
a new draft; Publish publishes only what its draft said (its fingerprint), else it shows the current draft.
"""

from __future__ import annotations

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import ContextTypes

from bot.keyboards import markup_of
from bot.secretariat import SecretariatCommands
from domain.callbacks import Callback, find
from domain.model import Session
from services.attendance import CORRECTION_KINDS, AttendanceRefused
from services.summaries import SummaryRefused
from services.summary_review import REVIEW_ACTIONS, review_buttons


class CorrectionCommands(SecretariatCommands):
    """``/mark``, ``/decision``, ``/summary``, and the review buttons of ``secretariat.telegram_admins``."""

    async def _corrected(self, update: Update, command: str) -> tuple[Session, list[str], str] | None:
        """The session a correction is for and the arguments after its id, once the account is known to be
        the secretariat's; and who it is (``secretariat:<id>``)."""
        user, message, deployment = update.effective_user, update.effective_message, self.deployment()
        if user is None or message is None or deployment is None:
            return None
        args = (message.text or "").split()[1:]
        if not await self.desk.steering.attempt(user.id, command, " ".join(args)[:200]):
            await self.reply(update, self.sayer(await self.language(update))("forbidden.secretariat"))
            return None
        named = args[0] if args and args[0] in deployment.sessions else None
        session = self.desk.steering.session(named)
        if session is None:
            await self.reply(update, self.sayer(self.working())("secretariat.no_session", session=""))
            return None
        return session, args[1:] if named else args, f"secretariat:{user.id}"

    async def mark(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/mark [SESSION] DELEGATE in-person|remote|absent [why]``: the secretariat's correction of a delegate's
        attendance, whatever the sources say; kept with who made it and why."""
        found = await self._corrected(update, "mark")
        if found is None:
            return
        session, args, by = found
        say = self.sayer(self.working())
        if len(args) < 2 or args[1] not in CORRECTION_KINDS:
            await self.reply(update, say("attendance.mark_usage"))
            return
        title, note = self.title(session, self.working()), " ".join(args[2:])[:500] or None
        try:
            await self.desk.attendance.correct(session.id, args[0], args[1], by, note)
        except AttendanceRefused:
            await self.reply(update, say("attendance.mark_refused", delegate=args[0][:80], title=title))
            return
        presence = say(f"attendance.as.{args[1]}")
        await self.reply(update, say("attendance.marked", delegate=args[0], presence=presence, title=title))
        await self.redraft(session)

    async def decision(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/decision [SESSION] ITEM TEXT``: what a session decided on an agenda item, for its summary; kept
        with who recorded it."""
        found = await self._corrected(update, "decision")
        if found is None or self.desk.summaries is None:
            return
        session, args, by = found
        say = self.sayer(self.working())
        items = str(len(session.agenda))
        if len(args) < 2 or not args[0].isdigit():
            await self.reply(update, say("decision.usage", items=items))
            return
        title = self.title(session, self.working())
        try:
            item = await self.desk.summaries.decide(session.id, int(args[0]), " ".join(args[1:]), by)
        except SummaryRefused:
            await self.reply(update, say("decision.no_item", number=args[0][:10], title=title, items=items))
            return
        await self.reply(update, say("decision.recorded", number=args[0], item=item, title=title))
        await self.redraft(session)

    async def redraft(self, session: Session) -> None:
        """After a correction: a summary waiting for review gets a new draft (``SummaryReview.redraft``)."""
        if self.desk.review is not None:
            await self.desk.review.redraft(session.id)

    async def summary(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/summary [session]``: the draft of a summary waiting for review, with Publish and Edit (by default
        the session that ended last)."""
        user, deployment = update.effective_user, self.deployment()
        arg = context.args[0] if context.args else None
        if user is None or deployment is None:
            return
        language = self.working()
        say = self.sayer(language)
        if not await self.desk.steering.attempt(user.id, "summary", arg or ""):
            await self.reply(update, self.sayer(await self.language(update))("forbidden.secretariat"))
            return
        now = self.desk.clock.now()
        ended = [s for s in deployment.sessions.values() if s.ends_at <= now]
        session = deployment.sessions.get(arg) if arg else max(ended, key=lambda s: s.ends_at, default=None)
        if session is None:
            await self.reply(update, say("secretariat.no_session", session=arg or ""))
            return
        await self.show_draft(update, session)

    async def show_draft(self, update: Update, session: Session) -> None:
        """Answer with the session's draft and its buttons, or say why there is none."""
        review, say = self.desk.review, self.sayer(self.working())
        title = self.title(session, self.working())
        if review is None or not session.reviewed:
            await self.reply(update, say("review.automatic", title=title))
            return
        try:
            message, images, said = await review.draft(session.id, self.working())
        except SummaryRefused:
            latest = await review.summaries.latest(session.id)
            await self.reply(update, say("review.already", title=title, version=latest[0] if latest else 1))
            return
        markup = markup_of(review_buttons(say, self.desk.secret(), session.id, said))
        target = update.effective_message
        if target is not None:
            caption = message.telegram_html
            await target.reply_photo(images[0].data, caption=caption, parse_mode=ParseMode.HTML, reply_markup=markup)

    async def review_pressed(self, update: Update, callback: Callback) -> bool:
        """A draft's Publish or Edit; False when the callback is not one of them."""
        deployment, user = self.deployment(), update.effective_user
        if callback.action not in REVIEW_ACTIONS or not callback.args or deployment is None or user is None:
            return False
        session_id = find(callback.args[0], deployment.sessions)
        if not await self.desk.steering.attempt(user.id, f"summary.{callback.action}", session_id or ""):
            refused = self.sayer(await self.language(update))("forbidden.secretariat")
            await self.answer_query(update, refused, alert=True)
            return True
        say = self.sayer(self.working())
        review = self.desk.review
        if session_id is None or review is None:
            await self.answer_query(update, say("stale"), alert=True)
            return True
        session = deployment.sessions[session_id]
        title = self.title(session, self.working())
        if callback.action == "se":
            await self.answer_query(update)
            await self.reply(update, say("review.edit", title=title, session=session.id))
            return True
        reviewed = callback.args[1] if len(callback.args) > 1 else ""
        approval = await review.approve(session.id, reviewed, f"secretariat:{user.id}")
        if approval.outcome == "changed":
            await self.answer_query(update, say("review.changed"), alert=True)
            await self.show_draft(update, session)
            return True
        await self.edit_markup(update, None)  # the draft's buttons go: it is done with
        key = "review.published" if approval.outcome == "published" else "review.already"
        text = say(key, title=title, version=approval.version, count=approval.queued)
        await self.answer_query(update, text)
        await self.reply(update, text)
        return True
