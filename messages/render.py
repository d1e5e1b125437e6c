"""Rendering notices: the delegate's language (or the commission's), their time zone and locale, every channel.

Each kind of notice is one template per language, ``templates/<lang>/<kind>.j2``, written once for all
outputs. The loader serves every template under three prefixes — ``text/``, ``html/`` and ``telegram/`` —
so Jinja compiles a plain copy (the subject and the text part) and escaping copies (e-mail HTML, Telegram
HTML) of the same source. A template writes its structure through the markup macros ``m`` of the output
being rendered (``templates/_text.j2``, ``_html.j2``, ``_telegram.j2``) and its words through its
language's catalogue (``<lang>/_catalogue.j2``), which also names the Babel locale of the language.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from jinja2 import (
    BaseLoader,
    BytecodeCache,
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
)
from jinja2.bccache import Bucket
from jinja2.environment import TemplateModule
from jinja2.runtime import Context

from domain.delivery import Change, Message
from domain.deployment import Deployment
from domain.model import Session
from domain.notices import NoticeKind
from messages.filters import tel, unbreakable, webcal
from messages.telegram import TELEGRAM_LIMIT, telegram_length, truncate_html
from messages.views import Countdown, DeadlineView, Views, split_offset

DIALECTS = ("text", "html", "telegram")
"""The outputs every template is rendered to: plain text (and subject), e-mail HTML, Telegram HTML."""

_ESCAPED = frozenset({"html", "telegram"})
_CATALOGUE = "_catalogue.j2"
_LINK_SCHEMES = ("https://", "http://", "tg://", "mailto:")
_SHORT_TITLE = 300
"""How long an agenda item's or document's title may stay in a Telegram message that is too long."""
_SHORT_TEXT = 800
"""How long a free text (a description, a changed value) may stay in a Telegram message that is too long."""


class _DialectLoader(BaseLoader):
    """Serves each template of the package under every dialect's prefix (``html/ru/invitation.j2``)."""

    def __init__(self) -> None:
        self._package = PackageLoader("messages", "templates")

    def get_source(self, environment: Environment, template: str) -> tuple[str, str | None, Callable[[], bool]]:
        """Return the source of the template named after the dialect's prefix."""
        dialect, _, name = template.partition("/")
        if dialect not in DIALECTS or not name:
            raise TemplateNotFound(template)
        source, filename, uptodate = self._package.get_source(environment, name)
        return source, filename, uptodate or (lambda: True)


class _Environment(Environment):
    """An environment where templates name their siblings: ``_catalogue.j2`` from ``html/ru/agenda.j2``."""

    def join_path(self, template: str, parent: str) -> str:
        """Resolve a template's name in the folder (dialect and language) of the template that names it."""
        return f"{parent.rsplit('/', 1)[0]}/{template}"


def _escaping(name: str | None) -> bool:
    return name is not None and name.partition("/")[0] in _ESCAPED


@pass_context
def _until(context: Context, delta: timedelta) -> str:
    """``in 3 hours``, ``через 3 часа``: how far away, in the message's locale."""
    return format_timedelta(delta, add_direction=True, locale=context["locale"])


@pass_context
def _duration(context: Context, delta: timedelta) -> str:
    """An exact duration in the message's locale: ``1 час 30 минут``, ``10 minutes``."""
    locale = context["locale"]
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [
        format_timedelta(timedelta(seconds=amount * unit), threshold=1, locale=locale)
        for amount, unit in ((days, 86400), (hours, 3600), (minutes, 60))
        if amount
    ]
    return " ".join(parts) or format_timedelta(timedelta(0), locale=locale)


@pass_context
def _plural(context: Context, count: int, **forms: str) -> str:
    """The word form for a count by the locale's plural rules: ``3|plural(one="пункт", few="пункта", …)``."""
    form = context["locale"].plural_form(count)
    return forms.get(form, forms["other"])


def _clip(text: str, limit: int | None) -> str:
    """The text, shortened at a word to at most ``limit`` characters (with an ellipsis) when a limit is given."""
    if limit is None or len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.—-") + "…"


class _MemoryBytecode(BytecodeCache):
    """Compiled templates kept in memory, so a new renderer (after a configuration reload) skips Jinja's parser."""

    def __init__(self) -> None:
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill the bucket from memory when this template was compiled before."""
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep a freshly compiled template."""
        self._code[bucket.key] = bucket.bytecode_to_string()


