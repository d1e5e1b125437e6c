"""The labels every notice uses by key (kinds, formats, fields, link labels, zones), translated once per language.

Templates would otherwise build these tables again on every render (six imports of ``_words.j2`` per
message, some sixty lookups each). They are marked here for extraction (``N_``, ``NP_`` with a context)
and translated when a language's environment is made (``translated``), so a render only reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from babel.support import Translations

from messages import catalogues


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later."""
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    """Mark a message with its context for extraction; it is translated later."""
    return context, message


Label = str | tuple[str, str]

LABELS: Mapping[str, Mapping[str, Label]] = {
    "kinds": {
        "plenary": N_("plenary meeting"),
        "working_group": N_("working group meeting"),
        "council": N_("council meeting"),
        "other": N_("event"),
    },
    "formats": {
        "in_person": N_("in person"),
        "hybrid": N_("hybrid (in person and by videoconference)"),
        "video": N_("by videoconference"),
    },
    "statuses": {
        "scheduled": NP_("status", "scheduled"),
        "postponed": NP_("status", "postponed"),
        "cancelled": NP_("status", "cancelled"),
    },
    "change_fields": {
        "start": N_("Start"),
        "end": N_("End"),
        "venue": N_("Venue"),
        "format": N_("Format"),
        "video": N_("Video link"),
        "agenda": N_("Agenda"),
        "status": N_("Status"),
        "title": N_("Title"),
        "timezone": N_("Time zone"),
    },
    # After "Your answer: in person" in a calendar event: where the answer on record was given.
    "answer_sources": {
        "telegram": N_("given in Telegram"),
        "web": N_("given on the answer page"),
        "calendar": N_("given from your calendar"),
        "secretariat": N_("recorded by the secretariat"),
    },
    "link_labels": {
        "calendar": N_("Add to your calendar"),
        "telegram": N_("Get these notices in Telegram"),
        "rsvp": N_("Reply to the invitation"),
        "agenda": N_("Agenda and documents"),
        "documents": N_("Meeting documents"),
        "link": N_("Link"),
    },
    # The member states' zones have the phrases people use; any other zone is named by its city.
    "zone_phrases": {
        "Europe/Moscow": N_("Moscow time"),
        "Europe/Minsk": N_("Minsk time"),
        "Asia/Yerevan": N_("Yerevan time"),
        "Asia/Bishkek": N_("Bishkek time"),
        "Asia/Dushanbe": N_("Dushanbe time"),
        "Asia/Almaty": N_("Astana time"),
        "Asia/Tashkent": N_("Tashkent time"),
        "UTC": N_("Coordinated Universal Time (UTC)"),
        "Etc/UTC": N_("Coordinated Universal Time (UTC)"),
    },
    "answers": {
        "in_person": NP_("answer", "in person"),
        "remote": NP_("answer", "remotely"),
        "not_attending": NP_("answer", "cannot attend"),
        "substitute": NP_("answer", "sending a substitute:"),
        "attending": NP_("answer", "attending (in person or remotely: not said)"),
        "tentative": NP_("answer", "perhaps"),
    },
}


@cache
def table(language: str) -> dict[str, dict[str, str]]:
    """Every table of ``LABELS`` in a language that has a catalogue."""
    return translated(catalogues.catalogue(language).translations)


def translated(translations: Translations) -> dict[str, dict[str, str]]:
    """Every table of ``LABELS`` in one language."""

    def one(label: Label) -> str:
        if isinstance(label, tuple):
            return str(translations.pgettext(*label))
        return str(translations.gettext(label))

    return {table: {key: one(label) for key, label in labels.items()} for table, labels in LABELS.items()}
