"""A head of delegation's command: the members' answers for a session, confirming, naming substitutes."""

from __future__ import annotations

from collections.abc import Mapping

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot.chat import Chat
from bot.keyboards import Say
from domain.callbacks import Callback, find, short
from domain.model import Delegate
from domain.records import RsvpAnswer
from domain.values import localize
from services.delegations import Composition, Member, Named

PAGE = 10
"""Members listed per message; the rest are a button away."""


def counts_text(say: Say, counts: Mapping[RsvpAnswer | None, int]) -> str:
    """``in person 2 · remotely 1 · no answer 3``: the counts that are not zero, in a fixed order."""
    order = ("in_person", "remote", "attending", "tentative", "not_attending", "substitute", None)
    parts = []
    for key in order:
        n = sum(v for k, v in counts.items() if (k.value if k is not None else None) == key)
        if n:
            parts.append(say(f"count.{key or 'none'}", n=n))
    return " · ".join(parts) or say("count.nobody")


class HeadCommands(Chat):
    """What a head of delegation may do beyond what every delegate may."""

    def name(self, delegate: Delegate, language: str) -> str:
        """A delegate's name in a language."""
        deployment = self.deployment()
        fallback = deployment.commission.language if deployment is not None else language
        return localize(delegate.name, language, fallback)

    def _line(self, say: Say, member: Member, language: str) -> str:
        name = self.name(member.delegate, language)
        answer = say(f"answer.{member.answer.answer.value}") if member.answer else say("card.no_answer")
        if member.substitute is not None:
            return say("delegation.replaced", name=name, substitute=self.name(member.substitute, language))
        if member.replaces is not None:
            return say("delegation.substitute", name=name, member=self.name(member.replaces, language), answer=answer)
        return say("delegation.member", name=name, answer=answer)

    def page(self, head: Delegate, composition: Composition, number: int) -> tuple[str, InlineKeyboardMarkup]:
        """One page of the delegation: the counts first, then the members, then the head's buttons."""
        language = head.language
        say = self.sayer(language)
        members = composition.members
        pages = max(1, -(-len(members) // PAGE))
        number = min(max(number, 0), pages - 1)
        lines = [
            say("delegation.heading", title=self.title(composition.session, language), state=composition.state),
            counts_text(say, composition.counts),
            "",
            *(self._line(say, m, language) for m in members[number * PAGE : (number + 1) * PAGE]),
        ]
        key = short(composition.session.id)
        rows: list[list[InlineKeyboardButton]] = []
        turn = []
        if number > 0:
            turn.append(self.buttons.button(say("button.previous"), "dp", key, str(number - 1)))
        if number < pages - 1:
            turn.append(self.buttons.button(say("button.next"), "dp", key, str(number + 1)))
        if turn:
            rows.append(turn)
        rows.append([self.buttons.button(say("button.confirm"), "dc", key)])
        rows.append([self.buttons.button(say("button.substitute"), "dm", key)])
        return "\n".join(lines), InlineKeyboardMarkup(rows)

    async def delegation(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """``/delegation [session]``: the head's delegation at their next session (or the one named)."""
        head = await self.member(update)
        if head is None:
            return
        say = self.sayer(head.language)
        if self.desk.delegations.head(head.id) is None:
            await self.reply(update, say("forbidden.head"))
            return
        arg = context.args[0] if context.args else None
        session = self.pick(head, arg)
        composition = await self.desk.delegations.composition(head.id, session.id) if session else None
        if composition is None:
            await self.reply(update, say("session.unknown", session=arg) if arg else say("sessions.none"))
            return
        if len(context.args or ()) > 1:  # a name after the session: someone the YAML may not list
            await self._outsider(update, head, composition, " ".join((context.args or [])[1:]))
            return
        text, markup = self.page(head, composition, 0)
        await self.reply(update, text, markup)

    async def _outsider(self, update: Update, head: Delegate, composition: Composition, text: str) -> None:
        await self.desk.delegations.outsider(head.id, composition.session.id, text)
        deployment = self.deployment()
        assert deployment is not None
        working = self.sayer(deployment.commission.language)
        title = self.title(composition.session, deployment.commission.language)
        name = self.name(head, deployment.commission.language)
        await self.tell_secretariat(
            working("secretariat.outsider", head=name, state=head.state, title=title, text=text[:200])
        )
        await self.reply(update, self.sayer(head.language)("delegation.outsider"))

    async def head_pressed(self, update: Update, head: Delegate, callback: Callback) -> bool:
        """A head's button (``dp`` page, ``dc`` confirm, ``dm`` choose a member, ``ds`` name); False if not one."""
        action, args = callback.action, callback.args
        if action not in ("dp", "dc", "dm", "dx", "ds") or not args:
            return False
        say = self.sayer(head.language)
        deployment = self.deployment()
        assert deployment is not None
        session_id = find(args[0], deployment.sessions)
        composition = await self.desk.delegations.composition(head.id, session_id) if session_id else None
        if composition is None:
            await self.answer_query(update, say("stale"), alert=True)
            return True
        if action == "dp" and len(args) == 2 and args[1].isdigit():
            await self.answer_query(update)
            text, markup = self.page(head, composition, int(args[1]))
            query = update.callback_query
            if query is not None and query.message is not None:
                await query.edit_message_text(text, reply_markup=markup)
        elif action == "dc":
            await self._confirm(update, head, composition)
        elif action == "dm":
            await self.answer_query(update)
            await self._choose_member(update, head, composition)
        elif action == "dx" and len(args) == 2:
            await self.answer_query(update)
            await self._choose_substitute(update, head, composition, args[1])
        elif action == "ds" and len(args) == 3:
            await self._name(update, head, composition, args[1], args[2])
        else:
            await self.answer_query(update, say("stale"), alert=True)
        return True

    async def _confirm(self, update: Update, head: Delegate, composition: Composition) -> None:
        await self.desk.delegations.confirm(head.id, composition.session.id)
        deployment = self.deployment()
        assert deployment is not None
        language = deployment.commission.language
        working = self.sayer(language)
        await self.answer_query(update, self.sayer(head.language)("delegation.confirmed"))
        await self.tell_secretariat(
            working(
                "secretariat.confirmed",
                head=self.name(head, language),
                state=head.state,
                title=self.title(composition.session, language),
                counts=counts_text(working, composition.counts),
            )
        )

    async def _choose_member(self, update: Update, head: Delegate, composition: Composition) -> None:
        say = self.sayer(head.language)
        key = short(composition.session.id)
        rows = [
            [self.buttons.button(self.name(m.delegate, head.language), "dx", key, short(m.delegate.id))]
            for m in composition.members
            if m.replaces is None and m.substitute is None
        ]
        await self.reply(update, say("delegation.choose_member"), InlineKeyboardMarkup(rows[:50]))

    async def _choose_substitute(self, update: Update, head: Delegate, composition: Composition, member: str) -> None:
        say = self.sayer(head.language)
        found = next((m for m in composition.members if short(m.delegate.id) == member), None)
        if found is None:
            await self.reply(update, say("stale"))
            return
        candidates = self.desk.delegations.candidates(composition)
        if not candidates:
            await self.reply(update, say("delegation.no_candidates"))
            return
        key = short(composition.session.id)
        rows = [
            [self.buttons.button(self.name(c, head.language), "ds", key, member, short(c.id))] for c in candidates[:50]
        ]
        name = self.name(found.delegate, head.language)
        await self.reply(update, say("delegation.choose_substitute", name=name), InlineKeyboardMarkup(rows))

    async def _name(self, update: Update, head: Delegate, composition: Composition, member: str, sub: str) -> None:
        say = self.sayer(head.language)
        deployment = self.deployment()
        assert deployment is not None
        member_id = find(member, [m.delegate.id for m in composition.members])
        substitute_id = find(sub, [c.id for c in self.desk.delegations.candidates(composition)])
        if member_id is None or substitute_id is None:  # pressed again, or the delegation changed since
            await self.answer_query(update, say("stale"), alert=True)
            return
        named = await self.desk.delegations.substitute(head.id, composition.session.id, member_id, substitute_id)
        member_d, substitute_d = deployment.delegates[member_id], deployment.delegates[substitute_id]
        values = {
            "name": self.name(member_d, head.language),
            "substitute": self.name(substitute_d, head.language),
            "title": self.title(composition.session, head.language),
        }
        await self.answer_query(update, say(f"named.{named.value}", **values), alert=named is not Named.NAMED)
        if named is not Named.NAMED:
            return
        await self.reply(update, say("named.named", **values))
        language = deployment.commission.language
        await self.tell_secretariat(
            self.sayer(language)(
                "secretariat.substitute",
                head=self.name(head, language),
                state=head.state,
                name=self.name(member_d, language),
                substitute=self.name(substitute_d, language),
                title=self.title(composition.session, language),
            )
        )
