"""The Jitsi (token auth + event_sync) and Zoom (API + webhooks) doubles, against a real receiver on loopback."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.doubles import jitsi as jitsi_double
from tests.doubles.jitsi import FakeJitsi, TokenRefused, jitsi_server
from tests.doubles.zoom import FakeZoom, zoom_server

APP_ID, APP_SECRET = "plenary", "jitsi-app-secret-for-the-video-double-tests-long-enough-for-hs512"
HEADERS = {"Authorization": "Bearer receiver-token-42"}
WEBHOOK_SECRET = "zoom-webhook-secret-for-tests"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        return dict(json.loads(self.body))


@dataclass
class Receiver:
    """The application's webhook endpoint: records requests, answers as told."""

    received: list[Received] = field(default_factory=list)
    statuses: dict[str, deque[int]] = field(default_factory=dict)
    """Statuses to answer, in turn, per request path (200 once they run out)."""
    delays: deque[float] = field(default_factory=deque)
    answer_validation: Callable[[str], Any] | None = None
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(Received(request.path, dict(request.headers), body))
        if self.delays:
            await asyncio.sleep(self.delays.popleft())
        event = json.loads(body) if body else {}
        if event.get("event") == "endpoint.url_validation" and self.answer_validation is not None:
            return web.json_response(self.answer_validation(event["payload"]["plainToken"]))
        planned = self.statuses.get(request.path)
        return web.Response(status=planned.popleft() if planned else 200)

    def paths(self) -> list[str]:
        return [r.path for r in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest.fixture
async def jitsi(receiver: Receiver) -> AsyncIterator[FakeJitsi]:
    prefix = f"{receiver.url}/webhooks/jitsi"
    options: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "api_prefix": prefix}
    async with jitsi_server(**options, api_headers=HEADERS, api_retry_delay=0.05) as jitsi:
        yield jitsi


# Jitsi


async def test_a_valid_token_joins_and_the_receiver_gets_occupant_joined_with_the_api_headers(
    jitsi: FakeJitsi, receiver: Receiver
) -> None:
    token = jitsi.sign(jitsi.claims("Plenary-7", name="Ana Lima", email="ana@example.org", user_id="delegate-3"))
    occupant = await jitsi.join(jitsi.link("Plenary-7", token))
    await jitsi.settle()

    assert receiver.paths() == ["/webhooks/jitsi/events/room/created", "/webhooks/jitsi/events/occupant/joined"]
    created, joined = (r.json() for r in receiver.received)
    assert created["event_name"] == "muc-room-created"
    assert created["room_jid"] == "plenary-7@conference.meet.example.test"
    assert joined["event_name"] == "muc-occupant-joined"
    assert (joined["room_name"], joined["is_breakout"], joined["active_occupants_count"]) == ("plenary-7", False, 1)
    assert "breakout_room_id" not in joined
    person = joined["occupant"]
    assert (person["name"], person["email"], person["id"]) == ("Ana Lima", "ana@example.org", "delegate-3")
    assert person["occupant_jid"] == occupant.occupant_jid
    assert "@meet.example.test/" in person["occupant_jid"]
    assert isinstance(person["joined_at"], int)
    assert abs(person["joined_at"] - time.time()) < 5
    for request in receiver.received:
        assert request.headers["Authorization"] == HEADERS["Authorization"]
        assert request.headers["Content-Type"] == "application/json"
        assert request.headers["User-Agent"].startswith("Prosody (")
        assert not any(name.lower().startswith("x-") and "sign" in name.lower() for name in request.headers)

    await jitsi.leave(occupant)
    await jitsi.settle()
    left, destroyed = (r.json() for r in receiver.received[2:])
    assert left["event_name"] == "muc-occupant-left"
    assert left["active_occupants_count"] == 0
    assert left["occupant"]["left_at"] >= left["occupant"]["joined_at"]
    assert destroyed["event_name"] == "muc-room-destroyed"
    assert destroyed["destroyed_at"] >= destroyed["created_at"]
    assert [o["occupant_jid"] for o in destroyed["all_occupants"]] == [occupant.occupant_jid]
    assert destroyed["all_occupants"][0]["left_at"] == left["occupant"]["left_at"]
    assert [d.status for d in jitsi.deliveries] == [200, 200, 200, 200]


