"""A session's summary as documents in a reader's language: Markdown (also the plain text of its e-mail), HTML
(the e-mail's, and the page the PDF annex is printed from), the PDF annex (WeasyPrint, A4) and the chart of
attendance by state (matplotlib, Agg). Implements ``domain.ports.SummaryDocuments``.

The words come from the same gettext catalogues as the notices; dates, times and numbers are Babel's, in the
reader's locale; the commission's texts in the reader's language, else the commission's.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal
from jinja2 import Environment

from domain.summary import Summary
from domain.summary_changes import Correction
from domain.values import localize
from messages import catalogues
from messages.phrases import zone_phrase
from messages.render import document_environment
from messages.telegram import telegram_length, truncate_html
from messages.views import city_name
from messages.words import N_

PRESENCES = ("in_person", "remote", "briefly", "absent")
LABELS = {
    "in_person": N_("in person"),
    "remote": N_("remotely"),
    "briefly": N_("joined briefly"),
    "absent": N_("absent"),
    "present": N_("in person"),
    "assign": N_("a guest on the call assigned"),
}
"""How a delegate took part, and what a correction said (``present``, ``assign``)."""
SUBJECT = N_("Summary: %(title)s")
CORRECTED = N_("Corrected summary: %(title)s")
CHANGE = N_("%(subject)s: %(before)s → %(after)s")
QUORUM = N_("the quorum")
MET, NOT_MET = N_("met"), N_("not met")
REPRESENTED, UNREPRESENTED = N_("represented"), N_("not represented")
OUTCOMES = N_("the decisions and assignments of item %(number)s")
CAPTION = 1024
"""The most a Telegram photo's caption may have."""
AXIS = N_("delegates")
COLOURS = {"in_person": "#1f5fa8", "remote": "#5fa8d3", "briefly": "#f2b134", "absent": "#c9ced6"}
"""The chart's colours, told apart also in grey and by the colour-blind (blue, light blue, amber, grey)."""


def _environment(language: str, escaping: bool) -> Environment:
    """Markdown is written by an environment that escapes nothing, HTML by one that escapes every value: both
    read the same macros (``templates/summary/_facts.j2``), which Jinja compiles for each."""
    return document_environment("summary", language, escaping)


