"""What the rules and the use cases need from outside, as protocols the adapters implement.

One protocol per aggregate's repository (the outbox, announcements, bindings, answers, attendance, feed
links, the audit log), the clock, the channels, the renderer and calendar builder, and the sink that
change events go to.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from domain.delivery import CalendarPart, Change, Delivery, Message
from domain.deployment import Deployment
from domain.events import Event
from domain.feeds import Feed
from domain.leadership import LeaseState, Term
from domain.ledger import Ledger, RecipientRecord, SessionRecord
from domain.model import Delegate, Outcome, Session
from domain.notices import NoticeKind
from domain.outbox import ClaimedItem, OutboxItem, OutboxStats
from domain.pages import AnswerPage
from domain.records import (
    AttendanceEvent,
    AuditEntry,
    Broadcast,
    OutboxEntry,
    Rsvp,
    Substitution,
    TelegramBinding,
)
from domain.records import Preferences as PreferencesRecord
from domain.summary import Summary
from domain.summary_changes import Correction
from domain.video import Participant, Seat, WebhookReading, WebhookRequest


class Clock(Protocol):
    """Tells the time; the service's clock can be simulated and sped up."""

    def now(self) -> datetime:
        """Return the current instant, UTC-aware."""
        ...

    def real_seconds_until(self, moment: datetime) -> float:
        """How many real seconds until this clock shows ``moment`` (0 when it has passed)."""
        ...


class Channel(Protocol):
    """A way to reach delegates (Telegram, e-mail); raises ``DeliveryError`` when it cannot deliver."""

    name: str

    async def start(self) -> None:
        """Open connections and sessions."""
        ...

    async def close(self) -> None:
        """Close connections; in-flight sends are finished first."""
        ...

    async def send(self, delivery: Delivery) -> None:
        """Deliver one message, or raise ``DeliveryError``."""
        ...


class Outbox(Protocol):
    """The durable queue of notices; every state change is conditional on who holds the row."""

    async def ledger(self) -> Ledger:
        """Return what planning needs to know about past deliveries."""
        ...

    async def enqueue(self, entries: Iterable[OutboxItem], now: datetime) -> int:
        """Add notices; a key already present is left alone. Return how many were new."""
        ...

    async def claim_due(
        self,
        now: datetime,
        worker: str,
        lease_seconds: float,
        limit: int,
        *,
        lease_now: datetime | None = None,
    ) -> list[ClaimedItem]:
        """Take up to ``limit`` rows due by ``now`` (or whose lease ran out by ``lease_now``) for this worker."""
        ...

    async def mark_sent(self, item: ClaimedItem, channel: str, now: datetime, note: str | None = None) -> bool:
        """Record a delivery; False when the row is no longer this worker's."""
        ...

    async def mark_sent_many(self, items: Sequence[ClaimedItem], channel: str, now: datetime) -> int:
        """Record many deliveries through one channel at once; return how many were still this worker's."""
        ...

    async def mark_retry(
        self,
        item: ClaimedItem,
        error: str,
        next_attempt_at: datetime,
        channel_index: int,
        now: datetime,
        *,
        channel_attempts: int = 0,
        internal_errors: int | None = None,
    ) -> bool:
        """Put the row back for a later attempt on ``channel_index``, with that channel's attempts so far."""
        ...

    async def mark_failed(self, item: ClaimedItem, error: str, now: datetime) -> bool:
        """Record that the notice can never be delivered."""
        ...

    async def mark_skipped(self, item: ClaimedItem, reason: str, now: datetime) -> bool:
        """Record that the notice is no longer worth sending."""
        ...

    async def release(self, worker: str, now: datetime) -> int:
        """Give back every row this worker holds (on shutdown); return how many."""
        ...

    async def renew(self, worker: str, now: datetime, lease_seconds: float) -> int:
        """Extend the lease of every row this worker holds; return how many."""
        ...

    async def entry(self, key: str) -> OutboxEntry | None:
        """Return one outbox entry by its idempotency key."""
        ...

    async def unsettled(self, *, failed_only: bool, session_id: str | None, limit: int) -> list[OutboxEntry]:
        """Pending, claimed and failed entries (or failed only), oldest due first."""
        ...

    async def retry_failed(self, keys: Sequence[str], now: datetime) -> list[str]:
        """Put failed entries back, due now on their first channel; return the keys that were failed."""
        ...

    async def breakdown(self, now: datetime) -> tuple[dict[tuple[str, str, str], int], int, float]:
        """Counts by (kind, channel, status); notices pending or in flight; age in seconds of the oldest due."""
        ...