def _expired(j: FakeJitsi) -> dict[str, Any]:
    return j.claims("plenary-7", name="Ana", exp=int(time.time()) - 1)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (_expired, "Not acceptable by exp"),
        (lambda j: j.claims("plenary-7", name="Ana", nbf=int(time.time()) + 600), "Not acceptable by nbf"),
        (lambda j: j.claims("plenary-7", name="Ana", aud="someone-else"), "Invalid audience ('aud' claim)"),
        (lambda j: j.claims("plenary-7", name="Ana", iss="someone-else"), "Invalid issuer ('iss' claim)"),
        (lambda j: j.claims("other-room", name="Ana"), "Room and token mismatched"),
        (lambda j: j.claims("plenary-7", sub="other.example"), "Room and token mismatched"),
        (lambda j: j.claims("plenary-7", context={"user": {"name": None}}), "context.user values must be strings"),
        (lambda j: {k: v for k, v in j.claims("plenary-7").items() if k != "room"}, "'room' claim is missing"),
    ],
)
async def test_a_refused_token_sends_nothing(
    jitsi: FakeJitsi, receiver: Receiver, claims: Callable[[FakeJitsi], dict[str, Any]], reason: str
) -> None:
    with pytest.raises(TokenRefused) as refused:
        await jitsi.join(jitsi.link("plenary-7", jitsi.sign(claims(jitsi))))
    await jitsi.settle()

    assert refused.value.reason.startswith(reason)
    assert receiver.received == []
    assert jitsi.deliveries == []
    assert jitsi.present("plenary-7") == []
    assert jitsi.refusals[0][1] == refused.value.reason


async def test_signature_algorithm_and_missing_tokens_are_refused(jitsi: FakeJitsi, receiver: Receiver) -> None:
    claims = jitsi.claims("plenary-7")
    for token, reason in [
        (jitsi.sign(claims, secret=APP_SECRET.upper()), "Invalid signature"),
        (jitsi.sign(claims, algorithm="HS512"), "Invalid or incorrect alg"),
        ("not-a-token", "Invalid token"),
        (None, "token required"),
    ]:
        with pytest.raises(TokenRefused, match=reason):
            await jitsi.join(jitsi.link("plenary-7", token))
    await jitsi.settle()
    assert receiver.received == []


async def test_a_tenant_token_and_hs512_and_the_double_s_own_url(receiver: Receiver) -> None:
    options: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "api_prefix": f"{receiver.url}/j"}
    async with jitsi_server(**options, algorithm="HS512", tenant="unece") as jitsi:
        token = jitsi.sign(jitsi.claims("*", name="Ana"))
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{jitsi.base_url}/unece/Plenary?jwt={token}") as response:
                assert response.status == 200
                assert (await response.json())["room_jid"] == "[unece]plenary@conference.meet.example.test"
            wrong = jitsi.sign(jitsi.claims("*", sub="other-tenant"))
            async with http.get(f"{jitsi.base_url}/unece/Plenary?jwt={wrong}") as response:
                assert response.status == 403
                assert (await response.json())["text"] == "Room and token mismatched"
        await jitsi.settle()
    assert receiver.received[1].json()["room_name"] == "[unece]plenary"


async def test_a_breakout_move_leaves_the_main_room_and_joins_the_breakout(
    jitsi: FakeJitsi, receiver: Receiver
) -> None:
    chair = await jitsi.join(jitsi.link("plenary-7", jitsi.sign(jitsi.claims("plenary-7", name="Chair"))))
    guest = await jitsi.join_guest("plenary-7", "Observer")
    await jitsi.settle()
    receiver.received.clear()

    await jitsi.move_to_breakout(chair, "Drafting group")
    await jitsi.settle()
    left, created, joined = (r.json() for r in receiver.received)
    assert left["event_name"] == "muc-occupant-left"
    assert left["is_breakout"] is False
    assert created["event_name"] == "muc-room-created"
    assert created["is_breakout"] is True
    assert joined["event_name"] == "muc-occupant-joined"
    assert joined["is_breakout"] is True
    assert created["breakout_room_id"] == joined["breakout_room_id"] == chair.breakout_room_id
    assert joined["room_name"] == "plenary-7"
    assert joined["room_jid"] == "plenary-7@conference.meet.example.test"
    assert joined["occupant"]["occupant_jid"] == chair.occupant_jid
    assert joined["occupant"]["name"] == "Chair"

    receiver.received.clear()
    await jitsi.leave(guest)  # the main room is empty, but a breakout room is in use: not destroyed
    await jitsi.settle()
    assert [r.json()["event_name"] for r in receiver.received] == ["muc-occupant-left"]
    assert set(receiver.received[0].json()["occupant"]) == {"occupant_jid", "joined_at", "left_at"}

    receiver.received.clear()
    await jitsi.leave(chair)
    await jitsi.settle()
    events = [(r.json()["event_name"], r.json()["is_breakout"]) for r in receiver.received]
    assert events == [("muc-occupant-left", True), ("muc-room-destroyed", True), ("muc-room-destroyed", False)]
    main = receiver.received[2].json()
    assert {o["occupant_jid"] for o in main["all_occupants"]} == {chair.occupant_jid, guest.occupant_jid}


