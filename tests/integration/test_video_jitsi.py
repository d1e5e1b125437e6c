"""The Jitsi provider against the Jitsi double (Prosody's token checks, event_sync's POSTs) over real HTTP.

Tokens are decoded here with PyJWT; event_sync's POSTs reach a receiver on loopback that reads them with
``read_webhook``, as the service's endpoint would.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import jwt
import pytest

from domain.model import Session
from domain.video import Participant, Seat, VideoEventKind, WebhookRequest
from integrations.video.jitsi import JitsiProvider
from tests.doubles.jitsi import FakeJitsi, TokenRefused, jitsi_server
from tests.integration.test_video_providers import Receiver, now, receiver, video_session

__all__ = ["receiver"]

APP_ID, APP_SECRET = "plenary", "jitsi-app-secret-for-the-provider-tests-long-enough-for-hs512-signatures!"
EVENTS_TOKEN = "event-sync-bearer-token-42"
ANA = Seat("ana-lima", "Ana Lima", "ana@example.org", moderator=True)
BEN = Seat("ben-okafor", "Ben Okafor")


def jitsi_session(
    url: str = "https://meet.example.test/Plenary-7", session_id: str = "plenary-7", **video: Any
) -> Session:
    block = {"provider": "jitsi", "url": url, "app_id": APP_ID, "secret": APP_SECRET, "events_token": EVENTS_TOKEN}
    return video_session(block | video, session_id=session_id)


def event_sync(receiver: Receiver) -> dict[str, Any]:
    return {"app_id": APP_ID, "app_secret": APP_SECRET, "api_prefix": f"{receiver.url}/webhooks/jitsi"}


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["jwt"][0]


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))))


@pytest.fixture
async def jitsi(receiver: Receiver) -> AsyncIterator[FakeJitsi]:
    options = event_sync(receiver)
    headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    async with jitsi_server(**options, api_headers=headers, include_user_info=True, api_retry_delay=0.01) as server:
        yield server


async def test_the_token_carries_every_claim_prosody_checks() -> None:
    provider, session, made = JitsiProvider(), jitsi_session(), now()
    url = await provider.join_url(session, ANA, made)

    assert url.startswith("https://meet.example.test/Plenary-7?jwt=")
    token = token_of(url)
    assert header_of(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience=APP_ID, issuer=APP_ID)
    assert claims == {
        "iss": APP_ID,
        "aud": APP_ID,
        "sub": "meet.example.test",
        "room": "plenary-7",
        "iat": int(made.timestamp()),
        "nbf": int((session.starts_at - timedelta(hours=1)).timestamp()),
        "exp": int((session.ends_at + timedelta(hours=1)).timestamp()),
        "context": {
            "user": {
                "id": "ana-lima",
                "name": "Ana Lima",
                "email": "ana@example.org",
                "affiliation": "owner",
                "moderator": "true",
            }
        },
    }
    viewer = jwt.decode(token_of(await provider.join_url(session, BEN, made)), options={"verify_signature": False})
    assert viewer["context"]["user"] == {
        "id": "ben-okafor",
        "name": "Ben Okafor",
        "affiliation": "member",
        "moderator": "false",
    }  # no e-mail: no key (Prosody refuses null)
    await provider.close()


async def test_hs512_a_tenant_an_audience_and_a_link_made_early() -> None:
    provider = JitsiProvider()
    session = jitsi_session("https://meet.example.test/UNECE/Plenary", algorithm="HS512", audience="jitsi")
    early = session.starts_at - timedelta(days=2)
    token = token_of(await provider.join_url(session, BEN, early))
    assert header_of(token)["alg"] == "HS512"
    claims = jwt.decode(token, APP_SECRET, algorithms=["HS512"], audience="jitsi")
    assert (claims["sub"], claims["room"], claims["aud"]) == ("unece", "plenary", "jitsi")
    assert claims["nbf"] == int(early.timestamp()) - 300  # from when it was made (less a skew), to after the end


async def test_the_double_accepts_the_link_and_event_sync_reads_back_as_the_delegate(
    jitsi: FakeJitsi, receiver: Receiver
) -> None:
    provider, session = JitsiProvider(), jitsi_session()
    receiver.route(provider, [session])
    ana = await jitsi.join(await provider.join_url(session, ANA, now()))
    guest = await jitsi.join_guest("plenary-7", "Phone-in")
    await jitsi.leave(guest)
    await jitsi.leave(ana)
    await jitsi.settle()

    assert jitsi.refusals == []
    assert [d.status for d in jitsi.deliveries] == [200] * 6
    joined, guest_joined, guest_left, left, ended = receiver.events()
    assert joined.session_id == "plenary-7"
    assert joined.kind is VideoEventKind.JOINED
    assert joined.participant == Participant(ana.occupant_jid, "ana-lima", "Ana Lima", "ana@example.org")
    assert joined.room is None
    payload = jitsi.deliveries[1].payload
    at = payload["occupant"]["joined_at"]
    assert joined.at == datetime.fromtimestamp(at, UTC)
    assert joined.key == f"jitsi:{payload['room_jid']}:{ana.occupant_jid}:occupant/joined:{at}"
    assert guest_joined.participant == Participant(guest.occupant_jid, None, "")
    assert (guest_left.kind, left.kind) == (VideoEventKind.LEFT, VideoEventKind.LEFT)
    assert left.participant is not None
    assert left.participant.delegate_id == "ana-lima"
    assert (ended.kind, ended.participant) == (VideoEventKind.ENDED, None)
    assert receiver.statuses() == [200] * 6  # room/created is read and gives no event


async def test_a_tenant_link_is_accepted_over_http_and_its_events_are_the_session_s(receiver: Receiver) -> None:
    headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    async with jitsi_server(**event_sync(receiver), api_headers=headers, algorithm="HS512", tenant="unece") as jitsi:
        provider = JitsiProvider()
        session = jitsi_session(f"{jitsi.base_url}/unece/Plenary", algorithm="HS512")
        elsewhere = jitsi_session(f"{jitsi.base_url}/other/Plenary", "plenary-8", algorithm="HS512")
        receiver.route(provider, [elsewhere, session])
        url = await provider.join_url(session, ANA, now())
        assert url.startswith(f"{jitsi.base_url}/unece/Plenary?jwt=")
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["room_jid"] == "[unece]plenary@conference.meet.example.test"
        await jitsi.settle()
    assert [(e.session_id, e.kind) for e in receiver.events()] == [(session.id, VideoEventKind.JOINED)]


async def test_the_link_is_refused_before_its_window_and_after_it() -> None:
    clock = [0.0]
    options: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "api_prefix": "http://127.0.0.1:9"}
    async with jitsi_server(**options, clock=lambda: clock[0]) as jitsi:
        provider, session = JitsiProvider(), jitsi_session()
        url = await provider.join_url(session, BEN, session.starts_at - timedelta(minutes=30))
        for moment, refusal in [
            (session.starts_at - timedelta(hours=1, seconds=1), "Not acceptable by nbf"),
            (session.ends_at + timedelta(hours=1), "Not acceptable by exp"),
        ]:
            clock[0] = moment.timestamp()
            with pytest.raises(TokenRefused, match=refusal):
                await jitsi.join(url)
        clock[0] = session.ends_at.timestamp()
        assert (await jitsi.join(url)).user == {
            "id": "ben-okafor",
            "name": "Ben Okafor",
            "affiliation": "member",
            "moderator": "false",
        }


@pytest.mark.parametrize("bearer", [None, "Bearer not-the-token", EVENTS_TOKEN, f"bearer {EVENTS_TOKEN}"])
async def test_event_sync_without_the_right_bearer_is_refused_with_nothing_read(
    receiver: Receiver, bearer: str | None
) -> None:
    options = event_sync(receiver)
    headers = {"Authorization": bearer} if bearer is not None else {}
    async with jitsi_server(**options, api_headers=headers, api_retry_delay=0.01) as jitsi:
        provider, session = JitsiProvider(), jitsi_session()
        receiver.route(provider, [session])
        occupant = await jitsi.join(await provider.join_url(session, ANA, now()))
        await jitsi.leave(occupant)
        await jitsi.settle()
    assert receiver.statuses() == [401] * 4
    assert [d.status for d in jitsi.deliveries] == [401] * 4  # event_sync retries only 5xx
    assert receiver.events() == []
    assert all(r.refused == "the bearer token is missing or matches no events_token" for r in receiver.readings)


async def test_a_breakout_move_is_a_leave_of_the_main_room_and_a_join_of_the_breakout(receiver: Receiver) -> None:
    ticks = itertools.count(int(time.time()))  # a second passes at each reading of Prosody's clock
    headers = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    async with jitsi_server(**event_sync(receiver), api_headers=headers, clock=lambda: float(next(ticks))) as jitsi:
        provider, session = JitsiProvider(), jitsi_session()
        receiver.route(provider, [session])
        ana = await jitsi.join(await provider.join_url(session, ANA, now()))
        await jitsi.settle()
        await jitsi.move_to_breakout(ana, "Drafting group")
        await jitsi.return_to_main(ana)
        await jitsi.move_to_breakout(ana, "Drafting group")
        await jitsi.leave(ana)
        await jitsi.settle()

    events = [(e.kind, e.room) for e in receiver.events()]
    breakout = ana.breakout_room_id
    assert breakout is not None
    assert events == [
        (VideoEventKind.JOINED, None),
        (VideoEventKind.LEFT, None),
        (VideoEventKind.JOINED, breakout),
        (VideoEventKind.LEFT, breakout),
        (VideoEventKind.JOINED, None),
        (VideoEventKind.LEFT, None),
        (VideoEventKind.JOINED, breakout),
        (VideoEventKind.LEFT, breakout),
        (VideoEventKind.ENDED, None),  # the breakout room's own destruction is no end
    ]
    assert {e.participant.delegate_id for e in receiver.events() if e.participant} == {"ana-lima"}
    keys = [e.key for e in receiver.events()]
    assert len(set(keys)) == len(keys)


async def test_events_of_other_rooms_unknown_paths_and_malformed_bodies(receiver: Receiver) -> None:
    provider, session = JitsiProvider(), jitsi_session()
    other = jitsi_session("https://meet.example.test/other", "other-7", events_token="another-deployment-s-token")
    auth = {"Authorization": f"Bearer {EVENTS_TOKEN}"}
    base = f"{receiver.url}/webhooks/jitsi/events"

    def request(path: str, body: Any, headers: dict[str, str] = auth) -> WebhookRequest:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return WebhookRequest(f"{base}/{path}", headers, data, datetime.now(UTC))

    occupant = {"occupant_jid": "x@meet.example.test/a", "joined_at": 1767225600, "id": "ana-lima"}
    elsewhere = {"room_name": "other", "room_jid": "other@conference.meet.example.test", "occupant": occupant}
    read = await provider.read_webhook([session, other], request("occupant/joined", elsewhere))
    assert (read.status, read.events) == (200, ())  # the other room's token is not ours
    read = await provider.read_webhook(
        [session, other], request("occupant/joined", elsewhere, {"Authorization": "Bearer another-deployment-s-token"})
    )
    assert [e.session_id for e in read.events] == [other.id]
    assert read.events[0].at == datetime(2026, 1, 1, tzinfo=UTC)
    assert (await provider.read_webhook([session], request("occupant/kicked", {}))).status == 404
    for body in [b"not json", {"room_name": "plenary-7"}, {"room_name": "plenary-7", "room_jid": "r", "occupant": 1}]:
        assert (await provider.read_webhook([session], request("occupant/joined", body))).status == 400
    assert await provider.present(session) is None
    await provider.keep_up([session], base, now())
