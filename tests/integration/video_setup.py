"""What the video service tests share: a session of the example made to run now, and the service's parts behind
its real HTTP server on a free port, that port its public address."""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from app.bootstrap import Services, bootstrap
from app.clock import SystemClock
from config.settings import Settings
from domain.deployment import Deployment
from domain.events import Event, QuorumChanged
from domain.model import Session
from domain.ports import Channel, Clock
from integrations.video import providers
from messages.pages import WebPages
from storage.repositories import Store
from tests.integration.bot_setup import SECRET
from web.app import Metrics, create_app


def running_now(deployment: Deployment, session_id: str, **video: Any) -> tuple[Deployment, Session]:
    """The session as in the example, begun ten minutes ago (the doubles stamp events with the real clock), its
    ``video`` block changed by ``video`` (to point it at a double)."""
    base = deployment.sessions[session_id]
    start = (datetime.now(ZoneInfo(base.timezone)) - timedelta(minutes=10)).replace(tzinfo=None, microsecond=0)
    values = base.model_dump()
    values.update(start=start, end=start + timedelta(hours=3))
    values["video"] = {**values["video"], **video}
    session = Session.model_validate(values)
    return dataclasses.replace(deployment, sessions={**deployment.sessions, session.id: session}), session


@contextlib.asynccontextmanager
async def service(
    store: Store,
    deployment: Deployment,
    *,
    clock: Clock | None = None,
    channels: dict[str, Channel] | None = None,
    data_dir: Path | None = None,
    **urls: str,
) -> AsyncIterator[tuple[Services, str, list[Event]]]:
    """The service's parts and its HTTP server on a free port, that port its public address; and the
    ``QuorumChanged`` events heard. ``urls``: the Zoom API's and OAuth's addresses (a double's); ``clock``
    (the real one by default), ``channels`` (none by default) and ``data_dir`` (the summaries' archive) as
    ``bootstrap`` takes them."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    public = f"http://127.0.0.1:{sock.getsockname()[1]}"
    settings = Settings(public_url=public) if data_dir is None else Settings(public_url=public, data_dir=data_dir)
    services = bootstrap(
        settings, clock or SystemClock(), store=store, channels=channels or {}, secret=SECRET,
        video_providers=providers(public, store.video, **urls),
    )  # fmt: skip
    services.configuration.put(deployment)
    services.roster.base = deployment
    heard: list[Event] = []

    async def hear(event: QuorumChanged) -> None:
        heard.append(event)

    services.events.subscribe(QuorumChanged, hear)
    app = create_app(services.health, Metrics(), services.feeds, video=(services.video, WebPages()))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    try:
        yield services, public, heard
    finally:
        await runner.cleanup()
        for provider in services.video.providers.values():
            await provider.close()