class Announcements(Protocol):
    """What was last announced about each session."""

    async def all(self) -> dict[str, SessionRecord]:
        """Every session's record."""
        ...

    async def get(self, session_id: str) -> SessionRecord | None:
        """One session's record, if it was ever announced."""
        ...

    async def save(self, records: Mapping[str, SessionRecord]) -> None:
        """Remember what was announced about these sessions."""
        ...

    async def recipients(self, session_ids: Iterable[str] | None = None) -> dict[str, dict[str, RecipientRecord]]:
        """What each delegate holds of these sessions (all when None)."""
        ...

    async def recipient(self, session_id: str, delegate_id: str) -> RecipientRecord | None:
        """What one delegate holds of one session."""
        ...

    async def recipients_of(self, whose: Iterable[tuple[str, str]]) -> dict[str, dict[str, RecipientRecord]]:
        """What these delegates hold of these sessions, by (session, delegate)."""
        ...

    async def save_recipients(self, records: Mapping[tuple[str, str], RecipientRecord], now: datetime) -> None:
        """Record delegates invited again or uninvited."""
        ...


class Bindings(Protocol):
    """Which Telegram account speaks for which delegate."""

    async def bind(self, binding: TelegramBinding) -> None:
        """Bind (or re-bind) a delegate's account."""
        ...

    async def get(self, delegate_id: str) -> TelegramBinding | None:
        """A delegate's binding, if any."""
        ...

    async def delegate_for(self, telegram_user_id: int) -> str | None:
        """The delegate a Telegram account is bound to, if any."""
        ...

    async def unbind(self, delegate_id: str) -> bool:
        """Remove a delegate's binding; whether there was one."""
        ...


class Answers(Protocol):
    """Delegates' answers to invitations."""

    async def record(self, rsvp: Rsvp) -> None:
        """Record an answer, replacing the delegate's earlier one for that session."""
        ...

    async def record_many(self, rsvps: Sequence[Rsvp]) -> None:
        """Record answers in their order (a later one for the same delegate and session replaces an earlier)."""
        ...

    async def all(self) -> dict[tuple[str, str], Rsvp]:
        """Every answer by (session, delegate)."""
        ...

    async def for_session(self, session_id: str) -> list[Rsvp]:
        """A session's answers."""
        ...

    async def get(self, session_id: str, delegate_id: str) -> Rsvp | None:
        """A delegate's latest answer for a session, if any."""
        ...

    async def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Rsvp]:
        """The latest answers of these (session, delegate) pairs; a pair with none is left out."""
        ...

    async def history(self, session_id: str, delegate_id: str) -> list[Rsvp]:
        """Every answer a delegate gave for a session, oldest first (the last is the one in force)."""
        ...


class Updates(Protocol):
    """The Telegram updates handled, so that a replayed one is handled once."""

    async def first_time(self, update_id: int, now: datetime) -> bool:
        """Note an update; True the first time its id is seen, False for a replay."""
        ...

    async def noted(self, update_id: int) -> None:
        """Wait until an update's note is stored (it may be written while the update is handled); raise if it
        could not be (the update is then not acknowledged, and its next delivery is handled)."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget updates received before ``before`` (Telegram replays only recent ones); how many."""
        ...

    async def forget(self, update_id: int) -> None:
        """Forget one update whose handling failed, so that Telegram's next delivery of it is handled."""
        ...


