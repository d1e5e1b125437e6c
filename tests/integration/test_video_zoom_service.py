"""A session on Zoom, through Plenary's own HTTP server, on SQLite and PostgreSQL: a delegate's link to Plenary
registers them (once) and sends them to their registrant's link; Zoom's signed ``participant_joined`` to
``/webhooks/zoom`` is read as that delegate; its URL validation is answered; a stale or forged signature is
refused with nothing recorded."""

from __future__ import annotations

import aiohttp

from domain.attendance import Presence
from domain.deployment import Deployment
from storage.repositories import Store
from tests.doubles.zoom import Fault, zoom_server
from tests.integration.video_setup import running_now, service

SESSION = "icmec-experts-2020-11"
ZOOM = {
    "provider": "zoom",
    "url": None,
    "account_id": "plenary-account",
    "client_id": "plenary-client",
    "client_secret": "plenary-client-secret",
    "webhook_secret": "plenary-webhook-secret",
    "app_id": None,
    "secret": None,
    "events_token": None,
}
"""The example's experts' meeting moved to a Zoom server-to-server app (the double's credentials)."""


async def test_a_zoom_registrants_join_is_their_attendance_and_forgeries_change_nothing(
    store: Store, deployment: Deployment
) -> None:
    chosen, session = running_now(deployment, SESSION, **ZOOM)
    async with zoom_server(time_scale=0.0005) as zoom:  # its retries (5, 20, 60 min) in a blink
        urls = {"zoom_oauth_url": zoom.oauth_url, "zoom_api_url": zoom.base_url}
        async with service(store, chosen, **urls) as (services, public, _), aiohttp.ClientSession() as client:
            zoom.webhook_url = f"{public}/webhooks/zoom"
            validation = await zoom.validate_endpoint()
            assert validation.correct
            link = await services.video.url("rus-deputy", SESSION)
            for _ in range(2):  # opened twice: registered once
                async with client.get(link, allow_redirects=False) as response:
                    assert response.status == 302
                    join_url = response.headers["Location"]
            assert len(zoom.token_requests) == 1
            await zoom.join(join_url)
            zoom.inject(Fault.STALE_TIMESTAMP, 1)
            await zoom.join_guest(next(iter(zoom.meetings)), "Forwarded link")  # refused: stale
            zoom.inject(Fault.BAD_SIGNATURE, 1)
            await zoom.join_guest(next(iter(zoom.meetings)), "Forged")  # refused: wrong signature
            await zoom.settle()
            statuses = [d.status for d in zoom.deliveries]
            assert statuses.count(200) + statuses.count(204) >= 1
            assert 401 in statuses

            table = await services.attendance.table(session.id)
            assert table is not None
            line = table.delegate("rus-deputy")
            assert line is not None
            assert line.presence is Presence.REMOTE
            assert line.here
            assert table.guests == ()  # the stale and the forged deliveries recorded nothing
