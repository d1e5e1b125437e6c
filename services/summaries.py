"""Composing a session's summary from its facts, and keeping it in the archive in every form.

The attendance is the live table's (``services.attendance``) at the session's end, computed from the raw
facts whose SHA-256 the summary carries; the outcomes are the YAML's ``outcomes:``. The archive holds, for
each session, ``summary.json`` (the facts, in every language the texts are written in), and for each of the
commission's languages ``summary.<lang>.md``, ``summary.<lang>.html``, ``annex.<lang>.pdf`` and
``chart.<lang>.png``; the public variant beside it as ``public.json`` and ``public.<lang>.md`` / ``.html``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from domain.delivery import Image, Message
from domain.deployment import Deployment
from domain.model import Session
from domain.notices import PRESS, NoticeKind, chat_recipient, summary_detail
from domain.outbox import OutboxItem, due_now
from domain.ports import Clock, Outbox, Outcomes, PublishedSummaries, SummaryArchive, SummaryDocuments
from domain.summary import Summary, compose, events_digest, public
from domain.summary_changes import Correction, differences, same
from domain.values import localize
from services.attendance import AttendanceService

log = logging.getLogger(__name__)

FORMATS = ("md", "html", "json", "pdf", "png")
"""The forms a summary is printed or kept in (``png``: its chart)."""


class SummaryRefused(ValueError):
    """A summary asked of a session that is not in the configuration, or in a form there is not."""


@dataclass(frozen=True, slots=True)
class Archived:
    """The files a summary was kept in, by name, and where."""

    session_id: str
    files: dict[str, str]


class SummaryService:
    """Summaries of sessions, from the facts only."""

    def __init__(
        self,
        attendance: AttendanceService,
        documents: SummaryDocuments,
        clock: Clock,
        deployment: Callable[[], Deployment | None],
        outcomes: Outcomes,
        archive: SummaryArchive | None = None,
        published: PublishedSummaries | None = None,
        outbox: Outbox | None = None,
        on_enqueued: Callable[[], None] = lambda: None,
    ) -> None:
        self.attendance, self.documents, self.clock = attendance, documents, clock
        self.deployment, self.archive, self.store = deployment, archive, published
        self.outbox, self.on_enqueued, self.outcomes = outbox, on_enqueued, outcomes
        self._publishing = asyncio.Lock()
        self._messages: dict[tuple[str, int, str, bool], tuple[Message, tuple[Image, ...]]] = {}
        """Each published version's notice in each language, written once for all its readers."""

    async def decide(self, session_id: str, item: int, text: str, by: str) -> str:
        """Record a decision on an agenda item (from the chat, during the session); the item's title, in the
        commission's language. ``SummaryRefused`` for an item not on the agenda or an empty text."""
        deployment = self.deployment_of(session_id)
        session = deployment.sessions[session_id]
        if not 1 <= item <= len(session.agenda):
            raise SummaryRefused(f"item {item} is not on the agenda of {session_id} ({len(session.agenda)} items)")
        text = " ".join(text.split())[:2000]
        if not text:
            raise SummaryRefused("a decision needs its text")
        await self.outcomes.add(session_id, item, text, by, self.clock.now())
        log.info("a decision on item %d of %s was recorded by %s", item, session_id, by)
        return localize(session.agenda[item - 1].title, deployment.commission.language)

    async def send_now(self, session_id: str, version: int = 1) -> int:
        """Queue the summary notices of a session at once (the secretariat closed it): to the roles its policy
        sends summaries to, keyed as the plan keys them, so that the plan's own at the end adds none; how
        many were queued."""
        if self.outbox is None:
            raise SummaryRefused("no outbox to send summaries through")
        deployment = self.deployment_of(session_id)
        session = deployment.sessions[session_id]
        policy = session.policy
        if policy.summary is None or not policy.summary_to:
            return 0
        now, roles = self.clock.now(), set(policy.summary_to)
        detail = summary_detail(version)  # a corrected summary is a notice of its own
        items = [
            due_now(NoticeKind.SUMMARY, session_id, d, deployment.delegates[d].channels, now, detail)
            for d in deployment.invitations.get(session_id, ())
            if deployment.delegates[d].role in roles and deployment.delegates[d].channels
        ]
        queued = await self.queue(items)
        if queued:
            log.info("the summary of %s goes out now to %d delegates", session_id, queued)
        return queued

    def session(self, session_id: str) -> Session:
        """The session, from the configuration in force (``SummaryRefused`` for one it does not have)."""
        return self.deployment_of(session_id).sessions[session_id]

    async def latest(self, session_id: str) -> tuple[int, Summary] | None:
        """The newest published version of the session's summary, if any."""
        return await self.store.latest(session_id) if self.store is not None else None

    def language_for(self, session_id: str, language: str) -> str:
        """The language a reader of ``language`` reads the session's summary in."""
        return self.documents.language_for(language, self.deployment_of(session_id).commission.language)

    async def queue(self, items: list[OutboxItem]) -> int:
        """Put notices in the outbox and wake the dispatcher if any was new; how many were."""
        assert self.outbox is not None
        queued = await self.outbox.enqueue(items, self.clock.now()) if items else 0
        if queued:
            self.on_enqueued()
        return queued

    async def _archive(self, summary: Summary) -> None:
        """Keep a published version in the archive; a failure is logged, and the notices go out all the same
        (``plenary summary SESSION --keep`` writes it again)."""
        if self.archive is None:
            return
        try:
            await asyncio.to_thread(self._keep, summary)  # the PDF takes a second: not in the event loop
        except Exception:
            log.exception("the summary of %s was published but not kept in the archive", summary.session_id)

    async def _to_outside(self, session_id: str, version: int) -> int:
        """Queue a published version for the chats the YAML names (the secretariat's by default) and, when
        it asks, its public variant for the press contact; how many were queued."""
        if self.outbox is None:
            return 0
        commission = self.deployment_of(session_id).commission
        now, detail = self.clock.now(), summary_detail(version)
        items = [
            due_now(NoticeKind.SUMMARY, session_id, chat_recipient(chat), ("telegram",), now, detail)
            for chat in commission.summary_chats
        ]
        if commission.summaries.press and commission.press is not None and commission.press.email is not None:
            items.append(due_now(NoticeKind.SUMMARY, session_id, PRESS, ("email",), now, detail))
        return await self.queue(items)

    async def published(self, session_id: str) -> tuple[int, Summary]:
        """The session's summary as published, and its version; the first call publishes it: composed from
        the facts as they are then, kept in the archive, and from then on the same for every reader (and
        every process: the first version stored stands). A summary to review is published only as approved."""
        version, summary, _ = await self.publish_first(session_id)
        return version, summary

    async def publish_first(self, session_id: str, approved: Summary | None = None) -> tuple[int, Summary, bool]:
        """Publish the first version (``approved``: the one the secretariat reviewed; else composed now) unless
        one is published: the newest version, and whether this call published it."""
        if self.store is None:
            raise SummaryRefused("no store to publish summaries in")
        async with self._publishing:
            found = await self.store.latest(session_id)
            if found is not None:
                return (*found, False)
            if approved is None and self.session(session_id).reviewed:
                raise SummaryRefused(f"the summary of {session_id} waits for the secretariat's review")
            summary = approved if approved is not None else await self.compose(session_id)
            fresh = await self.store.publish(summary, 1, self.clock.now())
            if fresh:
                log.info("the summary of %s is published (%s)", session_id, summary.events_sha256)
                await self._to_outside(session_id, 1)
                await self._archive(summary)
            found = await self.store.latest(session_id)
            assert found is not None
            return (*found, fresh)

    async def reissue(self, session_id: str) -> tuple[int, Correction] | None:
        """Compose the summary again; when it says something else than the one published (a correction of the
        attendance, an outcome added), publish it as the next version and queue the corrected summary, which
        names what changed, to the same readers; the version and what changed, or None (nothing changed:
        nothing is sent)."""
        if self.store is None or self.outbox is None:
            raise SummaryRefused("no store and outbox to reissue summaries through")
        async with self._publishing:
            found = await self.store.latest(session_id)
            if found is None:
                raise SummaryRefused(f"the summary of {session_id} was not published yet: nothing to correct")
            version, old = found
            new = await self.compose(session_id)
            if same(old, new):
                return None
            if not await self.store.publish(new, version + 1, self.clock.now()):
                raise SummaryRefused(f"version {version + 1} of the summary of {session_id} was published meanwhile")
            await self._archive(new)
        correction = await self._correction(session_id, version + 1)
        assert correction is not None
        log.info("the summary of %s is corrected (version %d)", session_id, version + 1)
        await self.send_now(session_id, version + 1)
        await self._to_outside(session_id, version + 1)
        return version + 1, correction

    async def notice(
        self, session_id: str, language: str, version: int | None = None, public_variant: bool = False
    ) -> tuple[Message, tuple[Image, ...]]:
        """A published summary (the first, or ``version``: a corrected one, which says what it corrects) as one
        reader's notice: the Markdown as its text, the HTML with the chart inline for e-mail, the short form
        for Telegram (the chart's caption), in ``language``."""
        deployment = self.deployment_of(session_id)
        fallback = deployment.commission.language
        chosen = self.documents.language_for(language, fallback)
        first: Summary | None = None
        if version is None or version == 1:  # the first version, even when corrected since: the correction follows
            latest, first = await self.published(session_id)
            version = 1
            if latest != 1:
                first = None
        key = (session_id, version, chosen, public_variant)
        if key in self._messages:  # written once for all its readers: the store is not read again for it
            return self._messages[key]
        correction: Correction | None = None
        if first is not None:
            summary = first
        else:
            assert self.store is not None
            kept = await self.store.version(session_id, version)
            if kept is None:
                raise SummaryRefused(f"no version {version} of the summary of {session_id}")
            summary = kept[0]
            correction = await self._correction(session_id, version) if version > 1 else None
        if public_variant:
            summary = public(summary, deployment)
        self._messages[key] = await asyncio.to_thread(self._notice, summary, chosen, fallback, correction)
        return self._messages[key]

    async def _correction(self, session_id: str, version: int) -> Correction | None:
        assert self.store is not None
        old, new = await self.store.version(session_id, version - 1), await self.store.version(session_id, version)
        if old is None or new is None:
            return None
        return Correction(previous_at=old[1], differences=tuple(differences(old[0], new[0])))

    def _notice(
        self, summary: Summary, language: str, fallback: str, correction: Correction | None, draft: bool = False
    ) -> tuple[Message, tuple[Image, ...]]:
        docs = self.documents
        chart = Image("chart", f"chart.{language}.png", docs.chart(summary, language, fallback))
        message = Message(
            subject=docs.subject(summary, language, fallback, correction),
            text=docs.markdown(summary, language, fallback, correction),
            html=docs.html(summary, language, fallback, chart=f"cid:{chart.content_id}", correction=correction),
            telegram_html=docs.telegram(summary, language, fallback, correction, draft=draft),
            language=language,
        )
        return message, (chart,)

    def draft_notice(self, summary: Summary, language: str) -> tuple[Message, tuple[Image, ...]]:
        """A summary not yet published as the secretariat reviews it: its short form says it is a draft."""
        fallback = self.deployment_of(summary.session_id).commission.language
        return self._notice(summary, language, fallback, None, draft=True)

    async def compose(self, session_id: str, *, public_variant: bool = False) -> Summary:
        """The session's summary as of now (a session still running is summarised so far)."""
        deployment = self.deployment_of(session_id)
        now = self.clock.now()
        read = await self.attendance.record_of(session_id, now)
        assert read is not None
        table, facts, closed = read
        recorded = await self.outcomes.for_session(session_id)
        session = deployment.sessions[session_id]
        summary = compose(deployment, session, table, facts, now, outcomes=recorded, ended_at=closed)
        return public(summary, deployment) if public_variant else summary

    def render(self, summary: Summary, form: str, language: str | None = None) -> bytes:
        """One form of the summary, in ``language`` (by default the commission's)."""
        deployment = self.deployment_of(summary.session_id)
        fallback = deployment.commission.language
        chosen = self.documents.language_for(language or fallback, fallback)
        if form == "json":
            return summary.model_dump_json(indent=2).encode() + b"\n"
        if form == "md":
            return self.documents.markdown(summary, chosen, fallback).encode()
        if form == "html":
            return self.documents.html(summary, chosen, fallback).encode()
        if form == "pdf":
            return self.documents.pdf(summary, chosen, fallback)
        if form == "png":
            return self.documents.chart(summary, chosen, fallback)
        raise SummaryRefused(f"{form!r} is not a form of summary: one of {', '.join(FORMATS)}")

    async def keep(self, session_id: str) -> Archived:
        """Write every form of the summary and its public variant to the archive: the newest published
        version, or (none published yet) the summary as of now."""
        if self.archive is None:
            raise SummaryRefused("no archive to keep summaries in")
        found = await self.store.latest(session_id) if self.store is not None else None
        summary = found[1] if found is not None else await self.compose(session_id)
        return await asyncio.to_thread(self._keep, summary)  # the PDF takes a second: not in the event loop

    def _keep(self, summary: Summary) -> Archived:
        session_id = summary.session_id
        deployment = self.deployment_of(session_id)
        press = public(summary, deployment)
        files: dict[str, str] = {}

        def put(name: str, data: bytes) -> None:
            assert self.archive is not None
            files[name] = self.archive.write(session_id, name, data)

        put("summary.json", self.render(summary, "json"))
        put("public.json", self.render(press, "json"))
        for language in dict.fromkeys(deployment.commission.languages):
            put(f"summary.{language}.md", self.render(summary, "md", language))
            put(f"summary.{language}.html", self.render(summary, "html", language))
            put(f"public.{language}.md", self.render(press, "md", language))
            put(f"public.{language}.html", self.render(press, "html", language))
            put(f"chart.{language}.png", self.render(summary, "png", language))
            try:
                put(f"annex.{language}.pdf", self.render(summary, "pdf", language))
            except OSError as exc:  # WeasyPrint without Pango: the rest is kept, the log says what is missing
                log.error("the PDF annex of %s was not written (%s); install Pango (libpango-1.0-0)", session_id, exc)
        log.info("the summary of %s is kept in %d files", session_id, len(files))
        return Archived(session_id, files)

    async def verify(self, session_id: str) -> tuple[bool, str, str]:
        """Whether the stored facts still give the SHA-256 the archived summary carries: (same?, archived,
        now)."""
        if self.archive is None:
            raise SummaryRefused("no archive to read summaries from")
        kept = self.archive.read(session_id, "summary.json")
        if kept is None:
            raise SummaryRefused(f"no summary of {session_id} is kept")
        archived = Summary.model_validate_json(kept).events_sha256
        read = await self.attendance.record_of(session_id)
        if read is None:
            raise SummaryRefused(f"unknown session {session_id!r}")
        now = events_digest(read[1])
        return archived == now, archived, now

    def deployment_of(self, session_id: str) -> Deployment:
        """The configuration in force, which has the session; ``SummaryRefused`` when it has not."""
        deployment = self.deployment()
        if deployment is None or session_id not in deployment.sessions:
            known = ", ".join(deployment.sessions) if deployment is not None else "none"
            raise SummaryRefused(f"unknown session {session_id!r}: one of {known}")
        return deployment