class Preferences(Protocol):
    """Delegates' own choices of language and time zone, made in the bot."""

    async def get(self, delegate_id: str) -> PreferencesRecord | None:
        """A delegate's choices, if they made any."""
        ...

    async def put(self, preferences: PreferencesRecord) -> None:
        """Keep a delegate's choices, replacing earlier ones."""
        ...

    async def all(self) -> dict[str, PreferencesRecord]:
        """Every delegate's choices, by delegate id."""
        ...


class Nudges(Protocol):
    """When each delegate was last nudged to answer an invitation."""

    async def last(self, session_id: str) -> dict[str, datetime]:
        """For a session, when each delegate nudged so far was last nudged."""
        ...

    async def record(self, session_id: str, delegate_ids: Sequence[str], at: datetime) -> None:
        """Note that these delegates were nudged now."""
        ...


class Substitutions(Protocol):
    """Members replaced for a session by another member of their delegation."""

    async def name(self, substitution: Substitution) -> None:
        """Record a substitution, replacing an earlier one for the same member and session."""
        ...

    async def withdraw(self, session_id: str, delegate_id: str) -> bool:
        """Undo a member's substitution; whether there was one."""
        ...

    async def for_session(self, session_id: str | None = None) -> list[Substitution]:
        """A session's substitutions (every session's, when None), by replaced member."""
        ...


class Broadcasts(Protocol):
    """The secretariat's messages to everyone invited: written first, sent once confirmed."""

    async def write(self, session_id: str, text: str, written_by: str, at: datetime) -> int:
        """Keep a message written and not yet confirmed; its id."""
        ...

    async def get(self, broadcast_id: int) -> Broadcast | None:
        """A message, if it exists."""
        ...

    async def mark_sent(self, broadcast_id: int, sent_by: str, at: datetime, recipients: int) -> bool:
        """Record that it was confirmed and queued; False when it already was (pressed twice)."""
        ...


class Closures(Protocol):
    """Sessions the secretariat closed."""

    async def close(self, session_id: str, closed_by: str, at: datetime) -> bool:
        """Close a session; False when it was closed already."""
        ...

    async def closed_at(self, session_id: str) -> datetime | None:
        """When a session was closed, if it was."""
        ...


class Attendance(Protocol):
    """Facts of attendance."""

    async def add(self, event: AttendanceEvent, recorded_at: datetime) -> bool:
        """Record a fact; False when its source already reported it."""
        ...

    async def add_many(
        self, events: Sequence[AttendanceEvent], recorded_at: datetime, logged_by: str | None = None
    ) -> list[bool]:
        """Record facts in one statement; for each, whether it was new (not already reported by its source).
        With ``logged_by`` (a process's origin), an ``AttendanceRecorded`` for each session with new facts is
        written to the change log in the same transaction, as ``EventSink.publish_many`` would have."""
        ...

    async def for_session(self, session_id: str) -> list[AttendanceEvent]:
        """A session's facts in the order they happened."""
        ...


class Links(Protocol):
    """Feed links: generations (raised to revoke) and when each feed last changed."""

    async def generations(self) -> dict[tuple[str, str], int]:
        """The generation of every rotated link."""
        ...

    async def rotate(self, scope: str, subject: str, now: datetime) -> int:
        """Revoke a link; return its new generation."""
        ...

    async def changed_at(self, scope: str, subject: str, etag: str, now: datetime) -> datetime:
        """When a feed last changed, given the ETag it has now."""
        ...


class Audit(Protocol):
    """Who did what, when."""

    async def append(self, entry: AuditEntry) -> None:
        """Add an entry."""
        ...

    async def trail(self, limit: int = 100, subject: str | None = None) -> Sequence[AuditEntry]:
        """The newest entries, newest first."""
        ...


