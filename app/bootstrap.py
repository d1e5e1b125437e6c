"""The composition root: builds every adapter and use case from the settings, and nothing starts here."""

from __future__ import annotations

import os
import secrets as random
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from app.clock import SystemClock
from bot.conversation import Conversation, Desk
from config.settings import Settings
from domain.deployment import Deployment
from domain.events import AttendanceRecorded, CalendarReplyRefused, QuorumChanged, SessionClosed
from domain.ports import Channel, Clock, VideoProvider
from domain.values import localize
from integrations.calendar.builder import IcsCalendars
from integrations.email.channel import MaildirChannel, SmtpChannel
from integrations.telegram.channel import ConsoleTelegram, TelegramChannel
from integrations.video import providers as video_adapters
from messages.conversation import Phrasebook
from messages.render import Renderers
from messages.summary import SummaryDocuments
from scheduler.dispatcher import Dispatcher, RetryPolicy
from scheduler.service import Timeline
from services.answer_pages import AnswerPages
from services.answers import AnswerService
from services.attendance import AttendanceService
from services.bindings import Accounts, BindingService, StartLinks
from services.calendar_replies import CalendarReplies
from services.checkins import CheckinService
from services.configuration import Configuration
from services.delegations import DelegationService
from services.delivery import DeliveryComposer
from services.events import EventBus
from services.feeds import FeedService
from services.health import ServiceHealth
from services.leadership import Leadership, SoleLeadership
from services.links import LinkService
from services.roster import Roster
from services.steering import SteeringService
from services.summaries import SummaryService
from services.summary_review import SummaryReview
from services.supervision import Loops
from services.video import VideoService
from storage.archive import FileArchive
from storage.engine import create_engine
from storage.repositories import Store


@dataclass
class Services:
    """Everything the edges (HTTP, bot, scheduler, command line) call, wired to its adapters."""

    settings: Settings
    clock: Clock
    worker: str
    store: Store
    events: EventBus
    configuration: Configuration
    loops: Loops
    renderer: Renderers
    calendars: IcsCalendars
    feeds: FeedService
    links: LinkService
    answers: AnswerService
    answer_pages: AnswerPages
    calendar_replies: CalendarReplies
    attendance: AttendanceService
    video: VideoService
    summaries: SummaryService
    review: SummaryReview
    leadership: Leadership | None
    bindings: BindingService
    start_links: StartLinks
    conversation: Conversation
    roster: Roster
    checkins: CheckinService
    health: ServiceHealth
    timeline: Timeline
    dispatcher: Dispatcher
    composer: DeliveryComposer
    channels: dict[str, Channel] | None = None


def worker_name(settings: Settings) -> str:
    """This process's name in outbox leases and the change log: unique per process unless set."""
    if settings.worker_id:
        return settings.worker_id
    return f"{socket.gethostname()}:{os.getpid()}:{random.token_hex(3)}"


def elect(store: Store, worker: str) -> Leadership:
    """This replica's part in the election: by the lease on PostgreSQL (as ``worker`` and a token of this
    process, so that two processes never share a holder's name), alone on SQLite (one process per file)."""
    if store.engine.dialect.name == "postgresql":
        return Leadership(store.leases, f"{worker}#{random.token_hex(3)}")
    return SoleLeadership(worker)


