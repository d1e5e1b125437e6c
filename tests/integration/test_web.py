"""The HTTP server with a real client: health, readiness (with the database down), metrics, 404 and 405."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app.clock import SystemClock
from domain.feeds import Feed
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from scheduler.service import Timeline
from services.configuration import Configuration
from services.events import EventBus
from services.health import ServiceHealth
from storage.engine import create_engine
from storage.repositories import Store
from web.app import Metrics, create_app


class NoFeeds:
    async def feed(self, token: str, scope: str) -> Feed | None:
        return None

    async def public(self, commission_id: str) -> Feed | None:
        return None


async def serve(store: Store, timeline: Timeline, loaded: bool = True) -> TestServer:
    configuration = Configuration(EventBus(None, SystemClock(), "test"))
    if loaded:
        configuration.current = object()  # type: ignore[assignment]
    health = ServiceHealth(store, store.outbox, SystemClock(), configuration, timeline.loops)
    server = TestServer(create_app(health, Metrics(), NoFeeds()))
    await server.start_server()
    return server


@pytest.fixture
def store(sqlite_store: Store) -> Store:
    return sqlite_store


@pytest.fixture
async def timeline(store: Store) -> AsyncIterator[Timeline]:
    timeline = Timeline(store.outbox, store.announcements, SystemClock(), lambda: None)
    timeline.start()
    yield timeline
    await timeline.stop()


async def test_health_readiness_and_metrics(store: Store, timeline: Timeline) -> None:
    now = SystemClock().now()
    notice = Notice("s:invitation:d", NoticeKind.INVITATION, "s", "d", now, ("email",), NoticeStatus.DUE)
    await store.outbox.enqueue([OutboxItem(notice)], now)
    server = await serve(store, timeline)
    try:
        async with aiohttp.ClientSession(str(server.make_url(""))) as http:
            async with http.get("/healthz") as r:
                assert r.status == 200
            async with http.get("/readyz") as r:
                assert r.status == 200
                assert (await r.json())["checks"] == {"database": True, "configuration": True, "timeline": True}
            async with http.get("/metrics") as r:
                assert r.status == 200
                assert r.headers["Content-Type"].startswith("text/plain")
                text = await r.text()
            assert 'plenary_notices{channel="none",kind="invitation",status="pending"} 1.0' in text
            assert "plenary_outbox_depth 1.0" in text
            assert 'plenary_http_requests_total{route="/readyz",status="200"} 1.0' in text
            async with http.get("/nowhere") as r:
                assert r.status == 404
            async with http.post("/healthz") as r:
                assert r.status == 405
            async with http.get("/metrics") as r:
                text = await r.text()
            assert 'plenary_http_requests_total{route="unmatched",status="404"} 1.0' in text
    finally:
        await server.close()


async def test_unready_when_the_database_is_unreachable_or_nothing_is_loaded(timeline: Timeline) -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    server = await serve(Store(engine), timeline, loaded=False)
    try:
        async with aiohttp.ClientSession(str(server.make_url(""))) as http, http.get("/readyz") as r:
            assert r.status == 503
            body = await r.json()
        assert body["status"] == "unready"
        assert body["checks"]["database"] is False
        assert body["checks"]["configuration"] is False
    finally:
        await server.close()
        await engine.dispose()
