"""The example's experts' videoconference on Jitsi, through Plenary's own HTTP server, on SQLite and PostgreSQL: a
delegate's link to Plenary takes them into the room with a token naming them; the ``event_sync`` module's posts
(``/webhooks/jitsi/events/…``, with its bearer token) become their time on the call, a move to a breakout room is
no absence, and a post without the token is refused with nothing recorded."""

from __future__ import annotations

import os

import aiohttp

from domain.attendance import Presence
from domain.deployment import Deployment
from storage.repositories import Store
from tests.doubles.jitsi import jitsi_server
from tests.integration.video_setup import running_now, service

SESSION = "icmec-experts-2020-11"


async def test_the_jitsi_session_records_who_was_on_the_call_from_event_sync(
    store: Store, deployment: Deployment
) -> None:
    chosen, session = running_now(deployment, SESSION)
    token = os.environ["ICMEC_JITSI_EVENTS_TOKEN"]  # the example's reference, set for the tests
    async with (
        service(store, chosen) as (services, public, _),
        jitsi_server(
            app_id="plenary",
            app_secret=os.environ["ICMEC_JITSI_SECRET"],
            api_prefix=f"{public}/webhooks/jitsi",
            api_headers={"Authorization": f"Bearer {token}"},
            domain="meet.example.org",
            include_user_info=True,
        ) as jitsi,
        aiohttp.ClientSession() as client,
    ):
        entered = {}
        for delegate in ("rus-deputy", "kaz-expert"):
            async with client.get(await services.video.url(delegate, SESSION), allow_redirects=False) as response:
                assert response.status == 302
                link = response.headers["Location"]
            assert link.startswith("https://meet.example.org/icmec-experts-2020-11?jwt=")
            entered[delegate] = await jitsi.join(link)
        await jitsi.move_to_breakout(entered["kaz-expert"], "Drafting")
        await jitsi.settle()
        assert {d.status for d in jitsi.deliveries} == {200}

        table = await services.attendance.table(session.id)
        assert table is not None
        for delegate in ("rus-deputy", "kaz-expert"):
            line = table.delegate(delegate)
            assert line is not None
            assert line.presence is Presence.REMOTE
            assert line.here  # the breakout room is still the meeting
        assert table.guests == ()

        before = await store.attendance.for_session(session.id)
        async with client.post(
            f"{public}/webhooks/jitsi/events/occupant/joined",
            json={"event_name": "muc-occupant-joined", "room_name": "icmec-experts-2020-11"},
            headers={"Authorization": "Bearer not-the-token"},
        ) as response:
            assert response.status == 401
        assert await store.attendance.for_session(session.id) == before
