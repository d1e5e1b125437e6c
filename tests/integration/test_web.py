"""The HTTP server with a real client: health, readiness (with the database down), metrics, 404 and 405."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from app.clock import SystemClock
from domain.delivery import DeliveryError, Outcome
from domain.feeds import Feed
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.outbox import OutboxItem
from scheduler.dispatcher import Dispatcher
from scheduler.service import Timeline
from services.configuration import Configuration
from services.events import EventBus
from services.health import ServiceHealth
from storage.engine import create_engine
from storage.repositories import Store
from tests.doubles.channels import FakeChannel, FakeClock, FakeComposer
from web.app import Metrics, create_app


class NoFeeds:
    async def feed(self, token: str, scope: str) -> Feed | None:
        return None

    async def public(self, commission_id: str) -> Feed | None:
        return None


async def serve(store: Store, timeline: Timeline, loaded: bool = True, metrics: Metrics | None = None) -> TestServer:
    configuration = Configuration(EventBus(None, SystemClock(), "test"))
    if loaded:
        configuration.current = object()  # type: ignore[assignment]
    health = ServiceHealth(store, store.outbox, SystemClock(), configuration, timeline.loops)
    server = TestServer(create_app(health, metrics or Metrics(), NoFeeds()))
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


async def scrape(server: TestServer) -> list[str]:
    """The /metrics text as an operator reads it, line by line."""
    async with aiohttp.ClientSession(str(server.make_url(""))) as http, http.get("/metrics") as r:
        assert r.status == 200
        return (await r.text()).splitlines()


async def test_the_outbox_by_state_and_the_delivery_latency(store: Store, timeline: Timeline) -> None:
    clock = FakeClock()
    metrics = Metrics()
    email = FakeChannel("email", deque([DeliveryError(Outcome.PERMANENT, "550 5.1.1 no such user")]))
    dispatcher = Dispatcher(
        store.outbox, {"email": email}, FakeComposer(), clock, "replica-1", delivered=metrics.observe_delivery
    )

    def notice(
        delegate: str, kind: NoticeKind = NoticeKind.INVITATION, status: NoticeStatus = NoticeStatus.DUE
    ) -> Notice:
        return Notice(f"s:{kind.value}:{delegate}", kind, "s", delegate, clock.now(), ("email",), status)

    await store.outbox.enqueue([OutboxItem(notice("refused"))], clock.now())
    assert await dispatcher.drain_once() == 1  # refused for good: failed
    await store.outbox.enqueue([OutboxItem(notice("late"))], clock.now())
    clock.advance(90)  # sent a minute and a half after it was due
    assert await dispatcher.drain_once() == 1
    await store.outbox.enqueue(
        [OutboxItem(notice("early", NoticeKind.REMINDER))], clock.now()
    )  # not claimed yet: pending
    await store.outbox.enqueue([OutboxItem(notice("stale", status=NoticeStatus.STALE))], clock.now())  # skipped
    server = await serve(store, timeline, metrics=metrics)
    try:
        lines = await scrape(server)
    finally:
        await server.close()
    for state, count in {"pending": 1, "claimed": 0, "sent": 1, "failed": 1, "skipped": 1}.items():
        assert f'plenary_outbox_notices{{state="{state}"}} {count}.0' in lines
    assert "plenary_outbox_depth 1.0" in lines
    assert "# TYPE plenary_delivery_seconds histogram" in lines
    labels = 'channel="email",kind="invitation"'
    assert f'plenary_delivery_seconds_bucket{{{labels},le="60.0"}} 0.0' in lines
    assert f'plenary_delivery_seconds_bucket{{{labels},le="120.0"}} 1.0' in lines
    assert f'plenary_delivery_seconds_bucket{{{labels},le="+Inf"}} 1.0' in lines
    assert f"plenary_delivery_seconds_count{{{labels}}} 1.0" in lines
    assert f"plenary_delivery_seconds_sum{{{labels}}} 90.0" in lines
    assert not any(line.startswith("plenary_delivery_seconds_count") and "reminder" in line for line in lines)


async def test_the_leader_gauge_shows_this_replica_and_its_term(store: Store, timeline: Timeline) -> None:
    metrics = Metrics()
    server = await serve(store, timeline, metrics=metrics)
    try:
        assert not any(line.startswith("plenary_leader{") for line in await scrape(server))  # nobody said yet
        metrics.set_leader("replica-1", 7)
        lines = await scrape(server)
        assert "# TYPE plenary_leader gauge" in lines
        assert [line for line in lines if line.startswith("plenary_leader{")] == [
            'plenary_leader{replica="replica-1",term="7"} 1.0'
        ]
        metrics.set_leader("replica-1", None)  # stepped down: 0, and the old term is gone
        assert [line for line in await scrape(server) if line.startswith("plenary_leader{")] == [
            'plenary_leader{replica="replica-1",term=""} 0.0'
        ]
        metrics.set_leader("replica-1", 8)
        assert [line for line in await scrape(server) if line.startswith("plenary_leader{")] == [
            'plenary_leader{replica="replica-1",term="8"} 1.0'
        ]
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


async def test_every_response_is_counted_by_route_and_status_errors_too(store: Store, timeline: Timeline) -> None:
    configuration = Configuration(EventBus(None, SystemClock(), "test"))
    health = ServiceHealth(store, store.outbox, SystemClock(), configuration, timeline.loops)
    app = create_app(health, Metrics(), NoFeeds())

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("a defect")

    app.router.add_get("/broken/{token}", broken)
    server = TestServer(app)
    await server.start_server()
    try:
        async with aiohttp.ClientSession(str(server.make_url(""))) as http:
            for _ in range(2):
                async with http.get("/broken/secret-token") as r:
                    assert r.status == 500
            async with http.get("/calendar/nosuchtoken.ics") as r:
                assert r.status == 404  # raised by the view as HTTPNotFound
            async with http.get("/readyz") as r:
                assert r.status == 503  # no configuration
        lines = await scrape(server)
    finally:
        await server.close()
    assert 'plenary_http_requests_total{route="/broken/{token}",status="500"} 2.0' in lines
    assert 'plenary_http_requests_total{route="/calendar/{token}.ics",status="404"} 1.0' in lines
    assert 'plenary_http_requests_total{route="/readyz",status="503"} 1.0' in lines
    assert not any("secret-token" in line for line in lines)
