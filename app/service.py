"""The running service's lifecycle: start in order, reload safely, stop in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy.engine import make_url

from app.bootstrap import Services, bootstrap, default_channels
from app.instance import AlreadyRunning, DatabaseLock
from app.mailbox import LOOP, mailbox_reader, read_mailbox
from app.secrets import server_secret
from app.tasks import TaskRegistry
from bot.application import Polling
from bot.application import build as build_bot
from bot.webhook import Webhook
from config.loader import LoadResult, load
from config.settings import Settings
from domain.changes import removed_announced
from domain.delivery import ChannelUnavailable
from domain.deployment import Deployment
from domain.ports import Channel, Clock
from integrations.telegram.channel import ConsoleTelegram, TelegramChannel
from integrations.telegram.request import bot_requests
from messages import catalogues
from messages.pages import WebPages
from scheduler.dispatcher import RetryPolicy
from scheduler.service import PlanningError
from services.housekeeping import prune_updates
from services.video import LOOP as VIDEO_LOOP
from storage.engine import describe
from storage.migrate import upgrade
from web.app import Metrics, create_app

log = logging.getLogger("plenary")

LEADERSHIP_LOOP = "leadership"
PRUNE_LOOP = "telegram-updates"
LEADER_TASKS = (VIDEO_LOOP, LOOP, PRUNE_LOOP)
"""What only the leader runs, besides the timeline and long polling: the video platforms' housekeeping (hooks
registered again, meetings reconciled), the mailbox, forgetting old Telegram updates."""


class ConfigurationError(Exception):
    """The configuration has errors; the service does not start on it."""

    def __init__(self, result: LoadResult | None = None, problems: Sequence[str] = ()) -> None:
        self.result = result
        self.problems = [str(p) for p in result.problems] if result is not None else list(problems)
        super().__init__(f"{len(self.problems)} problem(s) in the configuration")


@dataclass
class Service:
    """Plenary's service: ``start`` brings it up, ``reload`` re-reads the YAML, ``stop`` takes it down."""

    settings: Settings
    paths: Sequence[str]
    clock: Clock
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    channels: dict[str, Channel] | None = None
    retry: RetryPolicy | None = None
    worker: str | None = None
    services: Services | None = None
    http_port: int = 0
    _lock: DatabaseLock | None = None
    _bot: Polling | Webhook | None = None

    @property
    def deployment(self) -> Deployment | None:
        """The configuration in force."""
        return self.services.configuration.current if self.services else None

    async def start(self) -> None:
        """Lock, migrate, load (refusing errors), open channels, then HTTP, dispatcher and timeline, in that order."""
        url = self.settings.resolved_database_url()
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
            self._lock = DatabaseLock(Path(parsed.database))
            self._lock.acquire()  # before anything is touched: a second process must change nothing
        try:
            await self._start(url)
        except BaseException:
            if self._lock is not None:
                self._lock.release()
            raise

    async def _start(self, url: str) -> None:
        log.info("database: %s", describe(url))
        result = load(self.paths, self.environ, catalogues.languages())
        if result.deployment is None:
            raise ConfigurationError(result)
        await upgrade(url)
        s = self.services = bootstrap(
            self.settings, self.clock, channels=self.channels, retry=self.retry, worker=self.worker, lead=True
        )
        self.tasks = TaskRegistry(s.loops)
        try:
            await self._bring_up(s, result)
        except BaseException:
            await s.store.close()
            raise

    async def _bring_up(self, s: Services, result: LoadResult) -> None:
        deployment = result.deployment
        assert deployment is not None
        for warning in result.warnings:
            log.warning("%s", warning)
        # Refused before anything starts. The timeline reads the ledger again when it applies: by then the
        # dispatcher may have settled notices, and planning from an older ledger could miss who holds what.
        removed = removed_announced(deployment, await s.store.outbox.ledger())
        if removed:
            raise ConfigurationError(problems=removed)
        s.feeds.secret = s.start_links.secret = s.checkins.secret = await server_secret(
            self.settings, s.store, self.clock
        )
        channels = s.channels = self.channels or default_channels(self.settings, deployment, self.clock)
        for channel in channels.values():
            await channel.start()
        telegram = channels.get("telegram")
        if s.start_links.bot_username is None and isinstance(telegram, TelegramChannel):
            s.start_links.bot_username = telegram.bot.username  # getMe, when the channel started
        s.dispatcher.channels = channels
        s.composer.console_telegram = isinstance(channels.get("telegram"), ConsoleTelegram)
        if self._lock is not None:  # the only process on this database: whatever is claimed was ours
            reclaimed = await s.store.outbox.release_all(self.clock.now())
            if reclaimed:
                log.warning("took back %d notices that were being sent when the service stopped last", reclaimed)
        await s.events.start()
        self._bot = self._make_bot(s, channels)
        await self._start_http(s)
        self.tasks.spawn("dispatcher", s.dispatcher.run())
        self.tasks.spawn("changes", s.events.follow(s.loops))
        leadership = s.leadership
        assert leadership is not None
        s.timeline.leading = False  # until this replica is elected
        if isinstance(self._bot, Polling):
            self._bot.polling = False
        if isinstance(telegram, TelegramChannel):  # one bot's budget, shared by the replicas that send
            leadership.count(telegram.share)
        leadership.follow(self._leader_changed)
        s.timeline.start()
        await leadership.round()  # alone, or the lease free: this replica leads before it plans
        self.tasks.spawn(LEADERSHIP_LOOP, leadership.run())
        deployment = await s.roster.effective(deployment)  # with the chat's substitutes and choices
        try:
            report = await s.timeline.apply(deployment, s.configuration.put)
        except PlanningError as exc:
            raise ConfigurationError(problems=exc.problems) from None
        await s.configuration.accept(deployment)
        await self._start_bot(s, channels)
        log.info(
            "running %s: %d sessions, %d delegates; next notice due %s",
            deployment.commission.id,
            len(deployment.sessions),
            len(deployment.delegates),
            report.next_due.isoformat() if report.next_due else "never",
        )

    def _make_bot(self, s: Services, channels: Mapping[str, Channel]) -> Polling | Webhook | None:
        """The bot, when there is one and this process answers it: by webhook when a public URL is set, else by
        long polling."""
        token = self.settings.telegram_bot_token
        if (
            token is None
            or self.settings.telegram_updates == "off"
            or not isinstance(channels.get("telegram"), TelegramChannel)
        ):
            return None
        url = self.settings.telegram_webhook_url
        application = build_bot(
            token.get_secret_value(),
            s.conversation,
            self.settings.telegram_api_url,
            webhook=url is not None,
            requests=bot_requests(),
        )
        if url is not None:
            return Webhook(application, s.conversation, url, s.start_links.secret)
        return Polling(application, s.conversation)

    async def _start_bot(self, s: Services, channels: Mapping[str, Channel]) -> None:
        """Answer delegates in Telegram, once the configuration is in force (by long polling: while leading)."""
        if self._bot is None:
            return
        await self._bot.start()
        how = "by webhook" if isinstance(self._bot, Webhook) else "long polling, while this replica leads"
        log.info("the bot answers delegates in Telegram (%s)", how)

    async def _leader_changed(self, term: int | None) -> None:
        """Start the leader's work when elected (the timeline, polling, housekeeping); stop it on stepping down."""
        s = self.services
        assert s is not None
        if s.leadership is not None:
            self.metrics.set_leader(s.leadership.holder, term)
        if term is None:
            s.timeline.follow()
            for name in LEADER_TASKS:
                self.tasks.cancel(name)
            if isinstance(self._bot, Polling):
                await self._bot.pause()
            return
        self.tasks.spawn(VIDEO_LOOP, s.video.run(s.loops, s.video.base_url))
        reader = mailbox_reader(self.settings, s)
        if reader is not None:
            self.tasks.spawn(LOOP, read_mailbox(reader, s.loops))
        if self._bot is not None:
            self.tasks.spawn(PRUNE_LOOP, prune_updates(s.store.updates, s.clock))
        if isinstance(self._bot, Polling):
            await self._bot.resume()
        try:
            await s.timeline.lead()
        except Exception:  # logged, and retried by the timeline's own backoff
            log.warning("the new leader's first synchronisation failed; it is retried")

    async def _start_http(self, s: Services) -> None:
        self.metrics = Metrics()
        s.dispatcher.delivered = self.metrics.observe_delivery
        if s.leadership is not None:
            self.metrics.set_leader(s.leadership.holder, None)
        pages = WebPages()
        app = create_app(s.health, self.metrics, s.feeds, answers=(s.answer_pages, pages), video=(s.video, pages))
        if isinstance(self._bot, Webhook):
            self._bot.route(app)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        server = site._server  # the bound port, when 0 asked for any free one
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http_port
        if not self.settings.public_url:
            s.feeds.base_url = s.answer_pages.base_url = f"http://{self.settings.http_host}:{self.http_port}"
        log.info("HTTP server on http://%s:%d (healthz, readyz, metrics)", self.settings.http_host, self.http_port)

    async def reload(self) -> bool:
        """Re-read the configuration; apply it only if it validates and plans, else keep the one in force."""
        s = self.services
        assert s is not None
        result = await asyncio.to_thread(load, self.paths, self.environ, catalogues.languages())
        if result.deployment is None:
            log.error("the new configuration was refused; still running on the last good one:")
            s.configuration.refuse([str(p) for p in result.errors])
            return False
        deployment = await s.roster.effective(result.deployment)
        try:
            report = await s.timeline.apply(deployment, s.configuration.put)
        except PlanningError as exc:
            log.error("the new configuration was refused; still running on the last good one:")
            s.configuration.refuse(exc.problems)
            return False
        except Exception as exc:  # the database: the timeline retries; the new configuration is in force
            log.error("the new configuration is in force but could not be synchronised yet: %s", exc)
        else:
            log.info("configuration reloaded; %d notices queued", report.enqueued)
        await s.configuration.accept(deployment)
        return True

    async def stop(self) -> None:
        """Stop HTTP and timers, let in-flight sends finish, give back claimed rows, close channels and the database."""
        s = self.services
        if s is None:
            return
        self.tasks.stopping()
        if s.leadership is not None:  # handed over at once: another replica leads at its next round
            await s.leadership.resign()
        if self._bot is not None:
            await self._bot.stop()
        with contextlib.suppress(AttributeError):
            await self.runner.cleanup()
        await s.timeline.stop()
        await s.dispatcher.stop()
        await self.tasks.stop()
        await s.events.stop()
        for channel in (s.channels or {}).values():
            await channel.close()
        s.composer.close()
        await s.store.close()
        if self._lock is not None:
            self._lock.release()