class Database(Protocol):
    """The database as a whole, for health checks."""

    async def ping(self, within: float = 2.0) -> bool:
        """Whether it answers within ``within`` seconds."""
        ...


class Renderer(Protocol):
    """Turns a notice into the words a delegate reads, in their language and time zone."""

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
        """Render one notice for one delegate, for every channel. ``extra``: what a notice made in the chat
        carries (``text``, the secretariat's words in a broadcast; ``substitute`` and ``head``, delegate ids)."""
        ...

    def rsvp_note(
        self,
        deployment: Deployment,
        language: str,
        answer: str,
        substitute: str | None = None,
        source: str | None = None,
    ) -> str:
        """One line saying what a delegate answered (and where, given its ``source``), for their calendar."""
        ...


class Phrases(Protocol):
    """What the bot says, by key, in a language: the words come from the message catalogues."""

    def languages(self) -> tuple[str, ...]:
        """The languages there are words in."""
        ...

    def say(self, language: str, key: str, /, **values: str) -> str:
        """A phrase in a language (or the nearest one there are words in), with its values put in."""
        ...

    def span(self, deployment: Deployment, delegate_id: str, session_id: str) -> str:
        """When a session runs, in its zone and (when it differs) the delegate's, in the delegate's language."""
        ...

    def when(self, deployment: Deployment, delegate_id: str, moment: datetime, zone: str) -> str:
        """An instant in a zone and (when it differs) the delegate's, in the delegate's language."""
        ...

    def clock_time(self, language: str, moment: datetime, zone: str) -> str:
        """The time of day of an instant in a zone (``14:05``), in a language's format."""
        ...


class Calendars(Protocol):
    """Builds iCalendar objects: invitations for e-mail, feeds for subscriptions."""

    def invitation(
        self,
        deployment: Deployment,
        session: Session,
        delegate: Delegate,
        *,
        sequence: int,
        stamp: datetime,
        cancel: bool,
        join_url: str | None = None,
    ) -> CalendarPart:
        """The iMIP REQUEST (or CANCEL) for one delegate; ``join_url``: their own link into the meeting."""
        ...

    def personal_feed(
        self,
        deployment: Deployment,
        sessions: list[Session],
        records: Mapping[str, SessionRecord],
        *,
        language: str,
        stamp: datetime,
        heads_only_deadlines: bool,
        notes: Mapping[str, str] | None = None,
    ) -> bytes:
        """A delegate's or delegation's feed."""
        ...

    def public_feed(self, deployment: Deployment, records: Mapping[str, SessionRecord], *, stamp: datetime) -> bytes:
        """The public calendar."""
        ...


class Transactions(Protocol):
    """Makes a use case's writes one transaction: all of them are stored, or none."""

    def __call__(self) -> AbstractAsyncContextManager[None]:
        """``async with transactions():`` — every write of this task inside is one transaction (an inner
        ``transactions()`` joins the outer); reads of the repositories inside see those writes."""
        ...

    def active(self) -> bool:
        """Whether the task is inside an open transaction (its writes join it)."""
        ...

    def after_commit(self, callback: Callable[[], Awaitable[None]]) -> bool:
        """Run ``callback`` once the task's open transaction is committed (never, if it is rolled back); False
        when the task is in none (the caller does the work itself)."""
        ...


class Pages(Protocol):
    """The web pages a delegate reads, in their language."""

    def answer_page(self, page: AnswerPage, form: str) -> str:
        """A delegate's answer page (HTML), its form carrying ``form`` (bound to the reader's browser)."""
        ...

    def missing(self, language: str) -> str:
        """The page for a link that opens nothing (HTML), in ``language`` or the nearest there is."""
        ...

    def join_page(
        self, deployment: Deployment, delegate_id: str, session_id: str, outcome: str, opens_at: datetime | None
    ) -> str:
        """The page of a join link that cannot take the delegate in now (``later``, ``over``, ``unavailable``)."""
        ...

    def refused(self, language: str) -> str:
        """The page for a form that another site, or an old page, sent (HTML)."""
        ...