def bootstrap(
    settings: Settings,
    clock: Clock | None = None,
    *,
    channels: dict[str, Channel] | None = None,
    retry: RetryPolicy | None = None,
    worker: str | None = None,
    store: Store | None = None,
    secret: bytes = b"",
    video_providers: Mapping[str, VideoProvider] | None = None,
    lead: bool = False,
) -> Services:
    """Build the service's parts; ``clock``, ``channels``, ``store`` and the rest override the defaults (tests,
    demos): the real clock, the channels the settings describe (chosen at start), the store at the settings' URL.
    ``lead``: the service's replica, which takes part in the election of a leader (``services.leadership``) and
    plans only while it leads; without it (tools, tests that drive the parts) the timeline plans unfenced."""
    clock = clock or SystemClock()
    store = store or Store(create_engine(settings.resolved_database_url()))
    worker = worker or worker_name(settings)
    loops = Loops()
    events = EventBus(store.changes, clock, worker, transactions=store.transactions)
    configuration = Configuration(events)
    renderer, calendars = Renderers(), IcsCalendars()
    base_url = settings.public_url or f"http://{settings.http_host}:{settings.http_port}"
    feeds = FeedService(
        store.links,
        store.announcements,
        store.answers,
        renderer,
        calendars,
        clock,
        secret,
        configuration.get,
        keep_cancelled=timedelta(days=settings.feed_keep_cancelled_days),
        base_url=base_url,
    )
    feeds.follow(events)
    start_links = StartLinks(
        store.links, store.bindings, configuration.get, secret, bot_username=settings.telegram_bot_username
    )

    async def personal_links(delegate_id: str) -> dict[str, str]:
        return {**await feeds.personal_links(delegate_id), **await start_links.personal_links(delegate_id)}

    phrases = Phrasebook()
    answers = AnswerService(store.answers, events, clock, configuration.get, store.transactions)
    answer_pages = AnswerPages(store.links, answers, configuration.get, clock, lambda: start_links.secret, base_url)
    composer = DeliveryComposer(
        store.bindings,
        store.announcements,
        renderer,
        calendars,
        clock,
        configuration.require,
        console_telegram=bool(channels is None and settings.telegram_bot_token is None),
        links=personal_links,
        phrases=phrases,
        secret=lambda: start_links.secret,
        answer_link=answer_pages.url,
        join_link=lambda delegate_id, session_id: video.url(delegate_id, session_id),
        summary=lambda session_id, language, version, press: summaries.notice(session_id, language, version, press),
        draft=lambda session_id, language: review.draft(session_id, language),
    )
    dispatcher = Dispatcher(
        store.outbox,
        channels or {},
        composer,
        clock,
        worker,
        retry=retry,
        loops=loops,
        lease_seconds=settings.lease_seconds,
        events=events,
    )
    leadership = elect(store, worker) if lead else None
    timeline = Timeline(
        store.outbox,
        store.announcements,
        clock,
        dispatcher.wake,
        loops=loops,
        transactions=store.transactions,
        fence=leadership.fence if leadership is not None else None,
    )
    health = ServiceHealth(
        store,
        store.outbox,
        clock,
        configuration,
        loops,
        scheduled_jobs=lambda: len(timeline.scheduler.get_jobs()) if timeline.scheduler.running else 0,
    )
    accounts = Accounts(store.bindings)
    accounts.follow(events)
    bindings = BindingService(accounts, events, clock, start_links, store.audit)
    attendance = AttendanceService(
        store.attendance,
        events,
        clock,
        configuration.get,
        store.substitutions,
        store.closures,
        store.audit,
    )
    events.subscribe(AttendanceRecorded, attendance.heard, remote=True)
    checkins = CheckinService(attendance, store.audit, clock, configuration.get, store.closures, secret)
    providers = video_providers if video_providers is not None else video_adapters(base_url, store.video)
    video = VideoService(
        providers, attendance, configuration.get, clock, store.links, lambda: start_links.secret, base_url
    )
    archive = FileArchive(Path(settings.data_dir) / "summaries")
    summaries = SummaryService(
        attendance,
        SummaryDocuments(),
        clock,
        configuration.get,
        store.outcomes,
        archive,
        store.summaries,
        store.outbox,
        dispatcher.wake,
    )
    review = SummaryReview(summaries)
    events.subscribe(SessionClosed, review.closed)

    async def put_in_force(deployment: Deployment) -> None:
        await timeline.apply(deployment, configuration.put)
        await configuration.accept(deployment)

    roster = Roster(store.substitutions, store.preferences, put_in_force)
    desk = Desk(
        bindings=bindings,
        accounts=accounts,
        updates=store.updates,
        phrases=phrases,
        clock=clock,
        deployment=configuration.get,
        answers=answers,
        attendance=attendance,
        summaries=summaries,
        review=review,
        checkins=checkins,
        delegations=DelegationService(
            answers, store.substitutions, roster, store.audit, clock, configuration.get, store.outbox
        ),
        steering=SteeringService(
            store.answers,
            store.nudges,
            store.outbox,
            store.audit,
            clock,
            configuration.get,
            store.broadcasts,
            store.closures,
            events,
        ),
        renderer=renderer,
        preferences=store.preferences,
        roster=roster,
        links=feeds.personal_links,
        secret=lambda: start_links.secret,
    )
    conversation = Conversation(desk)
    events.subscribe(CalendarReplyRefused, conversation.tell_reply_refused)
    events.subscribe(QuorumChanged, conversation.tell_quorum)
    return Services(
        settings=settings,
        clock=clock,
        worker=worker,
        store=store,
        events=events,
        configuration=configuration,
        loops=loops,
        renderer=renderer,
        calendars=calendars,
        feeds=feeds,
        links=LinkService(store.links, events, clock, accounts),
        answers=answers,
        answer_pages=answer_pages,
        calendar_replies=CalendarReplies(answers, store.announcements, events, clock, configuration.get),
        attendance=attendance,
        video=video,
        summaries=summaries,
        review=review,
        leadership=leadership,
        bindings=bindings,
        conversation=conversation,
        roster=roster,
        checkins=checkins,
        start_links=start_links,
        health=health,
        timeline=timeline,
        dispatcher=dispatcher,
        composer=composer,
        channels=channels,
    )


def default_channels(settings: Settings, deployment: Deployment, clock: Clock) -> dict[str, Channel]:
    """Telegram and e-mail as the settings ask: real servers when configured, else the console and a Maildir."""
    commission = deployment.commission
    sender = settings.mail_from or commission.secretariat.email
    sender_name = localize(commission.secretariat.name or commission.short_name or commission.name, commission.language)
    email: Channel
    if settings.smtp_host:
        email = SmtpChannel(
            settings.smtp_host,
            settings.smtp_port,
            sender,
            sender_name,
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            tls=settings.smtp_tls,
            reply_to=commission.secretariat.email,
            clock=clock,
        )
    else:
        email = MaildirChannel(Path(settings.data_dir) / "maildir", sender, sender_name, clock=clock)
    telegram: Channel
    if settings.telegram_bot_token:
        telegram = TelegramChannel(settings.telegram_bot_token.get_secret_value(), settings.telegram_api_url)
    else:
        telegram = ConsoleTelegram()
    return {"telegram": telegram, "email": email}