def _mtimes(paths: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in paths:
        path = Path(name)
        files = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")] if path.is_dir() else [path]
        for file in files:
            try:
                out[str(file)] = file.stat().st_mtime
            except OSError:
                continue
    return out


COLLECTOR_THRESHOLDS = (10_000, 10, 10)
"""Allocations (less deallocations) before the youngest generation is collected, and collections of each
generation before the next older one is: CPython's are 700, 10, 10."""


def settle_collector() -> None:
    """Once started: what the service keeps for its life (the wiring, the configuration in force, the
    catalogues) is left out of every later collection (``gc.freeze``), and the youngest generation is collected
    every ``COLLECTOR_THRESHOLDS[0]`` allocations instead of 700. Every webhook and update allocates hundreds of
    short-lived objects, and at 700 the collector took a tenth of the event loop's time under a burst of them
    (``python -m benchmarks.attendance``)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*COLLECTOR_THRESHOLDS)


async def serve(service: Service, *, watch: bool = False, until: datetime | None = None) -> int:
    """Run the service until SIGTERM/SIGINT (or the clock passes ``until``); SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    # Taken before the configuration is read: an edit made while the service starts is reloaded, not missed.
    seen = await asyncio.to_thread(_mtimes, service.paths) if watch else {}
    try:
        await service.start()
    except ConfigurationError as exc:
        for problem in exc.problems:
            log.error("%s", problem)
        log.error("not started: fix the configuration and start again")
        return 1
    except (ChannelUnavailable, AlreadyRunning) as exc:
        log.error("not started: %s", exc)
        return 1
    settle_collector()
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if until is not None and service.clock.now() >= until:
                log.info("the clock has passed %s: stopping", until)
                break
            if watch:
                current = await asyncio.to_thread(_mtimes, service.paths)
                if current != seen:
                    seen = current
                    reload_requested.set()
            if reload_requested.is_set():
                reload_requested.clear()
                await service.reload()
    finally:
        log.info("stopping")
        await service.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    return 0
