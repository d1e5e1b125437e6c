"""The one aiohttp application: health, readiness, metrics, calendar feeds and answer pages; webhooks join it."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from domain.feeds import Feed
from domain.ports import Feeds, Health, Pages
from domain.records import OutboxStatus
from services.answer_pages import AnswerPages
from services.video import VideoService
from web.answers import add_routes as add_answer_routes
from web.video import add_routes as add_video_routes

DELIVERY_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 3 * 3600.0, 12 * 3600.0, 86400.0)
"""Seconds from due to sent: a second to a day (a notice already late when it was planned lands in +Inf)."""


class Metrics:
    """The service's Prometheus metrics, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.notices = Gauge(
            "plenary_notices",
            "Notices in the outbox by kind, channel and status",
            ["kind", "channel", "status"],
            registry=self.registry,
        )
        self.outbox_depth = Gauge("plenary_outbox_depth", "Notices pending or being sent", registry=self.registry)
        self.outbox_notices = Gauge(
            "plenary_outbox_notices",
            "Notices in the outbox by state: pending, claimed (being sent), sent, failed, skipped",
            ["state"],
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "plenary_outbox_oldest_due_seconds", "Age of the oldest due notice not yet sent", registry=self.registry
        )
        self.scheduler_jobs = Gauge("plenary_scheduler_jobs", "Timer jobs set", registry=self.registry)
        self.bot_updates = Counter("plenary_bot_updates", "Telegram updates received", ["kind"], registry=self.registry)
        self.http_requests = Counter(
            "plenary_http_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.delivery_seconds = Histogram(
            "plenary_delivery_seconds",
            "Seconds from a notice's due time to its being sent (the service's clock), by channel and kind",
            ["channel", "kind"],
            buckets=DELIVERY_BUCKETS,
            registry=self.registry,
        )
        self.leader = Gauge(
            "plenary_leader",
            "1 on the replica that leads (in its term), 0 on the others",
            ["replica", "term"],
            registry=self.registry,
        )
        self._requests: dict[tuple[str, str], Any] = {}
        self._deliveries: dict[tuple[str, str], Any] = {}

    def count_request(self, route: str, status: int) -> None:
        """Count one HTTP request (the labelled child is looked up once)."""
        key = (route, str(status))
        child = self._requests.get(key)
        if child is None:
            child = self._requests[key] = self.http_requests.labels(*key)
        child.inc()

    def observe_delivery(self, channel: str, kind: str, seconds: float) -> None:
        """One send a channel accepted, ``seconds`` after it was due (the dispatcher's ``delivered`` hook)."""
        key = (channel, kind)
        child = self._deliveries.get(key)
        if child is None:
            child = self._deliveries[key] = self.delivery_seconds.labels(*key)
        child.observe(seconds)

    def set_leader(self, replica: str, term: int | None) -> None:
        """This replica leads in ``term`` (1), or, with None, does not lead (0): one series, the latest."""
        self.leader.clear()
        self.leader.labels(replica, "" if term is None else str(term)).set(0 if term is None else 1)

    def set_outbox(self, notices: Mapping[tuple[str, str, str], int]) -> None:
        """The outbox's counts by (kind, channel, status): ``plenary_notices`` and, summed, by state."""
        self.notices.clear()
        states = dict.fromkeys((status.value for status in OutboxStatus), 0)
        for (kind, channel, status), count in notices.items():
            self.notices.labels(kind, channel, status).set(count)
            states[status] = states.get(status, 0) + count
        for state, count in states.items():
            self.outbox_notices.labels(state).set(count)


HEALTH = web.AppKey("health", Health)
FEEDS = web.AppKey("feeds", Feeds)
METRICS = web.AppKey("metrics", Metrics)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _count(request: web.Request, response: web.StreamResponse) -> None:
    """Count every response by its request's route (the pattern, never the raw path: tokens stay out of metrics)
    and status, as it is about to be sent (an error's too). A signal, not a middleware: a middleware's place in
    every request's chain cost a tenth of a bare webhook's handling (``python -m benchmarks.attendance``)."""
    info = request.match_info.route.resource
    request.app[METRICS].count_request(info.canonical if info is not None else "unmatched", response.status)


async def healthz(request: web.Request) -> web.Response:
    """The process is up."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database answers, a current configuration is in force and every loop is up and on time."""
    health = request.app[HEALTH]
    checks = {"database": await health.database_ok(), **health.checks()}
    ready = all(checks.values())
    body: dict[str, Any] = {"status": "ready" if ready else "unready", "checks": checks}
    if not ready:
        details = health.details()
        if not checks["database"]:
            details.setdefault("database", "the database does not answer")
        body["problems"] = details
    return web.json_response(body, status=200 if ready else 503)


async def metrics_view(request: web.Request) -> web.Response:
    """Prometheus text format."""
    health, metrics = request.app[HEALTH], request.app[METRICS]
    stats = await health.outbox_stats()
    metrics.set_outbox(stats.notices)
    metrics.outbox_depth.set(stats.depth)
    metrics.outbox_oldest.set(stats.oldest_due_seconds)
    metrics.scheduler_jobs.set(health.scheduled_jobs())
    body = generate_latest(metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


_TOKEN = re.compile(r"[a-z2-7]{26}")


def _not_modified(request: web.Request, feed: Feed) -> bool:
    """RFC 9110: If-None-Match decides when present; else If-Modified-Since (what Apple Calendar sends)."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match == feed.etag:
        return True
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or feed.etag in tags
    since = request.if_modified_since
    return since is not None and feed.last_modified <= since


def _serve(request: web.Request, feed: Feed | None) -> web.StreamResponse:
    """Answer with a feed: 404 with no hint when there is none, 304 when the client's copy is current."""
    if feed is None:
        raise web.HTTPNotFound()
    if _not_modified(request, feed):
        return web.Response(status=304, headers=feed.not_modified_headers)
    body, headers = feed.body, feed.headers
    if feed.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body, headers = feed.gzipped, {**headers, "Content-Encoding": "gzip"}
    return web.Response(body=body, headers=headers, content_type="text/calendar", charset="utf-8")


def _feed_view(scope: str) -> Handler:
    async def view(request: web.Request) -> web.StreamResponse:
        """A delegate's or a delegation's calendar."""
        token = request.match_info["token"]
        return _serve(request, await request.app[FEEDS].feed(token, scope) if _TOKEN.fullmatch(token) else None)

    return view


async def public_feed(request: web.Request) -> web.StreamResponse:
    """The commission's public calendar, when it publishes one."""
    return _serve(request, await request.app[FEEDS].public(request.match_info["commission"]))


def create_app(
    health: Health,
    metrics: Metrics,
    feeds: Feeds,
    *,
    answers: tuple[AnswerPages, Pages] | None = None,
    video: tuple[VideoService, Pages] | None = None,
) -> web.Application:
    """The application with its routes (the answer pages with ``answers``, join links and webhooks with
    ``video``); unknown routes answer 404, wrong methods 405."""
    app = web.Application(client_max_size=1024**2)
    app.on_response_prepare.append(_count)
    if answers is not None:
        add_answer_routes(app, *answers)
    if video is not None:
        add_video_routes(app, *video)
    app[HEALTH] = health
    app[METRICS] = metrics
    app[FEEDS] = feeds
    app.router.add_get("/calendar/{token}.ics", _feed_view("delegate"))
    app.router.add_get("/calendar/delegation/{token}.ics", _feed_view("delegation"))
    app.router.add_get("/calendar/public/{commission}.ics", public_feed)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics_view)
    return app
