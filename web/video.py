"""The video views: a delegate's join link (``/join/{token}``: to the meeting, under their own name, or a page
saying when it opens) and the platforms' webhooks (``/webhooks/{provider}``, and below it for a platform that
names its events by path, as Jitsi's ``event_sync`` does), checked by their provider over the raw bytes before
anything is read."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from domain.ports import Pages
from domain.video import WebhookRequest
from services.video import Joining, VideoService
from web.answers import HEADERS, _html, _language

log = logging.getLogger(__name__)

VIDEO = web.AppKey("video", VideoService)
JOIN_PAGES = web.AppKey("join_pages", Pages)
_TOKEN = re.compile(r"[A-Za-z0-9_.-]{30,300}")
_PROVIDER = re.compile(r"[a-z]{2,20}")
MAX_WEBHOOK = 256 * 1024
"""Bytes a webhook may have: the platforms' are a few kilobytes."""


async def join(request: web.Request) -> web.Response:
    """To the meeting now, under the delegate's name; else a page saying when, or why not."""
    token = request.match_info["token"]
    video, pages = request.app[VIDEO], request.app[JOIN_PAGES]
    joined = await video.open(token) if _TOKEN.fullmatch(token) else None
    if joined is None:
        return _html(pages.missing(_language(request)), 404)
    if joined.outcome is Joining.GO:  # the URL as the platform signed it: not re-encoded (HTTPFound would)
        return web.Response(status=302, headers={**HEADERS, "Location": joined.url})
    deployment = video.deployment()
    assert deployment is not None
    page = pages.join_page(deployment, joined.delegate_id, joined.session.id, joined.outcome.value, joined.opens_at)
    return _html(page, 503 if joined.outcome is Joining.UNAVAILABLE else 200)


async def webhook(request: web.Request) -> web.Response:
    """A platform's webhook: its provider checks it and says what to answer; what it says is recorded."""
    provider = request.match_info["provider"]
    if not _PROVIDER.fullmatch(provider):
        return web.Response(status=404)
    return await _webhook(request, provider)


def _webhook_of(provider: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The view of one provider's webhooks, on a path of its own: found by the router without a pattern."""

    async def view(request: web.Request) -> web.Response:
        return await _webhook(request, provider)

    return view


async def _webhook(request: web.Request, provider: str) -> web.Response:
    """The provider's reading of the webhook, recorded; its answer."""
    if request.content_length is not None and request.content_length > MAX_WEBHOOK:
        return web.Response(status=413)
    body = await _body(request)
    if body is None:
        return web.Response(status=413)
    video = request.app[VIDEO]
    # The path and query string as sent (what the providers read), not ``request.url``: building that URL
    # cost a twentieth of a webhook's time (``python -m benchmarks.attendance``)
    received = WebhookRequest(request.raw_path, request.headers, body, video.clock.now())
    reading = await video.webhook(provider, received)
    if not reading.body:  # what nearly every delivery is answered: its status alone
        return web.Response(status=reading.status)
    return web.Response(status=reading.status, text=reading.body, content_type=reading.content_type)


async def _body(request: web.Request) -> bytes | None:
    """The whole body, however many pieces it came in; None past ``MAX_WEBHOOK`` bytes."""
    pieces, size = [], 0
    while piece := await request.content.readany():
        size += len(piece)
        if size > MAX_WEBHOOK:
            return None
        pieces.append(piece)
    return b"".join(pieces)


def add_routes(app: web.Application, video: VideoService, pages: Pages) -> None:
    """Serve the join links and the webhooks."""
    app[VIDEO], app[JOIN_PAGES] = video, pages
    app.router.add_get("/join/{token}", join)
    for name in video.providers:
        app.router.add_post(f"/webhooks/{name}", _webhook_of(name))
    app.router.add_post("/webhooks/{provider}", webhook)
    app.router.add_post("/webhooks/{provider}/{event:.*}", webhook)  # Jitsi's event_sync: …/events/occupant/joined