async def test_event_sync_retries_server_errors_and_faults_duplicate_and_reorder(
    jitsi: FakeJitsi, receiver: Receiver
) -> None:
    receiver.statuses["/webhooks/jitsi/events/room/created"] = deque([500, 503])
    await jitsi.join_guest("plenary-7")
    await jitsi.settle()
    created = [d for d in jitsi.deliveries if d.event == "room/created"]
    assert [(d.attempt, d.status, d.retried) for d in created] == [(1, 500, True), (2, 503, True), (3, 200, False)]

    receiver.received.clear()
    receiver.statuses["/webhooks/jitsi/events/occupant/joined"] = deque([404])  # only 5xx and no connection retry
    jitsi.inject(jitsi_double.Fault.REORDER)
    jitsi.inject(jitsi_double.Fault.DUPLICATE)
    await jitsi.join_guest("plenary-7")
    await jitsi.join_guest("plenary-7")
    await jitsi.settle()
    counts = [r.json()["active_occupants_count"] for r in receiver.received]
    assert counts == [3, 3, 2]
    assert [d.fault for d in jitsi.deliveries[-3:]] == [None, "duplicate", "reorder"]
    assert jitsi.deliveries[-3].status == 404
    assert not jitsi.deliveries[-3].retried

    await jitsi.redeliver(jitsi.deliveries[-1])
    await jitsi.settle()
    assert receiver.received[-1].body == jitsi.deliveries[-2].body
    assert jitsi.deliveries[-1].fault == "redelivered"


async def test_an_unreachable_receiver_is_retried_three_times(jitsi: FakeJitsi, receiver: Receiver) -> None:
    jitsi.api_prefix = "http://127.0.0.1:9/nowhere"
    await jitsi.join_guest("plenary-7")
    await jitsi.settle()
    created = [d for d in jitsi.deliveries if d.event == "room/created"]
    assert [(d.attempt, d.error) for d in created] == [
        (1, "connection"),
        (2, "connection"),
        (3, "connection"),
        (4, "connection"),
    ]
    assert created[-1].retried is False


async def test_a_request_outlasting_api_timeout_is_dropped_not_retried(receiver: Receiver) -> None:
    options: dict[str, Any] = {"app_id": APP_ID, "app_secret": APP_SECRET, "api_prefix": receiver.url}
    async with jitsi_server(**options, api_timeout=0.2, api_retry_delay=0.01) as jitsi:
        receiver.delays.append(0.5)
        await jitsi.join_guest("plenary-7")
        await jitsi.settle()
    created = [d for d in jitsi.deliveries if d.event == "room/created"]
    assert [(d.attempt, d.status, d.error, d.retried) for d in created] == [(1, None, "timeout", False)]


# Zoom


@pytest.fixture
async def zoom(receiver: Receiver) -> AsyncIterator[FakeZoom]:
    async with zoom_server(webhook_secret=WEBHOOK_SECRET, webhook_url=f"{receiver.url}/webhooks/zoom") as zoom:
        yield zoom


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


async def _token(http: aiohttp.ClientSession, zoom: FakeZoom) -> str:
    params = {"grant_type": "account_credentials", "account_id": zoom.account_id}
    async with http.post(zoom.oauth_url, params=params, headers=_basic(zoom.client_id, zoom.client_secret)) as response:
        assert response.status == 200
        return str((await response.json())["access_token"])


async def _create_meeting(zoom: FakeZoom, **body: Any) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {await _token(http, zoom)}"}
        async with http.post(f"{zoom.base_url}/users/me/meetings", json=body, headers=auth) as response:
            assert response.status == 201
            return dict(await response.json())


