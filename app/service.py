"""The running service: storage, channels, the timeline and the dispatcher in one asyncio process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from app.composer import DeliveryComposer
from app.feeds import FeedService, load_secret
from app.health import ServiceHealth
from config.loader import LoadResult, load
from config.settings import Settings
from domain.delivery import ChannelUnavailable
from domain.deployment import Deployment
from domain.ports import Channel, Clock
from domain.values import localize
from integrations.email.channel import MaildirChannel, SmtpChannel
from integrations.telegram.channel import ConsoleTelegram, TelegramChannel
from messages.render import Renderers
from scheduler.dispatcher import Dispatcher, RetryPolicy
from scheduler.service import Timeline
from storage.engine import create_engine, describe
from storage.migrate import upgrade
from storage.repositories import Store
from web.app import Metrics, create_app

log = logging.getLogger("plenary")


class ConfigurationError(Exception):
    """The configuration has errors; the service does not start on it."""

    def __init__(self, result: LoadResult) -> None:
        super().__init__(f"{len(result.errors)} error(s) in the configuration")
        self.result = result


@dataclass
class Service:
    """Plenary's service: ``start`` brings it up, ``reload`` re-reads the YAML, ``stop`` takes it down."""

    settings: Settings
    paths: Sequence[str]
    clock: Clock
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    channels: dict[str, Channel] | None = None
    retry: RetryPolicy | None = None
    deployment: Deployment | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        """Migrate, load the configuration (refusing to start on errors), open channels, plan and dispatch."""
        url = self.settings.resolved_database_url()
        log.info("database: %s", describe(url))
        await upgrade(url)
        self.engine = create_engine(url)
        self.store = Store(self.engine)
        result = load(self.paths, self.environ)
        if result.deployment is None:
            await self.engine.dispose()
            raise ConfigurationError(result)
        for warning in result.warnings:
            log.warning("%s", warning)
        self.deployment = result.deployment
        if self.channels is None:
            self.channels = self._default_channels(result.deployment)
        try:
            for channel in self.channels.values():
                await channel.start()
        except ChannelUnavailable:
            await self.engine.dispose()
            raise
        console = isinstance(self.channels.get("telegram"), ConsoleTelegram)
        renderers = Renderers()
        base_url = self.settings.public_url or f"http://{self.settings.http_host}:{self.settings.http_port}"
        self.feeds = FeedService(
            self.store,
            self.clock,
            load_secret(self.settings),
            lambda: self.deployment,
            keep_cancelled=timedelta(days=self.settings.feed_keep_cancelled_days),
            base_url=base_url,
            renderers=renderers,
        )
        self.composer = composer = DeliveryComposer(
            self.store,
            self.clock,
            self._current,
            console_telegram=console,
            links=self.feeds.personal_links,
            renderers=renderers,
        )
        # A restarted process takes the same name and takes back at once what it held when it died;
        # several processes on one host need distinct PLENARY_WORKER_ID values.
        worker = self.settings.worker_id or socket.gethostname()
        reclaimed = await self.store.release(worker, self.clock.now())
        if reclaimed:
            log.warning("took back %d notices this worker held when it stopped last", reclaimed)
        self.dispatcher = Dispatcher(self.store, self.channels, composer, self.clock, worker, retry=self.retry)
        self.timeline = Timeline(self.store, self.clock, self.dispatcher.wake)
        self._spawn(self.dispatcher.run(), "dispatcher")
        self.timeline.start()
        await self._start_http()
        await self.feeds.refresh()
        report = await self.timeline.apply(result.deployment)
        log.info(
            "running %s: %d sessions, %d delegates; next notice due %s",
            result.deployment.commission.id,
            len(result.deployment.sessions),
            len(result.deployment.delegates),
            report.next_due.isoformat() if report.next_due else "never",
        )

    async def _start_http(self) -> None:
        health = ServiceHealth(self.store, self.timeline, self.clock, lambda: self.deployment)
        self.metrics = Metrics()
        self.runner = web.AppRunner(create_app(health, self.metrics, self.feeds), access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, self.settings.http_host, self.settings.http_port)
        await site.start()
        server = site._server  # the bound port, when 0 asked for any free one
        sockets = getattr(server, "sockets", None) or []
        self.http_port = sockets[0].getsockname()[1] if sockets else self.settings.http_port
        if not self.settings.public_url:
            self.feeds.base_url = f"http://{self.settings.http_host}:{self.http_port}"
        log.info("HTTP server on http://%s:%d (healthz, readyz, metrics)", self.settings.http_host, self.http_port)

    def _current(self) -> Deployment:
        assert self.deployment is not None
        return self.deployment

    def _default_channels(self, deployment: Deployment) -> dict[str, Channel]:
        s = self.settings
        commission = deployment.commission
        sender = s.mail_from or commission.secretariat.email
        sender_name = localize(
            commission.secretariat.name or commission.short_name or commission.name, commission.language
        )
        email: Channel
        if s.smtp_host:
            email = SmtpChannel(
                s.smtp_host,
                s.smtp_port,
                sender,
                sender_name,
                username=s.smtp_username,
                password=s.smtp_password.get_secret_value() if s.smtp_password else None,
                tls=s.smtp_tls,
                reply_to=commission.secretariat.email,
            )
        else:
            email = MaildirChannel(Path(s.data_dir) / "maildir", sender, sender_name)
        telegram: Channel
        if s.telegram_bot_token:
            telegram = TelegramChannel(s.telegram_bot_token.get_secret_value(), s.telegram_api_url)
        else:
            telegram = ConsoleTelegram()
        return {"telegram": telegram, "email": email}

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s stopped with an error", name, exc_info=t.exception())

        task.add_done_callback(done)

    async def reload(self) -> bool:
        """Re-read the configuration; on errors keep the last good one. Return whether it was applied."""
        result = load(self.paths, self.environ)
        if result.deployment is None:
            log.error("the new configuration was refused; still running on the last good one:")
            for problem in result.problems:
                log.error("  %s", problem)
            return False
        self.deployment = result.deployment
        report = await self.timeline.apply(result.deployment)
        await self.feeds.refresh()
        log.info("configuration reloaded; %d notices queued", report.enqueued)
        return True

    async def stop(self) -> None:
        """Stop HTTP and timers, let in-flight sends finish, give back claimed rows, close channels and the database."""
        await self.runner.cleanup()
        await self.timeline.stop()
        await self.dispatcher.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in (self.channels or {}).values():
            await channel.close()
        self.composer.close()
        await self.engine.dispose()


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


async def serve(service: Service, *, watch: bool = False, until: datetime | None = None) -> int:
    """Run the service until SIGTERM/SIGINT (or the clock passes ``until``); SIGHUP reloads."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    reload_requested = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_requested.set)
    try:
        await service.start()
    except ConfigurationError as exc:
        for problem in exc.result.problems:
            log.error("%s", problem)
        log.error("not started: fix the configuration and start again")
        return 1
    except ChannelUnavailable as exc:
        log.error("not started: %s", exc)
        return 1
    seen = await asyncio.to_thread(_mtimes, service.paths) if watch else {}
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
