"""Rendering notices: the delegate's language (or the commission's), their time zone and locale, every channel.

Each kind of notice is one template, ``templates/<kind>.j2``, written once for every language and output:
its words go through gettext (Jinja's ``i18n`` extension, newstyle, so a translation's placeholders are
checked and its values escaped), and the catalogues (``messages.catalogues``) hold each language's
translations. The loader serves every template under three prefixes — ``text/``, ``html/`` and
``telegram/`` — so Jinja compiles a plain copy (the subject and the text part) and escaping copies (e-mail
HTML, Telegram HTML) of the same source. A template writes its structure through the markup macros ``m`` of
the output being rendered (``templates/_text.j2``, ``_html.j2``, ``_telegram.j2``) and the phrases every
notice shares through ``templates/_words.j2``. Each language has an environment of its own with its
translations installed; the compiled templates are shared between them (one bytecode cache).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any

from babel import Locale
from babel.dates import format_timedelta
from babel.support import Translations
from babel.units import format_unit
from jinja2 import (
    BaseLoader,
    BytecodeCache,
    Environment,
    PackageLoader,
    StrictUndefined,
    Template,
    TemplateNotFound,
    pass_context,
    pass_eval_context,
)
from jinja2.bccache import Bucket
from jinja2.environment import TemplateModule
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from markupsafe import Markup

from domain.delivery import Change, Message
from domain.deployment import Deployment
from domain.model import Session
from domain.notices import NoticeKind
from messages import catalogues, phrases, words
from messages.filters import tel, unbreakable, webcal
from messages.telegram import TELEGRAM_LIMIT, telegram_length, truncate_html
from messages.views import Countdown, DeadlineView, Views, split_offset

DIALECTS = ("text", "html", "telegram")
"""The outputs every template is rendered to: plain text (and subject), e-mail HTML, Telegram HTML."""

_ESCAPED = frozenset({"html", "telegram"})
_LINK_SCHEMES = ("https://", "http://", "tg://", "mailto:")
_SHORT_TITLE = 300
"""How long an agenda item's or document's title may stay in a Telegram message that is too long."""
_SHORT_TEXT = 800
"""How long a free text (a description, a changed value) may stay in a Telegram message that is too long."""


PEOPLE = ("substitute", "head")
"""The ``extra`` keys of a notice that name delegates (a substitution's)."""


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
    """An environment where templates name their siblings: ``_words.j2`` from ``html/agenda.j2``."""

    def join_path(self, template: str, parent: str) -> str:
        """Resolve a template's name in the folder (dialect and language) of the template that names it."""
        return f"{parent.rsplit('/', 1)[0]}/{template}"


def _escaping(name: str | None) -> bool:
    return name is not None and name.partition("/")[0] in _ESCAPED


@pass_context
def _until(context: Context, delta: timedelta) -> str:
    """``in 3 hours``, ``через 3 часа``: how far away, in the message's locale."""
    return format_timedelta(delta, add_direction=True, locale=context["locale"])


_UNITS = ((86400, "duration-day"), (3600, "duration-hour"), (60, "duration-minute"))


def _duration_filter(translations: Translations) -> Callable[[Context, timedelta], str]:
    """The ``duration`` filter for one language: an exact duration, ``1 час 30 минут``, ``21 день``, ``10 minutes``.

    Written by Babel from CLDR's units; where CLDR has no words of the language's own for them (Tajik's
    are the root's ``min``, ``h``, ``d``), the catalogue's are used instead.
    """

    @pass_context
    def duration(context: Context, delta: timedelta) -> str:
        locale = context["locale"]
        rest = max(int(delta.total_seconds()), 0)
        amounts: list[tuple[int, str]] = []
        for size, unit in _UNITS:
            amount, rest = divmod(rest, size)
            if amount:
                amounts.append((amount, unit))
        own = _cldr_has_units(locale)
        return " ".join(
            format_unit(amount, unit, length="long", locale=locale) if own else _unit(translations, amount, unit)
            for amount, unit in amounts or [(0, "duration-minute")]
        )

    return duration


@cache
def _cldr_has_units(locale: Locale) -> bool:
    return format_unit(2, "duration-minute", length="long", locale=locale) != format_unit(
        2, "duration-minute", length="long", locale="root"
    )


def _unit(translations: Translations, amount: int, unit: str) -> str:
    if unit == "duration-day":
        text = translations.ngettext("%(num)d day", "%(num)d days", amount)
    elif unit == "duration-hour":
        text = translations.ngettext("%(num)d hour", "%(num)d hours", amount)
    else:
        text = translations.ngettext("%(num)d minute", "%(num)d minutes", amount)
    return str(text) % {"num": amount}


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


def _environment(language: str, translations: Translations) -> _Environment:
    env = _Environment(
        extensions=["jinja2.ext.i18n"],
        loader=_DialectLoader(),
        bytecode_cache=_shared_bytecode(),
        autoescape=_escaping,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,
    )
    env.filters.update(until=_until, duration=_duration_filter(translations), clip=_clip)
    env.filters.update(unbreakable=unbreakable, tel=tel, webcal=webcal)
    env.policies["ext.i18n.trimmed"] = True
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(gettext_callables(translations))
    env.globals["words"] = words.table(language)
    env.globals.update(when=partial(phrases.when, language), span=partial(phrases.span, language))
    return env


@cache
def document_environment(folder: str, language: str, escaping: bool = True) -> Environment:
    """An environment for the documents under ``templates/<folder>`` (the web pages, the summaries) in one
    language, its gettext calls those of the notices (``gettext_callables``)."""
    env = Environment(
        loader=PackageLoader("messages", f"templates/{folder}"),
        autoescape=escaping,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    translations = catalogues.catalogue(language).translations
    env.install_gettext_translations(translations, newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(gettext_callables(translations))
    env.globals["words"] = words.table(language)
    return env


def gettext_callables(translations: Translations) -> dict[str, Callable[..., str]]:
    """``_``, ``gettext``, ``ngettext`` and ``pgettext`` with the i18n extension's newstyle behaviour, called directly.

    The extension's own reach the translations through two ``Context.call`` layers (``_`` is an alias that
    resolves ``gettext`` on every call); a notice makes some forty calls, and those layers made rendering
    about a third slower than before the catalogues (``python -m benchmarks.render``). The behaviour is the
    extension's: the translation is marked safe in an escaping template and ``%``-formatted with the
    keyword arguments (escaped), so a placeholder missing from them fails the render; ``ngettext`` also
    passes ``num``. A message without arguments is not formatted (none has a ``%`` of its own: the catalogue
    checks make sure).
    """
    gettext, ngettext, pgettext = translations.ugettext, translations.ungettext, translations.upgettext

    @pass_eval_context
    def _gettext(eval_ctx: EvalContext, message: str, /, **variables: Any) -> str:
        text = _safe(eval_ctx, gettext(message))
        return text % variables if variables else text

    @pass_eval_context
    def _ngettext(eval_ctx: EvalContext, singular: str, plural: str, num: int, /, **variables: Any) -> str:
        variables.setdefault("num", num)
        return _safe(eval_ctx, ngettext(singular, plural, num)) % variables

    @pass_eval_context
    def _pgettext(eval_ctx: EvalContext, context: str, message: str, /, **variables: Any) -> str:
        text = _safe(eval_ctx, pgettext(context, message))
        return text % variables if variables else text

    return {"_": _gettext, "gettext": _gettext, "ngettext": _ngettext, "pgettext": _pgettext}


def _safe(eval_ctx: EvalContext, text: str) -> str:
    return Markup(text) if eval_ctx.autoescape else text


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


class Renderer:
    """Renders notices from the templates: in the delegate's language (else the commission's), zone and locale."""

    def __init__(self, deployment: Deployment) -> None:
        self._deployment = deployment
        self._languages = catalogues.languages()
        self._envs: dict[str, _Environment] = {}
        self._markup: dict[tuple[str, str], TemplateModule] = {}

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages that have a catalogue."""
        return self._languages

    def language_for(self, language: str) -> str:
        """The language a reader of ``language`` gets: theirs if it has a catalogue, else the commission's first."""
        chosen = catalogues.nearest(language, *self._deployment.commission.languages, *self._languages)
        if chosen is None:
            raise RuntimeError("the messages package has no catalogue")
        return chosen

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
        extra: Mapping[str, str] | None = None,
    ) -> Message:
        """Render one notice for one delegate: subject, plain text, e-mail HTML and Telegram HTML (``extra``: see
        ``domain.ports.Renderer``)."""
        if now is not None and now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        session = self._deployment.sessions[session_id]
        delegates = self._deployment.delegates
        delegate = delegates[delegate_id]
        catalogue = catalogues.catalogue(self.language_for(delegate.language))
        views = Views(self._deployment, delegate, catalogue.language, catalogue.locale)
        context: dict[str, Any] = {
            "lang": catalogue.language,
            "locale": catalogue.locale,
            "kind": kind.value,
            "detail": detail,
            "commission": views.commission(),
            "delegate": views.recipient(),
            "session": views.session(
                session, reveal_passcode=kind is NoticeKind.START, join_url=(links or {}).get("join")
            ),
            "changes": views.changes(session, changes),
            "links": _checked_links(links or {}),
            "reminder": _reminder(views, session, detail, now) if kind is NoticeKind.REMINDER else None,
            "deadline": _deadline(views, session, detail, now) if kind is NoticeKind.DEADLINE else None,
            "message": (extra or {}).get("text", ""),
            "people": {k: views.person(v) for k, v in (extra or {}).items() if k in PEOPLE and v in delegates},
            "agenda_limit": None,
            "title_limit": None,
            "text_limit": None,
        }
        env, name = self._env(catalogue.language), f"{kind.value}.j2"
        plain = env.get_template(f"text/{name}").make_module(self._with(context, "text"))
        subject = _one_line(str(getattr(plain, "subject")))  # noqa: B009 (a template's exported variable)
        html = env.get_template(f"html/{name}").render(self._with(context, "html"))
        telegram = self._telegram(env.get_template(f"telegram/{name}"), self._with(context, "telegram"))
        return Message(
            subject=subject,
            text=_tidy(str(plain)) + "\n",
            html=_tidy_html(html),
            telegram_html=telegram,
            language=catalogue.language,
        )

    def rsvp_note(self, language: str, answer: str, substitute: str | None = None, source: str | None = None) -> str:
        """One line saying what the delegate answered, for their calendar: ``Your answer: in person (given in
        Telegram)``."""
        language = self.language_for(language)
        table = words.table(language)
        labels = table["answers"]
        line = catalogues.catalogue(language).translations.gettext("Your answer: %(answer)s") % {
            "answer": labels.get(answer, answer)
        }
        line = f"{line} {substitute}" if substitute else line
        given = table["answer_sources"].get(source or "")
        return f"{line} ({given})" if given else line

    def _env(self, language: str) -> _Environment:
        env = self._envs.get(language)
        if env is None:
            env = self._envs[language] = _environment(language, catalogues.catalogue(language).translations)
        return env

    def _with(self, context: dict[str, Any], dialect: str) -> dict[str, Any]:
        key = (context["lang"], dialect)
        markup = self._markup.get(key)
        if markup is None:
            markup = self._markup[key] = self._env(key[0]).get_template(f"{dialect}/_{dialect}.j2").module
        return {**context, "dialect": dialect, "m": markup}

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
        extra: Mapping[str, str] | None = None,
    ) -> Message:
        """Render one notice for one delegate with this configuration's renderer."""
        return self(deployment).render(
            kind, session_id, delegate_id, detail=detail, changes=changes, links=links, now=now, extra=extra
        )

    def rsvp_note(
        self,
        deployment: Deployment,
        language: str,
        answer: str,
        substitute: str | None = None,
        source: str | None = None,
    ) -> str:
        """One line saying what a delegate answered, for their calendar."""
        return self(deployment).rsvp_note(language, answer, substitute, source)