def _signature(secret: str, timestamp: str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


async def test_zoom_token_meeting_registrant_and_a_signed_participant_joined(
    zoom: FakeZoom, receiver: Receiver
) -> None:
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {await _token(http, zoom)}"}
        assert zoom.tokens_issued == 1
        assert zoom.token_requests[0].client_id == zoom.client_id
        meeting_body = {"topic": "Plenary 7", "type": 2, "start_time": "2026-06-01T09:00:00Z", "duration": 120}
        meeting_body |= {"timezone": "Europe/Geneva", "settings": {"approval_type": 0}}
        async with http.post(f"{zoom.base_url}/users/me/meetings", json=meeting_body, headers=auth) as response:
            assert response.status == 201
            meeting = await response.json()
        assert meeting["registration_url"]
        assert meeting["join_url"]
        assert meeting["settings"]["approval_type"] == 0
        person = {"email": "ana@example.org", "first_name": "Ana", "last_name": "Lima"}
        url = f"{zoom.base_url}/meetings/{meeting['id']}/registrants"
        async with http.post(url, json=person, headers=auth) as response:
            assert response.status == 201
            registrant = await response.json()
        assert set(registrant) == {"id", "registrant_id", "join_url", "topic", "start_time"}
        assert registrant["id"] == meeting["id"]
        assert registrant["topic"] == "Plenary 7"
        async with http.post(url, json=person | {"email": "ANA@example.org"}, headers=auth) as response:
            assert (await response.json())["registrant_id"] == registrant["registrant_id"]
        async with http.get(url, headers=auth) as response:
            listed = await response.json()
        assert listed["total_records"] == 1
        assert listed["registrants"][0]["id"] == registrant["registrant_id"]

    with pytest.raises(ValueError, match="registrant"):
        await zoom.join(registrant["join_url"].replace("tk=", "tk=forged"))
    participant = await zoom.join(registrant["join_url"])
    await zoom.settle()

    (request,) = receiver.received
    timestamp = request.headers["x-zm-request-timestamp"]
    assert abs(int(timestamp) - time.time()) < 5
    assert request.headers["x-zm-signature"] == _signature(WEBHOOK_SECRET, timestamp, request.body)
    event = request.json()
    assert event["event"] == "meeting.participant_joined"
    assert abs(event["event_ts"] / 1000 - time.time()) < 5
    assert event["payload"]["account_id"] == zoom.account_id
    obj = event["payload"]["object"]
    assert (obj["id"], obj["topic"], obj["type"], obj["timezone"]) == (
        str(meeting["id"]),
        "Plenary 7",
        2,
        "Europe/Geneva",
    )
    assert obj["uuid"] == meeting["uuid"]
    assert obj["host_id"] == meeting["host_id"]
    who = obj["participant"]
    assert (who["user_name"], who["email"], who["registrant_id"]) == (
        "Ana Lima",
        "ana@example.org",
        registrant["registrant_id"],
    )
    assert who["join_time"].endswith("Z")
    assert who["participant_uuid"]
    assert who["user_id"].isdigit()

    await zoom.leave(participant)
    await zoom.settle()
    left = receiver.received[1].json()["payload"]["object"]["participant"]
    assert left["leave_reason"] == "Ana Lima left the meeting.<br>Reason: left the meeting."
    assert "join_time" not in left
    assert left["leave_time"].endswith("Z")
    assert left["user_id"] == who["user_id"]


async def test_a_guest_has_no_registrant_id_and_an_email_may_be_empty_or_absent(
    zoom: FakeZoom, receiver: Receiver
) -> None:
    meeting = await _create_meeting(zoom)
    await zoom.join(meeting["join_url"], name="Walk-in")
    await zoom.join_guest(meeting["id"], "Phone", email_as="omitted")
    await zoom.settle()
    walk_in, phone = (r.json()["payload"]["object"]["participant"] for r in receiver.received)
    assert "registrant_id" not in walk_in
    assert walk_in["email"] == ""
    assert walk_in["user_name"] == "Walk-in"
    assert "email" not in phone
    assert "registrant_id" not in phone


async def test_zoom_errors_have_the_real_bodies(zoom: FakeZoom) -> None:
    async with aiohttp.ClientSession() as http:
        params = {"grant_type": "account_credentials", "account_id": zoom.account_id}
        async with http.post(zoom.oauth_url, params=params, headers=_basic(zoom.client_id, "wrong")) as response:
            assert response.status == 400
            assert await response.json() == {"reason": "Invalid client_id or client_secret", "error": "invalid_client"}
        async with http.get(f"{zoom.base_url}/meetings/123", headers={"Authorization": "Bearer nope"}) as response:
            assert response.status == 401
            assert await response.json() == {"code": 124, "message": "Invalid access token."}
        auth = {"Authorization": f"Bearer {await _token(http, zoom)}"}
        async with http.get(f"{zoom.base_url}/meetings/85746065432", headers=auth) as response:
            assert response.status == 404
            assert await response.json() == {"code": 3001, "message": "Meeting does not exist: 85746065432."}
        async with http.post(f"{zoom.base_url}/users/me/meetings", json={"topic": "A"}, headers=auth) as response:
            meeting_id = (await response.json())["id"]
        patch = {"topic": "B", "settings": {"approval_type": 0}}
        async with http.patch(f"{zoom.base_url}/meetings/{meeting_id}", json=patch, headers=auth) as response:
            assert response.status == 204
        async with http.get(f"{zoom.base_url}/meetings/{meeting_id}", headers=auth) as response:
            assert (await response.json())["topic"] == "B"
        async with http.delete(f"{zoom.base_url}/meetings/{meeting_id}", headers=auth) as response:
            assert response.status == 204
        zoom.expire_tokens()
        async with http.get(f"{zoom.base_url}/meetings/{meeting_id}", headers=auth) as response:
            assert await response.json() == {"code": 124, "message": "Access token is expired."}
    assert [r.status for r in zoom.token_requests] == [400, 200]


async def test_url_validation_answered_right_is_recorded_right(zoom: FakeZoom, receiver: Receiver) -> None:
    def right(plain: str) -> dict[str, str]:
        return {
            "plainToken": plain,
            "encryptedToken": hmac.new(WEBHOOK_SECRET.encode(), plain.encode(), "sha256").hexdigest(),
        }

    receiver.answer_validation = right
    good = await zoom.validate_endpoint()
    request = receiver.received[0]
    assert request.json()["event"] == "endpoint.url_validation"
    assert request.headers["x-zm-signature"] == _signature(
        WEBHOOK_SECRET, request.headers["x-zm-request-timestamp"], request.body
    )
    assert good.correct
    assert good.status == 200
    assert good.latency < zoom.deadline

    receiver.answer_validation = lambda plain: {"plainToken": plain, "encryptedToken": "0" * 64}
    bad = await zoom.validate_endpoint()
    assert not bad.correct
    assert bad.status == 200
    assert [v.correct for v in zoom.validations] == [True, False]


async def test_a_slow_receiver_gets_a_retry(receiver: Receiver) -> None:
    url = f"{receiver.url}/webhooks/zoom"
    async with zoom_server(webhook_secret=WEBHOOK_SECRET, webhook_url=url, deadline=0.3, time_scale=1e-4) as zoom:
        meeting = await _create_meeting(zoom)
        receiver.delays.append(0.6)
        started = time.monotonic()
        await zoom.join_guest(meeting["id"], "Late")
        await zoom.settle()
    assert [(d.attempt, d.ok) for d in zoom.deliveries] == [(1, False), (2, True)]
    assert zoom.deliveries[0].status is None
    assert zoom.deliveries[0].latency >= 0.3
    assert time.monotonic() - started >= 0.3 + 300 * 1e-4
    first, second = receiver.received
    assert first.body == second.body
    assert second.headers["x-zm-signature"] == _signature(
        WEBHOOK_SECRET, second.headers["x-zm-request-timestamp"], second.body
    )


async def test_zoom_faults_stale_timestamp_bad_signature_duplicate_reorder(zoom: FakeZoom, receiver: Receiver) -> None:
    meeting = await _create_meeting(zoom)
    for fault in ("stale_timestamp", "bad_signature", "reorder", "duplicate"):
        zoom.inject(fault)
    for who in ("Stale", "Forged", "Second", "First"):
        await zoom.join_guest(meeting["id"], who)
    await zoom.settle()

    def name(r: Received) -> str:
        return str(r.json()["payload"]["object"]["participant"]["user_name"])

    assert [name(r) for r in receiver.received] == ["Stale", "Forged", "First", "First", "Second"]
    stale, forged = receiver.received[:2]
    assert time.time() - int(stale.headers["x-zm-request-timestamp"]) > 300
    assert stale.headers["x-zm-signature"] == _signature(
        WEBHOOK_SECRET, stale.headers["x-zm-request-timestamp"], stale.body
    )
    assert forged.headers["x-zm-signature"] != _signature(
        WEBHOOK_SECRET, forged.headers["x-zm-request-timestamp"], forged.body
    )
    assert [d.fault for d in zoom.deliveries] == ["stale_timestamp", "bad_signature", None, "duplicate", "reorder"]