@cache
def _shared_bytecode() -> _MemoryBytecode:
    # One per process, made on first use: every renderer's environment has the same settings, and a bucket
    # is keyed by the template's name (which carries its dialect) and checked against its source.
    return _MemoryBytecode()


def _environment() -> _Environment:
    env = _Environment(
        loader=_DialectLoader(),
        bytecode_cache=_shared_bytecode(),
        autoescape=_escaping,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters.update(until=_until, duration=_duration, plural=_plural, clip=_clip)
    env.filters.update(unbreakable=unbreakable, tel=tel, webcal=webcal)
    return env


def _template_languages() -> tuple[str, ...]:
    root = resources.files("messages").joinpath("templates")
    return tuple(
        sorted(
            child.name
            for child in root.iterdir()
            if child.is_dir() and not child.name.startswith("_") and child.joinpath(_CATALOGUE).is_file()
        )
    )


_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """Plain text and Telegram: no trailing spaces, at most one blank line in a row."""
    lines = [line.rstrip() for line in text.split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip("\n")


def _tidy_html(html: str) -> str:
    return "\n".join(line.rstrip() for line in html.split("\n") if line.strip()) + "\n"


_BREAKING_SPACE = re.compile(r"[^\S\u00a0\u2007\u202f]+")
"""Runs of whitespace, line breaks above all, except the no-break spaces Babel puts in dates (``2022 г.``)."""


def _one_line(text: str) -> str:
    """A subject: whitespace (CR and LF above all) collapsed to single spaces, control characters dropped."""
    printable = "".join(ch for ch in text if ch.isspace() or unicodedata.category(ch) != "Cc")
    return _BREAKING_SPACE.sub(" ", printable).strip()


@dataclass(frozen=True, slots=True)
class _Catalogue:
    """A language that has templates, and the Babel locale its catalogue formats dates with."""

    language: str
    locale: Locale


class Renderer:
    """Renders notices from the templates: in the delegate's language (else the commission's), zone and locale."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._env = _environment()
        self._languages = _template_languages()
        self._catalogues: dict[str, _Catalogue] = {}
        self._markup: dict[str, TemplateModule] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages that have templates."""
        return self._languages

    def language_for(self, language: str) -> str:
        """The language a reader of ``language`` gets: theirs if it has templates, else the commission's first."""
        commission = self._deployment.commission
        for candidate in (language, language.split("_", 1)[0], *commission.languages, *self._languages):
            if candidate in self._languages:
                return candidate
        raise RuntimeError("the messages package has no templates")

    def render(
        self,
        kind: NoticeKind,
        session_id: str,
        delegate_id: str,
        *,
        detail: str = "",
        changes: Sequence[Change] = (),
        links: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> Message:
        """Render one notice for one delegate: subject, plain text, e-mail HTML and Telegram HTML."""
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        session = self._deployment.sessions[session_id]
        delegate = self._deployment.delegates[delegate_id]
        catalogue = self._catalogue(self.language_for(delegate.language))
        views = Views(self._deployment, delegate, catalogue.language, catalogue.locale)
        context: dict[str, Any] = {
            "lang": catalogue.language,
            "locale": catalogue.locale,
            "kind": kind.value,
            "detail": detail,
            "commission": views.commission(),
            "delegate": views.recipient(),
            "session": views.session(session, reveal_passcode=kind is NoticeKind.START),
            "changes": views.changes(session, changes),
            "links": _checked_links(links or {}),
            "reminder": _reminder(views, session, detail, now) if kind is NoticeKind.REMINDER else None,
            "deadline": _deadline(views, session, detail, now) if kind is NoticeKind.DEADLINE else None,
            "agenda_limit": None,
            "title_limit": None,
            "text_limit": None,
        }
        name = f"{catalogue.language}/{kind.value}.j2"
        plain = self._env.get_template(f"text/{name}").make_module(self._with(context, "text"))
        subject = _one_line(str(getattr(plain, "subject")))  # noqa: B009 (a template's exported variable)
        html = self._env.get_template(f"html/{name}").render(self._with(context, "html"))
        telegram = self._telegram(self._env.get_template(f"telegram/{name}"), self._with(context, "telegram"))
        return Message(
            subject=subject,
            text=_tidy(str(plain)) + "\n",
            html=_tidy_html(html),
            telegram_html=telegram,
            language=catalogue.language,
        )

    def rsvp_note(self, language: str, answer: str, substitute: str | None = None) -> str:
        """One line saying what the delegate answered, for their calendar: ``Your answer: in person``."""
        module = self._env.get_template(f"text/{self.language_for(language)}/{_CATALOGUE}").module
        labels: Mapping[str, str] = getattr(module, "rsvp_answers")  # noqa: B009 (a template's exported variable)
        line = f"{getattr(module, 'your_answer')}: {labels.get(answer, answer)}"  # noqa: B009
        return f"{line} {substitute}" if substitute else line

    def _with(self, context: dict[str, Any], dialect: str) -> dict[str, Any]:
        markup = self._markup.get(dialect)
        if markup is None:
            markup = self._markup[dialect] = self._env.get_template(f"{dialect}/_{dialect}.j2").module
        return {**context, "dialect": dialect, "m": markup}

    def _catalogue(self, language: str) -> _Catalogue:
        catalogue = self._catalogues.get(language)
        if catalogue is None:
            module = self._env.get_template(f"text/{language}/{_CATALOGUE}").module
            locale = Locale.parse(str(getattr(module, "babel_locale", language)))
            catalogue = self._catalogues[language] = _Catalogue(language, locale)
        return catalogue

    def _telegram(self, template: Template, context: dict[str, Any]) -> str:
        """Telegram HTML within the limit: long texts clipped, then fewer agenda items, then the markup cut."""
        full = _tidy(template.render(context))
        if telegram_length(full) <= TELEGRAM_LIMIT:
            return full
        clipped = {**context, "title_limit": _SHORT_TITLE, "text_limit": _SHORT_TEXT}
        best: str | None = None
        low, high = 0, len(context["session"].agenda)
        while low <= high:  # the most agenda items that fit
            count = (low + high) // 2
            text = _tidy(template.render({**clipped, "agenda_limit": count}))
            if telegram_length(text) <= TELEGRAM_LIMIT:
                best, low = text, count + 1
            else:
                high = count - 1
        if best is not None:
            return best
        return truncate_html(_tidy(template.render({**clipped, "agenda_limit": 0})), TELEGRAM_LIMIT)


def _checked_links(links: Mapping[str, str]) -> dict[str, str]:
    for key, url in links.items():
        if not url.startswith(_LINK_SCHEMES) or any(ch.isspace() for ch in url):
            raise ValueError(f"the {key!r} link is not a URL: {url!r}")
    return dict(links)


def _reminder(views: Views, session: Session, detail: str, now: datetime | None) -> Countdown | None:
    """How far the start is: from ``now`` when given, else from when the reminder was due (start − offset)."""
    offset_text = detail.partition("@")[0]
    if now is None and not offset_text:
        return None
    reference = now if now is not None else session.starts_at - split_offset(offset_text)
    return views.countdown(session.starts_at, reference)


def _deadline(views: Views, session: Session, detail: str, now: datetime | None) -> DeadlineView:
    """The deadline a detail such as ``media-accreditation.PT3H@20221018T1400Z`` names, with its countdown."""
    head = detail.partition("@")[0]
    ids = {d.id: d for d in session.deadlines}
    deadline_id, offset_text = (head, "") if head in ids else head.rpartition(".")[::2]
    deadline = ids.get(deadline_id)
    if deadline is None:
        raise ValueError(f"session {session.id!r} has no deadline {deadline_id!r} (notice detail {detail!r})")
    at = session.deadline_at(deadline)
    reference = now
    if reference is None and offset_text:
        reference = at - split_offset(offset_text)
    return views.deadline(session, deadline, reference)


class Renderers:
    """Implements ``domain.ports.Renderer``: the renderer of the configuration in force, made once and shared."""

    def __init__(self) -> None:
        self._current: tuple[Deployment, Renderer] | None = None

    def __call__(self, deployment: Deployment) -> Renderer:
        """The renderer for this configuration."""
        current = self._current
        if current is None or current[0] is not deployment:
            current = self._current = (deployment, Renderer(deployment))
        return current[1]

    def render(
        self,
        deployment: Deployment,
        kind: NoticeKind,
        session_id: str,
        delegate_id: str,
        *,
        detail: str = "",
        changes: Sequence[Change] = (),
        links: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> Message:
        """Render one notice for one delegate with this configuration's renderer."""
        return self(deployment).render(
            kind, session_id, delegate_id, detail=detail, changes=changes, links=links, now=now
        )

    def rsvp_note(self, deployment: Deployment, language: str, answer: str, substitute: str | None = None) -> str:
        """One line saying what a delegate answered, for their calendar."""
        return self(deployment).rsvp_note(language, answer, substitute)