class EventSink(Protocol):
    """Where use cases publish what they changed."""

    async def publish(self, event: Event) -> None:
        """Tell this process's subscribers now, and other processes through the database."""
        ...

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Publish events in their order, logged together."""
        ...

    @property
    def origin(self) -> str | None:
        """The name this process logs its events under; None when events are not logged for other processes."""
        ...

    async def logged(self, events: Sequence[Event]) -> None:
        """Tell this process's subscribers of events already written to the change log (in a transaction that
        committed), as ``publish_many`` would have once logged."""
        ...


class Composer(Protocol):
    """Turns an outbox row into a delivery for one channel, with the current configuration."""

    async def compose(self, item: ClaimedItem, channel: str) -> Delivery | None:
        """Render the notice for this channel; None when the delegate cannot be reached there."""
        ...

    def companion(self, item: ClaimedItem, channel: str, now: datetime) -> OutboxItem | None:
        """The e-mail that must follow a notice delivered through ``channel`` (a calendar invitation or
        cancellation that reached the delegate in Telegram goes to their calendar by e-mail too), if any."""
        ...


class Health(Protocol):
    """What readiness and metrics need to know about the running service."""

    async def database_ok(self) -> bool:
        """Whether the database answers (within a short timeout)."""
        ...

    def checks(self) -> dict[str, bool]:
        """The service's own checks besides the database: configuration, loops, scheduler."""
        ...

    def details(self) -> dict[str, str]:
        """Why a check fails, by check, in words for the operator."""
        ...

    def scheduled_jobs(self) -> int:
        """How many timer jobs are set."""
        ...

    async def outbox_stats(self) -> OutboxStats:
        """Notices by kind, channel and status; the outbox depth and its oldest due notice's age."""
        ...


class Feeds(Protocol):
    """Finds the feed a token opens."""

    async def feed(self, token: str, scope: str) -> Feed | None:
        """The feed, or None for an unknown or revoked token (or one of another scope)."""
        ...

    async def public(self, commission_id: str) -> Feed | None:
        """The public calendar, or None when the commission does not publish one."""
        ...


class ChangeLog(Protocol):
    """The database's record of change events, read by every process to follow the others."""

    async def append(self, event: Event, origin: str, now: datetime) -> int:
        """Record an event published by process ``origin``; return its position."""
        ...

    async def append_many(self, events: Sequence[Event], origin: str, now: datetime) -> None:
        """Record events published together by process ``origin``, in their order."""
        ...

    async def since(self, position: int, limit: int = 500) -> list[tuple[int, str, Event]]:
        """Events after ``position`` (position, origin, event), oldest first."""
        ...

    async def last(self) -> int:
        """The position of the newest event (0 when there is none)."""
        ...

    async def listen(self, wake: Callable[[], None]) -> bool:
        """Call ``wake`` when another process appends, where the database can push; whether it can."""
        ...

    async def unlisten(self) -> None:
        """Stop listening."""
        ...


class VideoProvider(Protocol):
    """A video platform: a personal way into a session's meeting, its webhooks read and checked, and who it says
    is on the call now. One per provider named in sessions' ``video:`` blocks."""

    name: str

    async def join_url(self, session: Session, seat: Seat, now: datetime) -> str:
        """A personal URL into the session's meeting for this seat, made now (creating the meeting if need be)."""
        ...

    async def read_webhook(self, sessions: Sequence[Session], request: WebhookRequest) -> WebhookReading:
        """Check a webhook's signature over its raw bytes against the secrets of these sessions (those on this
        provider), then read its events for them; a forged, stale or malformed one is refused with nothing read."""
        ...

    async def present(self, session: Session) -> list[Participant] | None:
        """Who the platform says is in the session's meeting now; None when it cannot say (not running)."""
        ...

    async def keep_up(self, sessions: Sequence[Session], callback_url: str, now: datetime) -> None:
        """Periodic upkeep for upcoming and running sessions (webhooks registered again, tokens renewed)."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class VideoState(Protocol):
    """What a provider keeps about a session's meeting between calls (a meeting id, its registrants)."""

    async def get(self, provider: str, session_id: str) -> dict[str, object] | None:
        """The provider's data for the session's meeting, if any."""
        ...

    async def put(self, provider: str, session_id: str, data: dict[str, object]) -> None:
        """Keep the provider's data for the session's meeting, replacing what was there."""
        ...


