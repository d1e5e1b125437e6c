"""The video providers' common ground, and the static provider.

What the provider tests share lives here: an in-memory ``VideoState`` (JSON in, JSON out, as the table
keeps it), sessions built as the configuration builds them, and a webhook receiver on loopback that turns each
real request a double sends into a ``WebhookRequest``, hands it to ``read_webhook`` and answers what the
reading says. The provider-specific tests are in test_video_bigbluebutton.py, test_video_jitsi.py and
test_video_zoom.py.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from domain.model import NotificationPolicy, Session
from domain.ports import VideoProvider
from domain.video import Seat, VideoEvent, WebhookReading, WebhookRequest
from integrations.video import VideoUnavailable, providers
from integrations.video.bigbluebutton import BigBlueButtonProvider
from integrations.video.jitsi import JitsiProvider
from integrations.video.static import StaticProvider
from integrations.video.zoom import ZoomProvider


class MemoryState:
    """``VideoState`` in memory; what is put is copied through JSON, as the database would."""

    def __init__(self) -> None:
        self.data: dict[tuple[str, str], str] = {}
        self.puts: list[tuple[str, str]] = []

    async def get(self, provider: str, session_id: str) -> dict[str, object] | None:
        text = self.data.get((provider, session_id))
        return None if text is None else dict(json.loads(text))

    async def put(self, provider: str, session_id: str, data: dict[str, object]) -> None:
        self.data[(provider, session_id)] = json.dumps(data)
        self.puts.append((provider, session_id))


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def video_session(
    video: Mapping[str, Any],
    *,
    session_id: str = "plenary-7",
    title: Any = "Plenary 7",
    starts_in: timedelta = timedelta(minutes=-10),
    length: timedelta = timedelta(hours=2),
) -> Session:
    """A video session on this platform, starting ``starts_in`` from now, in UTC."""
    start = now().replace(tzinfo=None) + starts_in
    return Session.model_validate(
        {
            "id": session_id,
            "title": title,
            "format": "video",
            "start": start,
            "end": start + length,
            "timezone": "UTC",
            "policy": NotificationPolicy(),
            "video": dict(video),
            "invited": {"states": "all"},
        }
    )


@dataclass
class Receiver:
    """The service's webhook endpoint: ``POST /webhooks/{provider}[/…]`` read by that provider for ``sessions``."""

    url: str = ""
    routes: dict[str, tuple[VideoProvider, Sequence[Session]]] = field(default_factory=dict)
    requests: list[WebhookRequest] = field(default_factory=list)
    readings: list[WebhookReading] = field(default_factory=list)
    fail: deque[int] = field(default_factory=deque)
    """Statuses to answer instead of the reading's, in turn (the request is read all the same)."""

    def route(self, provider: VideoProvider, sessions: Sequence[Session]) -> None:
        self.routes[provider.name] = (provider, sessions)

    async def handle(self, request: web.Request) -> web.Response:
        provider, sessions = self.routes[request.match_info["provider"]]
        received = WebhookRequest(str(request.url), dict(request.headers), await request.read(), datetime.now(UTC))
        self.requests.append(received)
        reading = await provider.read_webhook(sessions, received)
        self.readings.append(reading)
        status = self.fail.popleft() if self.fail else reading.status
        return web.Response(status=status, text=reading.body, content_type=reading.content_type)

    def events(self) -> list[VideoEvent]:
        return [event for reading in self.readings for event in reading.events]

    def statuses(self) -> list[int]:
        return [reading.status for reading in self.readings]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/webhooks/{provider}", endpoint.handle)
    app.router.add_post("/webhooks/{provider}/{tail:.*}", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield endpoint
    finally:
        await runner.cleanup()


# the static provider and the set of providers


async def test_the_static_provider_gives_everyone_the_session_link_and_reads_nothing() -> None:
    provider = StaticProvider()
    session = video_session({"provider": "static", "url": "https://meet.example.org/plenary-7"})
    seat = Seat("ana-lima", "Ana Lima", "ana@example.org", moderator=True)

    assert await provider.join_url(session, seat, now()) == "https://meet.example.org/plenary-7"
    request = WebhookRequest("https://plenary.example.org/webhooks/static", {}, b"{}", now())
    reading = await provider.read_webhook([session], request)
    assert (reading.status, reading.events) == (404, ())
    assert await provider.present(session) is None
    await provider.keep_up([session], "https://plenary.example.org/webhooks/static", now())
    await provider.close()


def test_providers_builds_one_of_each_by_name() -> None:
    built = providers("https://plenary.example.org/", MemoryState(), zoom_api_url="http://127.0.0.1:9/v2")
    assert set(built) == {"static", "bigbluebutton", "jitsi", "zoom"}
    assert isinstance(built["static"], StaticProvider)
    assert isinstance(built["jitsi"], JitsiProvider)
    bbb, zoom = built["bigbluebutton"], built["zoom"]
    assert isinstance(bbb, BigBlueButtonProvider)
    assert bbb.callback_url == "https://plenary.example.org/webhooks/bigbluebutton"
    assert isinstance(zoom, ZoomProvider)
    assert zoom.api.api_url == "http://127.0.0.1:9/v2"
    assert zoom.api.oauth_url == "https://zoom.us/oauth/token"
    assert all(provider.name == name for name, provider in built.items())


def test_video_unavailable_says_which_platform_and_why() -> None:
    error = VideoUnavailable("zoom", "could not connect (ClientConnectorError)")
    assert str(error) == "zoom is unavailable: could not connect (ClientConnectorError)"
    assert (error.provider, error.reason) == ("zoom", "could not connect (ClientConnectorError)")
