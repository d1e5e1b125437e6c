"""What the bot says, by key, in the reader's language: implements ``domain.ports.Phrases``.

The bot's handlers name a phrase and its values (``say("ru", "start.bound", name=…)``); the words are
gettext messages marked here (``N_``) and translated by the same catalogues as the notices, so a translator
finds them in the same ``.po`` files. Values are inserted as given: the Telegram edge escapes them for its
HTML parse mode.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_time

from domain.deployment import Deployment
from messages import catalogues, phrases
from messages.bot_words import PHRASES
from messages.views import Span, Views


class Phrasebook:
    """Implements ``domain.ports.Phrases`` from the message catalogues."""

    def span(self, deployment: Deployment, delegate_id: str, session_id: str) -> str:
        """When a session runs, as the notices say it."""
        session = deployment.sessions[session_id]
        views, language = self._views(deployment, delegate_id)
        start = views.moment(session.starts_at, session.timezone)
        return phrases.span(language, Span(start, views.moment(session.ends_at, session.timezone)))

    def when(self, deployment: Deployment, delegate_id: str, moment: datetime, zone: str) -> str:
        """An instant, as the notices say it."""
        views, language = self._views(deployment, delegate_id)
        return phrases.when(language, views.moment(moment, zone))

    def clock_time(self, language: str, moment: datetime, zone: str) -> str:
        """The time of day in a zone."""
        return format_time(moment.astimezone(ZoneInfo(zone)), "short", locale=self._catalogue(language).locale)

    def _catalogue(self, language: str) -> catalogues.Catalogue:
        code = language if language in catalogues.languages() else language.split("_", 1)[0].split("-", 1)[0]
        return catalogues.catalogue(code if code in catalogues.languages() else "en")

    def _views(self, deployment: Deployment, delegate_id: str) -> tuple[Views, str]:
        delegate = deployment.delegates[delegate_id]
        catalogue = self._catalogue(delegate.language)
        return Views(deployment, delegate, catalogue.language, catalogue.locale), catalogue.language

    def languages(self) -> tuple[str, ...]:
        """The languages the bot can speak."""
        return catalogues.languages()

    def say(self, language: str, key: str, /, **values: str) -> str:
        """A phrase in a language (its base, else English, when there is no catalogue for it)."""
        text = str(self._catalogue(language).translations.gettext(PHRASES[key]))
        return text % values if values else text
