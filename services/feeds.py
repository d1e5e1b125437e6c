"""Serving calendar feeds: links derived from the server's secret, bodies cached by what they show."""

from __future__ import annotations

import gzip
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.deployment import Deployment
from domain.events import AnswerRecorded, ConfigurationApplied, DeliveriesRecorded, Event, LinkRotated
from domain.feeds import Feed, FeedLink, feed_sessions
from domain.ledger import RecipientRecord, SessionRecord
from domain.links import LinkScope, feed_token
from domain.model import Role, Session, SessionStatus
from domain.ports import Announcements, Answers, Calendars, Clock, Links, Renderer
from domain.records import Rsvp, RsvpAnswer, RsvpSource
from domain.values import localize
from services.events import EventBus


@dataclass(frozen=True)
class _View:
    key: tuple[object, ...]
    sessions: list[Session]
    language: str
    heads: bool
    valid_until: datetime | None
    notes: dict[str, str]
    records: dict[str, SessionRecord]
    """The sessions' records as this feed shows them: a delegate's SEQUENCE is the one they last received."""


class FeedService:
    """Finds the feed a token opens and builds it; bodies are cached by the state of what they show."""

    def __init__(
        self,
        links: Links,
        announcements: Announcements,
        answers: Answers,
        renderer: Renderer,
        calendars: Calendars,
        clock: Clock,
        secret: bytes,
        deployment: Callable[[], Deployment | None],
        keep_cancelled: timedelta = timedelta(days=30),
        cache_size: int = 4096,
        base_url: str = "",
    ) -> None:
        self.link_repo, self.announcements, self.answers = links, announcements, answers
        self.renderer, self.calendars = renderer, calendars
        self.clock, self.secret, self.deployment = clock, secret, deployment
        self.keep_cancelled = keep_cancelled
        self.cache_size = cache_size
        self.base_url = base_url.rstrip("/")
        self._index: dict[str, tuple[LinkScope, str]] = {}
        self._tokens: dict[tuple[LinkScope, str], str] = {}
        self._current: Deployment | None = None
        """The configuration the index and the caches below were made for."""
        self._bodies: OrderedDict[tuple[object, ...], Feed] = OrderedDict()
        self._records: dict[str, SessionRecord] | None = None
        self._rsvps: dict[tuple[str, str], Rsvp] = {}
        self._held: dict[str, dict[str, RecipientRecord]] = {}
        self._views: dict[tuple[LinkScope, str], _View] = {}
        self._hits: dict[tuple[str, str], tuple[datetime | None, Feed]] = {}
        """The last answer to each link, good until the configuration changes (or the date given)."""

    def follow(self, bus: EventBus) -> None:
        """Keep the index and caches in step with every change that shows in a feed, from any process."""
        bus.subscribe(ConfigurationApplied, self._on_change)
        bus.subscribe(LinkRotated, self._on_change)
        bus.subscribe(AnswerRecorded, self._on_answer)

        bus.subscribe(DeliveriesRecorded, self._on_deliveries)

    async def _on_change(self, event: Event) -> None:
        await self.refresh()

    async def _on_answer(self, event: AnswerRecorded) -> None:
        """An answer changes two feeds (the delegate's and their delegation's): re-read that answer only and
        forget those two feeds, instead of rebuilding the index (a bot press must not cost every feed)."""
        deployment = self.deployment()
        if deployment is None or self._current is not deployment:
            await self.refresh()
            return
        current = _carried(event) or await self.answers.get(event.session_id, event.delegate_id)
        key = (event.session_id, event.delegate_id)
        if current is not None:
            self._rsvps[key] = current
        else:
            self._rsvps.pop(key, None)
        delegate = deployment.delegates.get(event.delegate_id)
        stale = {(LinkScope.DELEGATE, event.delegate_id)}
        if delegate is not None:
            stale.add((LinkScope.DELEGATION, delegate.state))
        tokens = {self._tokens.get(k) for k in stale}
        for view in stale:
            self._views.pop(view, None)
        for hit in [h for h in self._hits if h[0] in tokens]:
            del self._hits[hit]

    async def _on_deliveries(self, event: DeliveriesRecorded) -> None:
        """Calendar messages went out: the SEQUENCE their delegates' feeds show moves with them (only theirs is
        read again: a fan-out's every batch must not read what all the batches before it sent)."""
        if not event.holders:
            self._held.update(await self.announcements.recipients(event.sessions))
        else:
            whose = [(h.partition("/")[0], h.partition("/")[2]) for h in event.holders]
            for session_id, rows in (await self.announcements.recipients_of(whose)).items():
                self._held.setdefault(session_id, {}).update(rows)
        self._records = await self.announcements.all()
        self._views.clear()
        self._hits.clear()

    def links(self, deployment: Deployment, generations: dict[tuple[str, str], int]) -> list[FeedLink]:
        """Every live link: one per delegate and one per delegation."""
        out = [
            FeedLink(LinkScope.DELEGATE, d, self._token(LinkScope.DELEGATE, d, generations))
            for d in deployment.delegates
        ]
        out += [
            FeedLink(LinkScope.DELEGATION, s, self._token(LinkScope.DELEGATION, s, generations))
            for s in sorted({d.state for d in deployment.delegates.values()})
        ]
        return out

    def _token(self, scope: LinkScope, subject: str, generations: dict[tuple[str, str], int]) -> str:
        return feed_token(self.secret, scope, subject, generations.get((scope.value, subject), 0))

    async def refresh(self) -> None:
        """Rebuild the token index and re-read what was announced (after a start, a reload or a rotation).

        Both change only then, so serving a feed reads nothing from the database.
        """
        deployment = self.deployment()
        if deployment is None:
            return
        generations = await self.link_repo.generations()
        self._records = await self.announcements.all()
        self._rsvps = await self.answers.all()
        self._held = await self.announcements.recipients()
        self._views.clear()
        self._hits.clear()
        self._bodies.clear()
        self._index = {link.token: (link.scope, link.subject) for link in self.links(deployment, generations)}
        self._tokens = {scope_subject: token for token, scope_subject in self._index.items()}
        self._current = deployment

    async def public(self, commission_id: str) -> Feed | None:
        """The public calendar of the commission, when its YAML makes it public."""
        deployment = self.deployment()
        if deployment is None or not deployment.commission.public_calendar or commission_id != deployment.commission.id:
            return None
        if self._current is not deployment:
            await self.refresh()
        records = self._records or {}
        key = ("public", tuple(sorted((k, r.digest, r.sequence) for k, r in records.items())))
        return await self._serve(
            key,
            "public",
            commission_id,
            lambda: self.calendars.public_feed(deployment, records, stamp=self.clock.now()),
        )

    async def _serve(self, key: tuple[object, ...], scope: str, subject: str, build: Callable[[], bytes]) -> Feed:
        """A feed from the cache, built (and compressed) once per state of what it shows."""
        feed = self._bodies.get(key)
        if feed is not None:
            self._bodies.move_to_end(key)
            return feed
        body = build()
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        changed = await self.link_repo.changed_at(scope, subject, etag, self.clock.now())
        feed = Feed(body=body, etag=etag, last_modified=changed, gzipped=gzip.compress(body, 6, mtime=0))
        self._bodies[key] = feed
        if len(self._bodies) > self.cache_size:
            self._bodies.popitem(last=False)
        return feed

    async def personal_links(self, delegate_id: str) -> dict[str, str]:
        """The links to put in a delegate's invitation: their calendar feed."""
        deployment = self.deployment()
        if deployment is None or not self.base_url:
            return {}
        if self._current is not deployment:
            await self.refresh()
        token = self._tokens.get((LinkScope.DELEGATE, delegate_id))
        return {"calendar": f"{self.base_url}/calendar/{token}.ics"} if token else {}

    async def feed(self, token: str, scope: str = LinkScope.DELEGATE.value) -> Feed | None:
        """The feed a token opens, or None (unknown, revoked, or a link of the other scope)."""
        deployment = self.deployment()
        if deployment is None:
            return None
        # Calendar clients poll the same feed again and again: answer them without working anything out.
        hit = self._hits.get((token, scope))
        fresh = hit is not None and self._current is deployment
        if hit is not None and fresh and (hit[0] is None or self.clock.now() < hit[0]):
            return hit[1]
        if self._current is not deployment:
            await self.refresh()
        found = self._index.get(token)
        if found is None or found[0].value != scope:
            return None
        link_scope, subject = found
        now = self.clock.now()
        records = self._records or {}
        view_key = (link_scope, subject)
        view = self._views.get(view_key)
        if view is None or (view.valid_until is not None and now >= view.valid_until):
            view = self._view(deployment, records, link_scope, subject, now)
            self._views[view_key] = view
        feed = await self._serve(
            view.key,
            scope,
            subject,
            lambda: self.calendars.personal_feed(
                deployment,
                view.sessions,
                view.records,
                language=view.language,
                stamp=now,
                heads_only_deadlines=view.heads,
                notes=view.notes,
            ),
        )
        self._hits[(token, scope)] = (view.valid_until, feed)
        return feed

    def _view(
        self,
        deployment: Deployment,
        records: dict[str, SessionRecord],
        scope: LinkScope,
        subject: str,
        now: datetime,
    ) -> _View:
        """What a feed shows, worked out once per configuration, not on every poll."""
        if scope is LinkScope.DELEGATE:
            delegate = deployment.delegates[subject]
            members, language, heads = {subject}, delegate.language, delegate.role is Role.HEAD
        else:
            members = {d.id for d in deployment.delegates.values() if d.state == subject}
            state = deployment.states.get(subject)
            language, heads = (state.language if state else deployment.commission.language), True
        sessions = feed_sessions(deployment, members, now, self.keep_cancelled)
        notes = self._answers(deployment, sessions, subject, language) if scope is LinkScope.DELEGATE else {}
        if scope is LinkScope.DELEGATE:
            records = {s.id: self._as_received(records, s.id, subject) for s in sessions if s.id in records}
        state_of_sessions = tuple(
            (s.id, *((r.digest, r.sequence) if (r := records.get(s.id)) else ("", 0))) for s in sessions
        )
        # A cancelled session leaves the feed after a while: the view holds until the first one does.
        expiries = [s.ends_at + self.keep_cancelled for s in sessions if s.status is SessionStatus.CANCELLED]
        return _View(
            key=(scope, subject, language, heads, state_of_sessions, tuple(sorted(notes.items()))),
            sessions=sessions,
            language=language,
            heads=heads,
            valid_until=min(expiries, default=None),
            notes=notes,
            records=records,
        )

    def _as_received(self, records: dict[str, SessionRecord], session_id: str, delegate_id: str) -> SessionRecord:
        """A session's record with the SEQUENCE this delegate last received (or would receive now)."""
        record = records[session_id]
        held = self._held.get(session_id, {}).get(delegate_id)
        if held is None:
            return record
        sequence = held.sequence if held.sequence is not None else record.sequence + held.revision
        return replace(record, sequence=sequence)

    def _answers(
        self, deployment: Deployment, sessions: list[Session], delegate_id: str, language: str
    ) -> dict[str, str]:
        """The delegate's answers to their invitations, as lines for the sessions' descriptions."""
        notes: dict[str, str] = {}
        for session in sessions:
            rsvp = self._rsvps.get((session.id, delegate_id))
            if rsvp is None:
                continue
            substitute = deployment.delegates.get(rsvp.substitute_id or "")
            name = localize(substitute.name, language, deployment.commission.language) if substitute else None
            answer, source = rsvp.answer.value, rsvp.source.value
            notes[session.id] = self.renderer.rsvp_note(deployment, language, answer, name, source)
        return notes


def _carried(event: AnswerRecorded) -> Rsvp | None:
    """The answer an event carries whole (events logged before it did carry only the answer's kind)."""
    if not event.answered_at or not event.source:
        return None
    try:
        return Rsvp(
            session_id=event.session_id,
            delegate_id=event.delegate_id,
            answer=RsvpAnswer(event.answer),
            substitute_id=event.substitute_id,
            answered_at=datetime.fromisoformat(event.answered_at),
            source=RsvpSource(event.source),
            comment=event.comment,
        )
    except ValueError:
        return None