@dataclass(frozen=True, slots=True)
class _Reader:
    """How one language writes the summary's texts, instants and numbers."""

    language: str
    fallback: str
    zone: str

    def text(self, value: dict[str, str] | None) -> str:
        return localize(value, self.language, self.fallback)

    def at(self, moment: datetime | None, zone: str | None = None) -> str:
        if moment is None:
            return ""
        locale = catalogues.catalogue(self.language).locale
        local = moment.astimezone(ZoneInfo(zone or self.zone))
        return format_datetime(local, "d MMMM y, HH:mm", locale=locale)

    def day(self, local: datetime) -> str:
        """A date given in the session's own time (as the YAML writes it)."""
        return format_date(local.date(), "d MMMM y", locale=catalogues.catalogue(self.language).locale)

    def clock(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        locale = catalogues.catalogue(self.language).locale
        return format_datetime(moment.astimezone(ZoneInfo(self.zone)), "HH:mm", locale=locale)

    def number(self, value: float) -> str:
        return format_decimal(value, format="#,##0.#", locale=catalogues.catalogue(self.language).locale)

    def place(self, zone: str) -> str:
        """The zone as the notices name it ("Moscow time"), else "local time (City)"."""
        city = city_name(ZoneInfo(zone), zone, catalogues.catalogue(self.language).locale)
        return zone_phrase(self.language, zone, city)


class SummaryDocuments:
    """Implements ``domain.ports.SummaryDocuments``."""

    def language_for(self, language: str, fallback: str) -> str:
        """The catalogue a reader of ``language`` gets: theirs, else the commission's, else English."""
        return catalogues.nearest(language, fallback, "en") or catalogues.languages()[0]

    def markdown(self, summary: Summary, language: str, fallback: str, correction: Correction | None = None) -> str:
        """The summary in Markdown, which reads as plain text as well (``correction``: what it corrects)."""
        return self._render("summary.md.j2", summary, language, fallback, correction)

    def html(
        self,
        summary: Summary,
        language: str,
        fallback: str,
        chart: str | None = None,
        correction: Correction | None = None,
    ) -> str:
        """The summary as an HTML document (for e-mail, and for print: A4); ``chart``: the chart's URL (an
        e-mail's ``cid:``) to show under the totals."""
        return self._render("summary.html.j2", summary, language, fallback, correction, chart=chart)

    def telegram(
        self,
        summary: Summary,
        language: str,
        fallback: str,
        correction: Correction | None = None,
        draft: bool = False,
    ) -> str:
        """The summary in short, in Telegram's HTML, short enough to be a photo's caption (1,024 characters):
        the totals, the quorum, each state represented or not (``draft``: said to be a draft to review)."""
        text = self._render("summary.telegram.j2", summary, language, fallback, correction, draft=draft).strip()
        text = "\n".join(line.rstrip() for line in text.split("\n"))
        return text if telegram_length(text) <= CAPTION else truncate_html(text, CAPTION)

    def subject(self, summary: Summary, language: str, fallback: str, correction: Correction | None = None) -> str:
        """A one-line title: ``Summary: <session>`` (``Corrected summary: …``)."""
        chosen = self.language_for(language, fallback)
        title = _Reader(chosen, fallback, summary.timezone).text(summary.title)
        return _gettext(chosen, CORRECTED if correction is not None else SUBJECT) % {"title": title}

    def pdf(self, summary: Summary, language: str, fallback: str) -> bytes:
        """The attendance annex to print and sign: the HTML on A4, with fonts that have every member state's
        script (DejaVu, through fontconfig)."""
        from weasyprint import HTML  # loaded on first use: it brings Pango, which only the annex needs

        document: bytes = HTML(string=self.html(summary, language, fallback)).write_pdf()
        return document

    def chart(self, summary: Summary, language: str, fallback: str) -> bytes:
        """A PNG bar chart of attendance by state (in person, remote, joined briefly, absent), sized for a
        phone's screen, labelled in the reader's language."""
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator

        chosen = self.language_for(language, fallback)
        labels = _presence_labels(chosen)
        reader = _Reader(chosen, fallback, summary.timezone)
        states = list(summary.states)
        figure = Figure(figsize=(7.2, 1.8 + 0.5 * max(1, len(states))), dpi=150, layout="constrained")
        axes = figure.add_subplot()
        names = [reader.text(s.name) for s in states]
        left = [0] * len(states)
        for presence in PRESENCES:
            counts = [getattr(s.counts, presence) for s in states]
            axes.barh(names, counts, left=left, color=COLOURS[presence], label=labels[presence], height=0.6)
            left = [a + b for a, b in zip(left, counts, strict=True)]
        axes.invert_yaxis()  # the first state on top, as in the table
        axes.set_xlabel(_gettext(chosen, AXIS))
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.spines[["top", "right"]].set_visible(False)
        axes.set_title(reader.text(summary.title), fontsize=10, loc="left", wrap=True)
        figure.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
        out = io.BytesIO()
        figure.savefig(out, format="png", metadata={"Software": None})
        return out.getvalue()

    def _render(
        self,
        template: str,
        summary: Summary,
        language: str,
        fallback: str,
        correction: Correction | None = None,
        **more: Any,
    ) -> str:
        chosen = self.language_for(language, fallback)
        reader = _Reader(chosen, fallback, summary.timezone)
        context: dict[str, Any] = {
            "changes": _changes(summary, correction, reader) if correction is not None else [],
            "corrected_at": correction.previous_at if correction is not None else None,
            "s": summary,
            "r": reader,
            "lang": chosen,
            "presence": _presence_labels(chosen),
            "chart": None,
            **more,
        }
        escaping = not template.endswith(".md.j2")
        return _environment(chosen, escaping).get_template(template).render(context)


def _gettext(language: str, message: str) -> str:
    return str(catalogues.catalogue(language).translations.gettext(message))


@cache
def _presence_labels(language: str) -> dict[str, str]:
    return {key: _gettext(language, label) for key, label in LABELS.items()}


def _changes(summary: Summary, correction: Correction, reader: _Reader) -> list[str]:
    """Each difference as a line in the reader's language."""
    language = reader.language
    labels = _presence_labels(language)
    names = {d.id: d.name for s in summary.states for a in s.agencies for d in a.delegates}
    states = {s.code: s.name for s in summary.states}
    lines = []
    for d in correction.differences:
        if d.kind == "outcomes":
            lines.append(_gettext(language, OUTCOMES) % {"number": d.subject})
            continue
        if d.kind == "presence":
            subject = reader.text(names.get(d.subject)) or d.subject
            before, after = (_presence_text(v, labels, reader) for v in (d.before, d.after))
        else:  # represented or not, the quorum met or not: "True" or "False" before and after
            represented = d.kind == "represented"
            subject = (reader.text(states.get(d.subject)) or d.subject) if represented else _gettext(language, QUORUM)
            yes, no = (REPRESENTED, UNREPRESENTED) if represented else (MET, NOT_MET)
            said = {"True": _gettext(language, yes), "False": _gettext(language, no)}
            before, after = said.get(d.before, ""), said.get(d.after, "")
        lines.append(_gettext(language, CHANGE) % {"subject": subject, "before": before or "—", "after": after})
    return lines


def _presence_text(value: str, labels: dict[str, str], reader: _Reader) -> str:
    presence, _, minutes = value.partition(":")
    label = labels.get(presence, presence)
    return f"{label} ({reader.number(float(minutes))})" if minutes else label
