"""The web pages a delegate reads (the answer page), server-rendered in their language from the same catalogues
as the notices and the bot: implements ``domain.ports.Pages``."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment

from domain.pages import AnswerPage
from domain.records import RsvpSource
from domain.values import localize
from messages import catalogues
from messages.conversation import Phrasebook
from messages.render import document_environment

SOURCES = {
    RsvpSource.TELEGRAM: "source.telegram",
    RsvpSource.WEB: "source.web",
    RsvpSource.CALENDAR: "source.calendar",
    RsvpSource.SECRETARIAT: "source.secretariat",
}


def _environment(language: str) -> Environment:
    return document_environment("pages", language)


class WebPages:
    """Implements ``domain.ports.Pages``."""

    def __init__(self, phrases: Phrasebook | None = None) -> None:
        self.phrases = phrases or Phrasebook()

    def answer_page(self, page: AnswerPage, form: str) -> str:
        """The page: the session, the answer on record, the outcome of the one just sent, the form."""
        deployment, delegate, session = page.deployment, page.delegate, page.session
        language = _language(delegate.language)
        commission = deployment.commission
        values = {
            "commission": localize(commission.short_name or commission.name, language, commission.language),
            "email": commission.secretariat.email or "",
        }

        def say(key: str, **more: str) -> str:
            return self.phrases.say(language, key, **{**values, **more})

        current = page.current
        recorded = None
        if current is not None:
            recorded = {
                "answer": say(f"answer.{current.answer.value}"),
                "substitute": _name(deployment, current.substitute_id, language),
                "source": say(SOURCES.get(current.source, "source.secretariat")),
                "when": self.phrases.when(deployment, delegate.id, current.answered_at, session.timezone),
            }
        outcome = None
        if page.outcome is not None:
            shown = current.answer.value if current is not None else "not_attending"
            when = self.phrases.when(deployment, delegate.id, session.answers_close_at, session.timezone)
            outcome = say(f"answered.{page.outcome}", answer=say(f"answer.{shown}"), when=when)
        context: dict[str, Any] = {
            "lang": language,
            "title": localize(session.title, language, commission.language),
            "commission": values["commission"],
            "span": self.phrases.span(deployment, delegate.id, session.id),
            "venue": _venue(session, language, commission.language),
            "name": localize(delegate.name, language, commission.language),
            "choices": [(a.value, say(f"answer.{a.value}")) for a in page.offered],
            "chosen": current.answer.value if current is not None else None,
            "chosen_substitute": current.substitute_id if current is not None else None,
            "substitutes": [(d.id, localize(d.name, language, commission.language)) for d in page.substitutes],
            "recorded": recorded,
            "outcome": outcome,
            "outcome_kind": page.outcome,
            "answering": page.answering,
            "closed": say(
                "answered.closed",
                answer="",
                when=self.phrases.when(deployment, delegate.id, session.answers_close_at, session.timezone),
            ),
            "form": form,
            "token": page.token,
        }
        return _environment(language).get_template("answer.html.j2").render(context)

    def join_page(self, deployment: Any, delegate_id: str, session_id: str, outcome: str, opens_at: Any) -> str:
        """The page of a join link that cannot take the delegate in now: when it opens, that it is over, or that
        the platform cannot be reached."""
        delegate, session = deployment.delegates[delegate_id], deployment.sessions[session_id]
        language, commission = _language(delegate.language), deployment.commission
        when = self.phrases.when(deployment, delegate_id, opens_at, session.timezone) if opens_at is not None else ""
        context = {
            "lang": language,
            "title": localize(session.title, language, commission.language),
            "commission": localize(commission.short_name or commission.name, language, commission.language),
            "span": self.phrases.span(deployment, delegate_id, session_id),
            "outcome": outcome,
            "when": when,
        }
        return _environment(language).get_template("join.html.j2").render(context)

    def missing(self, language: str) -> str:
        """The page for a link that opens nothing: no hint of whose or which session's it was."""
        return _environment(_language(language)).get_template("missing.html.j2").render(lang=_language(language))

    def refused(self, language: str) -> str:
        """The page for a form that came without the value of a page this browser opened (another site's)."""
        return _environment(_language(language)).get_template("refused.html.j2").render(lang=_language(language))


def _language(language: str) -> str:
    return catalogues.nearest(language) or "en"


def _name(deployment: Any, delegate_id: str | None, language: str) -> str | None:
    delegate = deployment.delegates.get(delegate_id) if delegate_id else None
    return localize(delegate.name, language, deployment.commission.language) if delegate is not None else None


def _venue(session: Any, language: str, fallback: str) -> str | None:
    venue = session.venue
    if venue is None:
        return None
    parts = [localize(venue.name, language, fallback)]
    if getattr(venue, "city", None):
        parts.append(localize(venue.city, language, fallback))
    return ", ".join(p for p in parts if p)
