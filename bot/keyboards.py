"""The bot's inline keyboards: every button's data signed (``domain.callbacks``), every label from the catalogue."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from domain.callbacks import ANSWER_CODES, short, sign
from domain.delivery import Button
from domain.records import RsvpAnswer

Say = Callable[..., str]
"""``say(key, **values)`` in the reader's language."""


def markup_of(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup:
    """Rows of buttons made where the bot is not (``domain.delivery.Button``), as Telegram's keyboard."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in rows])


class Buttons:
    """Makes signed buttons under one secret."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def button(self, label: str, action: str, *args: str) -> InlineKeyboardButton:
        """A button whose press comes back as ``action`` with ``args``."""
        return InlineKeyboardButton(label, callback_data=sign(self.secret, action, *args))

    def answers(
        self, say: Say, session_id: str, offered: Sequence[RsvpAnswer], chosen: RsvpAnswer | None
    ) -> list[list[InlineKeyboardButton]]:
        """One row per answer the session allows; the one on record is ticked."""
        rows = []
        for answer in offered:
            label = say(f"answer.{answer.value}")
            if answer is chosen:
                label = "✓ " + label
            rows.append([self.button(label, "a", short(session_id), ANSWER_CODES[answer])])
        return rows

    def session_card(
        self,
        say: Say,
        session_id: str,
        offered: Sequence[RsvpAnswer],
        chosen: RsvpAnswer | None,
        *,
        answering: bool,
        remote: bool,
    ) -> InlineKeyboardMarkup:
        """The answers (while answers are open), then the agenda, the join link and the calendar."""
        rows = self.answers(say, session_id, offered, chosen) if answering else []
        key = short(session_id)
        tools = [self.button(say("button.agenda"), "g", key)]
        if remote:
            tools.append(self.button(say("button.join"), "j", key))
        tools.append(self.button(say("button.calendar"), "k", key))
        rows.append(tools)
        return InlineKeyboardMarkup(rows)

    def choose_session(self, say: Say, action: str, sessions: Sequence[tuple[str, str]]) -> InlineKeyboardMarkup:
        """One button per session (id, label)."""
        return InlineKeyboardMarkup([[self.button(label, action, short(sid))] for sid, label in sessions])