class SummaryDocuments(Protocol):
    """A summary written out in a reader's language (``fallback``: the commission's, for texts not in it;
    ``correction``: what a corrected summary corrects)."""

    def language_for(self, language: str, fallback: str) -> str:
        """The language a reader of ``language`` gets."""
        ...

    def subject(self, summary: Summary, language: str, fallback: str, correction: Correction | None = None) -> str:
        """Its title on one line."""
        ...

    def markdown(self, summary: Summary, language: str, fallback: str, correction: Correction | None = None) -> str:
        """Markdown, which reads as plain text as well."""
        ...

    def html(
        self,
        summary: Summary,
        language: str,
        fallback: str,
        chart: str | None = None,
        correction: Correction | None = None,
    ) -> str:
        """An HTML document (``chart``: the URL of its chart, to show it)."""
        ...

    def telegram(
        self,
        summary: Summary,
        language: str,
        fallback: str,
        correction: Correction | None = None,
        draft: bool = False,
    ) -> str:
        """In short, in Telegram's HTML, short enough for a photo's caption."""
        ...

    def pdf(self, summary: Summary, language: str, fallback: str) -> bytes:
        """The attendance annex to print and sign (A4)."""
        ...

    def chart(self, summary: Summary, language: str, fallback: str) -> bytes:
        """A PNG chart of attendance by state."""
        ...


class SummaryArchive(Protocol):
    """Where summaries are kept as files."""

    def write(self, session_id: str, name: str, data: bytes) -> str:
        """Keep one file of a session's summary (whole, or not at all); where it is."""
        ...

    def read(self, session_id: str, name: str) -> bytes | None:
        """One file of a session's summary, if kept."""
        ...


class PublishedSummaries(Protocol):
    """Each published version of a session's summary."""

    async def latest(self, session_id: str) -> tuple[int, Summary] | None:
        """The newest version and its number, if one was published."""
        ...

    async def version(self, session_id: str, version: int) -> tuple[Summary, datetime] | None:
        """One version, and when it was published."""
        ...

    async def publish(self, summary: Summary, version: int, at: datetime) -> bool:
        """Keep a version; False when that version was published already (the first one stands)."""
        ...


class Outcomes(Protocol):
    """The decisions the secretariat records in the chat during a session."""

    async def add(self, session_id: str, item: int, text: str, by: str, at: datetime) -> None:
        """Record one on an agenda item (its number, from 1)."""
        ...

    async def for_session(self, session_id: str) -> list[Outcome]:
        """The session's, in the order they were recorded."""
        ...


class Leases(Protocol):
    """The replicas' leader lease (``domain.leadership``), kept with the database's clock."""

    async def campaign(self, holder: str, seconds: float) -> LeaseState:
        """Take the lease if it is free or has run out (a new term), extend it if ``holder`` holds it; the lease
        as it then stands, whoever holds it."""
        ...

    async def resign(self, holder: str, term: int | None) -> None:
        """A replica stopping: give the lease up at once if it holds it for ``term`` (another may take it at its
        next campaign), and no longer count it among the replicas."""
        ...

    async def fence(self, holder: str, term: int) -> None:
        """Inside the caller's transaction: raise ``Deposed`` unless ``holder`` holds the lease for ``term``,
        unexpired; and keep it from being taken over until that transaction ends."""
        ...

    async def terms(self) -> list[Term]:
        """Every term recorded, oldest first."""
        ...
