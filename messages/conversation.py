"""What the bot says, by key, in the reader's language: implements ``domain.ports.Phrases``.

The bot's handlers name a phrase and its values (``say("ru", "start.bound", name=…)``); the words are
gettext messages marked here (``N_``) and translated by the same catalogues as the notices, so a translator
finds them in the same ``.po`` files. Values are inserted as given: the Telegram edge escapes them for its
HTML parse mode.
"""

from __future__ import annotations

from collections.abc import Mapping

from messages import catalogues
from messages.words import N_

PHRASES: Mapping[str, str] = {
    "start.bound": N_(
        "Your Telegram account is now connected, %(name)s. From now on the notices of %(commission)s come here."
    ),
    "start.already": N_("This Telegram account is already connected: your notices come here."),
    "start.taken": N_(
        "This personal link has already been used by another Telegram account, so it cannot connect this one. "
        "The secretariat has been informed; if the link is yours, please write to %(email)s."
    ),
    "start.other_delegate": N_(
        "This Telegram account already receives the notices of another delegate: each delegate connects their "
        "own account. Please write to the secretariat: %(email)s."
    ),
    "start.unknown": N_(
        "This link is not valid: it may have been replaced by a newer one. Please open the link in your latest "
        "invitation, or write to the secretariat: %(email)s."
    ),
    "stranger": N_(
        "This is the notification bot of %(commission)s. It serves the delegates of its sessions. If you are a "
        "delegate, open the personal link in your invitation e-mail to connect this account."
    ),
    "help": N_(
        "Here you receive the invitations, agendas, reminders and join links of %(commission)s. "
        "/help shows this message."
    ),
    "unknown_command": N_("This command is not known. Send /help to see what this bot does."),
    # To the secretariat's accounts (telegram_admins), in the commission's working language.
    "secretariat.refused.taken": N_(
        "The personal Telegram link of %(delegate)s was opened by another Telegram account (id %(user)s) and "
        "refused: their invitation may have been forwarded. Their own account stays connected."
    ),
    "secretariat.refused.other_delegate": N_(
        "Telegram account %(user)s, which already receives the notices of another delegate, opened the personal "
        "link of %(delegate)s: it was refused. Each delegate must connect their own account."
    ),
    # The command menu (setMyCommands): a few words each, Telegram shows them beside the commands.
    "command.start": N_("Connect this Telegram account"),
    "command.help": N_("What this bot does"),
}


class Phrasebook:
    """Implements ``domain.ports.Phrases`` from the message catalogues."""

    def languages(self) -> tuple[str, ...]:
        """The languages the bot can speak."""
        return catalogues.languages()

    def say(self, language: str, key: str, **values: str) -> str:
        """A phrase in a language (its base, else English, when there is no catalogue for it)."""
        code = language if language in catalogues.languages() else language.split("_", 1)[0].split("-", 1)[0]
        if code not in catalogues.languages():
            code = "en"
        text = str(catalogues.catalogue(code).translations.gettext(PHRASES[key]))
        return text % values if values else text
