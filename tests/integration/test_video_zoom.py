"""The Zoom provider against the Zoom double (OAuth, meetings, registrants, signed webhooks) over real HTTP.

The double's webhooks reach a receiver on loopback that reads them with ``read_webhook``, as the service's
endpoint would; signatures are recomputed here with hmac.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.model import Session
from domain.video import Participant, Seat, VideoEventKind, WebhookRequest
from integrations.video import VideoUnavailable
from integrations.video.zoom import ZoomProvider
from tests.doubles.zoom import FakeZoom, zoom_server
from tests.integration.test_video_providers import MemoryState, Receiver, now, receiver, video_session

__all__ = ["receiver"]

WEBHOOK_SECRET = "zoom-webhook-secret-of-the-provider-tests"
CLIENT_SECRET = "zoom-client-secret-of-the-provider-tests"
ANA = Seat("ana-lima", "Ana Lima", "ana@example.org", moderator=True)
BEN = Seat("ben-okafor", "Ben Okafor")


def zoom_session(zoom: FakeZoom, session_id: str = "plenary-7", **options: Any) -> Session:
    video = {
        "provider": "zoom",
        "account_id": zoom.account_id,
        "client_id": zoom.client_id,
        "client_secret": CLIENT_SECRET,
        "webhook_secret": WEBHOOK_SECRET,
    }
    return video_session(video | options.pop("video", {}), session_id=session_id, **options)


def signed(body: bytes, secret: str = WEBHOOK_SECRET, age: float = 0) -> WebhookRequest:
    timestamp = str(int(datetime.now(UTC).timestamp() - age))
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"x-zm-request-timestamp": timestamp, "x-zm-signature": f"v0={mac}"}
    return WebhookRequest("https://plenary.example.org/webhooks/zoom", headers, body, datetime.now(UTC))


@pytest.fixture
async def zoom(receiver: Receiver) -> AsyncIterator[FakeZoom]:
    options: dict[str, Any] = {"client_secret": CLIENT_SECRET, "webhook_secret": WEBHOOK_SECRET}
    async with zoom_server(**options, webhook_url=f"{receiver.url}/webhooks/zoom", time_scale=1e-5) as server:
        yield server


@pytest.fixture
async def provider(zoom: FakeZoom) -> AsyncIterator[ZoomProvider]:
    made = ZoomProvider(MemoryState(), oauth_url=zoom.oauth_url, api_url=zoom.base_url)
    try:
        yield made
    finally:
        await made.close()


async def test_one_token_one_meeting_one_registrant_per_delegate(zoom: FakeZoom, provider: ZoomProvider) -> None:
    session = zoom_session(zoom, title={"en": "Seventh plenary", "fr": "Septième plénière"})
    ana = await provider.join_url(session, ANA, now())
    ben = await provider.join_url(session, BEN, now())
    assert await provider.join_url(session, ANA, now()) == ana

    assert zoom.tokens_issued == 1
    assert zoom.token_requests[0].client_id == zoom.client_id
    assert zoom.token_requests[0].account_id == zoom.account_id
    ((meeting_id, meeting),) = zoom.meetings.items()
    data = meeting.data
    assert (data["topic"], data["type"], data["timezone"], data["duration"]) == ("Seventh plenary", 2, "UTC", 120)
    assert data["start_time"] == session.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert data["settings"]["approval_type"] == 0
    registrants = {r.email: r for r in meeting.registrants.values()}
    assert set(registrants) == {"ana@example.org", "ben-okafor@invalid"}
    assert (registrants["ana@example.org"].first_name, registrants["ana@example.org"].last_name) == ("Ana", "Lima")
    assert registrants["ana@example.org"].join_url == ana
    assert registrants["ben-okafor@invalid"].join_url == ben
    kept = await provider.state.get("zoom", "plenary-7")
    assert kept is not None
    assert kept["meeting_id"] == str(meeting_id)
    assert kept["registrants"] == {
        "ana-lima": {"registrant_id": registrants["ana@example.org"].id, "join_url": ana, "email": "ana@example.org"},
        "ben-okafor": {
            "registrant_id": registrants["ben-okafor@invalid"].id,
            "join_url": ben,
            "email": "ben-okafor@invalid",
        },
    }

    again = ZoomProvider(provider.state, oauth_url=zoom.oauth_url, api_url=zoom.base_url)  # another process
    try:
        assert await again.join_url(session, BEN, now()) == ben
    finally:
        await again.close()
    assert len(zoom.meetings) == 1
    assert zoom.tokens_issued == 1  # the other process had nothing to ask


async def test_the_registrant_s_link_joins_and_the_webhook_reads_as_that_delegate(
    zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider
) -> None:
    session = zoom_session(zoom)
    receiver.route(provider, [session])
    person = await zoom.join(await provider.join_url(session, ANA, now()))
    await zoom.leave(person)
    await zoom.settle()

    for request in receiver.requests:
        timestamp = request.headers["x-zm-request-timestamp"]
        mac = hmac.new(WEBHOOK_SECRET.encode(), f"v0:{timestamp}:".encode() + request.body, hashlib.sha256)
        assert request.headers["x-zm-signature"] == f"v0={mac.hexdigest()}"
    assert [d.ok for d in zoom.deliveries] == [True, True]
    joined, left = receiver.events()
    who = person.fields
    assert joined.session_id == "plenary-7"
    assert joined.kind is VideoEventKind.JOINED
    assert joined.participant == Participant(who["participant_uuid"], "ana-lima", "Ana Lima", "ana@example.org")
    assert joined.at == datetime.fromisoformat(who["join_time"])
    assert abs(joined.at - datetime.now(UTC)) < timedelta(seconds=10)
    uuid = person.meeting.data["uuid"]
    assert joined.key == f"zoom:{uuid}:{who['participant_uuid']}:meeting.participant_joined:{who['join_time']}"
    assert (left.kind, left.participant) == (joined.kind.LEFT, joined.participant)


async def test_guests_and_absent_or_empty_e_mails_are_nobody_s_delegate_unless_the_address_is_theirs(
    zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider
) -> None:
    session = zoom_session(zoom)
    receiver.route(provider, [session])
    await zoom.join(await provider.join_url(session, ANA, now()), email_as="omitted")  # by registrant_id still
    meeting = next(iter(zoom.meetings.values()))
    await zoom.join(meeting.data["join_url"], name="Walk-in")
    await zoom.join_guest(meeting.id, "Phone", email_as="omitted")
    await zoom.join_guest(meeting.id, "Ana on her phone", email="ANA@Example.org")
    await zoom.join_guest(meeting.id, "Encrypted", email="kH3f9Zq0c2VbR1w==")
    await zoom.settle()

    people = [(e.participant.name, e.participant.delegate_id) for e in receiver.events() if e.participant]
    assert people == [
        ("Ana Lima", "ana-lima"),
        ("Walk-in", None),
        ("Phone", None),
        ("Ana on her phone", "ana-lima"),
        ("Encrypted", None),
    ]
    emails = [e.participant.email for e in receiver.events() if e.participant]
    assert emails == [None, None, None, "ANA@Example.org", None]


async def test_url_validation_is_answered_right(zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider) -> None:
    receiver.route(provider, [zoom_session(zoom)])
    validation = await zoom.validate_endpoint()
    assert validation.correct
    assert receiver.readings[0].content_type == "application/json"
    assert json.loads(receiver.readings[0].body) == validation.answer


async def test_url_validation_signed_with_another_secret_is_refused(
    zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider
) -> None:
    receiver.route(provider, [zoom_session(zoom, video={"webhook_secret": "another-app-s-secret"})])
    validation = await zoom.validate_endpoint()
    assert (validation.correct, validation.status) == (False, 401)


@pytest.mark.parametrize("fault", ["stale_timestamp", "bad_signature"])
async def test_a_stale_or_forged_webhook_is_refused_with_nothing_read(
    zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider, fault: str
) -> None:
    session = zoom_session(zoom)
    receiver.route(provider, [session])
    url = await provider.join_url(session, ANA, now())
    zoom.inject(fault, 4)  # the first attempt and its three retries
    await zoom.join(url)
    await zoom.settle()
    assert receiver.statuses() == [401] * 4
    assert [d.ok for d in zoom.deliveries] == [False] * 4
    assert receiver.events() == []
    refused = receiver.readings[0].refused or ""
    assert ("five minutes" if fault == "stale_timestamp" else "signature") in refused
    assert WEBHOOK_SECRET not in refused


@pytest.mark.parametrize(
    ("headers", "age"),
    [({}, 400), ({"x-zm-signature": "v0=" + "0" * 64}, 0), ({"x-zm-request-timestamp": "soon"}, 0), ({}, -400)],
)
async def test_refusals_of_hand_made_webhooks(
    zoom: FakeZoom, provider: ZoomProvider, headers: dict[str, str], age: float
) -> None:
    session = zoom_session(zoom)
    body = b'{"event":"endpoint.url_validation","payload":{"plainToken":"abc"}}'
    assert (await provider.read_webhook([session], signed(body))).status == 200
    request = signed(body, age=age)
    forged = WebhookRequest(request.url, {**request.headers, **headers}, body, request.received_at)
    reading = await provider.read_webhook([session], forged)
    assert (reading.status, reading.body) == (401, "")
    no_headers = WebhookRequest(request.url, {}, body, request.received_at)
    assert (await provider.read_webhook([session], no_headers)).status == 401


async def test_malformed_and_foreign_webhooks(zoom: FakeZoom, provider: ZoomProvider) -> None:
    session = zoom_session(zoom)
    await provider.join_url(session, ANA, now())
    for body in [b"not json", b'{"payload":{}}', b'{"event":"meeting.participant_joined","payload":{"object":{}}}']:
        assert (await provider.read_webhook([session], signed(body))).status == 400
    other = {"event": "meeting.participant_joined", "payload": {"object": {"id": "123", "participant": {}}}}
    foreign = await provider.read_webhook([session], signed(json.dumps(other).encode()))
    assert (foreign.status, foreign.events) == (200, ())  # not one of our meetings
    unknown = await provider.read_webhook([session], signed(b'{"event":"meeting.sharing_started","payload":{}}'))
    assert (unknown.status, unknown.events) == (200, ())
    meeting = next(iter(zoom.meetings.values())).data
    obj = {"id": str(meeting["id"]), "uuid": meeting["uuid"], "end_time": "2026-01-01T10:00:00Z"}
    ended = await provider.read_webhook(
        [session], signed(json.dumps({"event": "meeting.ended", "payload": {"object": obj}}).encode())
    )
    ((event,),) = [ended.events]
    assert (event.session_id, event.kind, event.at) == (
        "plenary-7",
        VideoEventKind.ENDED,
        datetime(2026, 1, 1, 10, tzinfo=UTC),
    )
    assert event.key == f"zoom:{meeting['uuid']}::meeting.ended:2026-01-01T10:00:00Z"


async def test_an_expired_token_is_replaced_once(zoom: FakeZoom, provider: ZoomProvider) -> None:
    session = zoom_session(zoom)
    await provider.join_url(session, ANA, now())
    zoom.expire_tokens()
    await provider.join_url(session, BEN, now())
    assert zoom.tokens_issued == 2
    assert len(next(iter(zoom.meetings.values())).registrants) == 2


async def test_a_meeting_deleted_on_zoom_is_made_again_and_a_moved_session_moves_it(
    zoom: FakeZoom, provider: ZoomProvider
) -> None:
    session = zoom_session(zoom)
    await provider.join_url(session, ANA, now())
    zoom.meetings.clear()
    ben = await provider.join_url(session, BEN, now())
    ((meeting_id, meeting),) = zoom.meetings.items()
    assert [r.join_url for r in meeting.registrants.values()] == [ben]
    kept = await provider.state.get("zoom", "plenary-7")
    assert kept is not None
    registrants = kept["registrants"]
    assert isinstance(registrants, dict)
    assert (kept["meeting_id"], list(registrants)) == (str(meeting_id), ["ben-okafor"])

    moved = zoom_session(zoom, starts_in=timedelta(days=1), length=timedelta(minutes=90))
    assert await provider.join_url(moved, BEN, now()) == ben
    assert (meeting.data["start_time"], meeting.data["duration"]) == (
        moved.starts_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        90,
    )
    assert len(zoom.meetings) == 1


async def test_delegates_sharing_an_address_get_registrants_of_their_own(
    zoom: FakeZoom, receiver: Receiver, provider: ZoomProvider
) -> None:
    session = zoom_session(zoom)
    receiver.route(provider, [session])
    office = "office@mission.example.org"
    first = await provider.join_url(session, Seat("ana-lima", "Ana Lima", office), now())
    second = await provider.join_url(session, Seat("ben-okafor", "Ben Okafor", office), now())
    assert first != second
    await zoom.join(second)
    await zoom.settle()
    (joined,) = receiver.events()
    assert joined.participant is not None
    assert joined.participant.delegate_id == "ben-okafor"


async def test_keep_up_renews_tokens_only_for_running_sessions(zoom: FakeZoom, provider: ZoomProvider) -> None:
    later = zoom_session(zoom, starts_in=timedelta(days=3))
    await provider.keep_up([later], "https://plenary.example.org/webhooks/zoom", now())
    assert zoom.token_requests == []
    await provider.keep_up([later, zoom_session(zoom)], "https://plenary.example.org/webhooks/zoom", now())
    await provider.keep_up([zoom_session(zoom)], "https://plenary.example.org/webhooks/zoom", now())
    assert zoom.tokens_issued == 1
    assert await provider.present(zoom_session(zoom)) is None


async def test_refused_credentials_are_video_unavailable_without_the_secret(zoom: FakeZoom) -> None:
    provider = ZoomProvider(MemoryState(), oauth_url=zoom.oauth_url, api_url=zoom.base_url)
    wrong = zoom_session(zoom, video={"client_secret": "not-the-client-secret"})
    with pytest.raises(VideoUnavailable) as refused:
        await provider.join_url(wrong, ANA, now())
    await provider.close()
    assert refused.value.reason == "the token was refused (HTTP 400, invalid_client)"
    assert "not-the-client-secret" not in str(refused.value)

    gone = ZoomProvider(MemoryState(), oauth_url="http://127.0.0.1:9/oauth/token", api_url=zoom.base_url)
    with pytest.raises(VideoUnavailable, match="getting a token: could not connect"):
        await gone.join_url(zoom_session(zoom), ANA, now())
    await gone.close()
