"""The BigBlueButton provider against the BigBlueButton double over real HTTP.

The double's callbacks reach a receiver on loopback that reads them with ``read_webhook``, as the service's
endpoint would; checksums (of the join URL and of the callbacks) are recomputed here with hashlib, not with the
provider's or the double's helpers.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import pytest

from domain.model import Session
from domain.video import Participant, Seat, VideoEventKind, WebhookRequest
from integrations.video import VideoUnavailable
from integrations.video.bigbluebutton import BigBlueButtonProvider
from tests.doubles.bigbluebutton import BigBlueButtonServer, bigbluebutton_server
from tests.integration.test_video_providers import MemoryState, Receiver, now, receiver, video_session

__all__ = ["receiver"]

SECRET = "bbb-shared-secret-of-the-provider-tests"
ANA = Seat("ana-lima", "Ana Lima", "ana@example.org", moderator=True)
BEN = Seat("ben-okafor", "Ben Okafor")
ALGORITHMS = ["sha1", "sha256", "sha384", "sha512"]


def bbb_session(bbb: BigBlueButtonServer, checksum: str = "sha256", secret: str = SECRET, **options: Any) -> Session:
    video = {"provider": "bigbluebutton", "url": f"{bbb.base_url}/bigbluebutton/", "secret": secret}
    return video_session(video | {"checksum": checksum}, **options)


@pytest.fixture
async def bbb() -> AsyncIterator[BigBlueButtonServer]:
    async with bigbluebutton_server(secret=SECRET, retry_intervals=(0.01, 0.02), request_timeout=1.0) as server:
        yield server


@pytest.fixture
async def provider(receiver: Receiver) -> AsyncIterator[BigBlueButtonProvider]:
    made = BigBlueButtonProvider(receiver.url + "/", MemoryState())
    try:
        yield made
    finally:
        await made.close()


def checksum_of(url: str) -> tuple[str, str, str]:
    """(call, query without the checksum, checksum) of a signed API URL."""
    parts = urlsplit(url)
    query, _, checksum = parts.query.rpartition("&checksum=")
    return parts.path.rsplit("/", 1)[1], query, checksum


def signed_request(url: str, body: bytes, secret: str, algorithm: str = "sha1", **headers: str) -> WebhookRequest:
    checksum = hashlib.new(algorithm, url.encode() + body + secret.encode()).hexdigest()
    return WebhookRequest(f"{url}?checksum={checksum}", headers, body, datetime.now(UTC))


def form(*events: str) -> bytes:
    return ("domain=bbb.example.org&event=" + quote_plus("[" + ",".join(events) + "]") + "&timestamp=1").encode()


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_a_personal_link_enters_as_the_delegate_and_the_callback_reads_as_their_join(
    receiver: Receiver, provider: BigBlueButtonProvider, algorithm: str
) -> None:
    async with bigbluebutton_server(secret=SECRET, hook_checksum_algorithm=algorithm) as bbb:
        session = bbb_session(bbb, algorithm)
        receiver.route(provider, [session])
        await provider.keep_up([session], provider.callback_url, now())
        url = await provider.join_url(session, ANA, now())

        call, query, checksum = checksum_of(url)
        assert call == "join"
        assert checksum == hashlib.new(algorithm, f"join{query}{SECRET}".encode()).hexdigest()
        params = dict(parse_qsl(query))
        created = bbb.meetings["plenary-7"]
        assert params == {
            "fullName": "Ana Lima",
            "meetingID": "plenary-7",
            "role": "MODERATOR",
            "userID": "ana-lima",
            "createTime": str(created.create_time),
            "userdata-plenary_delegate": "ana-lima",
            "redirect": "true",
        }
        assert [(c.name, c.algorithm) for c in bbb.calls] == [("hooks/create", algorithm), ("create", algorithm)]

        ana = await bbb.open_join_url(url)
        await bbb.leave(ana)
        await bbb.end_meeting("plenary-7")
        await bbb.settle()

    assert (ana.external_user_id, ana.role, ana.full_name) == ("ana-lima", "MODERATOR", "Ana Lima")
    for request in receiver.requests:
        given = dict(parse_qsl(urlsplit(request.url).query))["checksum"]
        signed = provider.callback_url.encode() + request.body + SECRET.encode()
        assert given == hashlib.new(algorithm, signed).hexdigest()
    assert [d.status for d in bbb.deliveries] == [200, 200, 200]
    joined, left, ended = receiver.events()
    internal = created.internal_meeting_id
    assert joined.session_id == "plenary-7"
    assert joined.kind is VideoEventKind.JOINED
    assert joined.participant == Participant(ana.internal_user_id, "ana-lima", "Ana Lima")
    ts = bbb.events[1]["data"]["event"]["ts"]
    assert joined.at == datetime.fromtimestamp(ts / 1000, UTC)
    assert abs(joined.at - datetime.now(UTC)) < timedelta(seconds=10)
    assert joined.key == f"bigbluebutton:{internal}:{ana.internal_user_id}:user-joined:{ts}"
    assert (left.kind, left.participant) == (VideoEventKind.LEFT, Participant(ana.internal_user_id, "ana-lima"))
    assert (ended.kind, ended.participant, ended.session_id) == (VideoEventKind.ENDED, None, "plenary-7")
    assert all(r.meta == {"domain": "127.0.0.1"} for r in receiver.readings)


async def test_create_is_called_at_each_link_and_stays_one_meeting(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider
) -> None:
    session = bbb_session(bbb, title={"en": "Third plenary", "ru": "Третье пленарное"})
    first = await provider.join_url(session, ANA, now())
    second = await provider.join_url(session, BEN, now())

    assert [(c.name, c.message_key) for c in bbb.calls] == [("create", ""), ("create", "duplicateWarning")]
    meeting = bbb.meetings["plenary-7"]
    assert meeting.metadata == {"plenary-session": "plenary-7"}
    assert (meeting.params["name"], meeting.params["record"]) == ("Third plenary", "false")
    lasting = ("meetingExpireIfNoUserJoinedInMinutes", "meetingExpireWhenLastUserLeftInMinutes")
    assert [meeting.params[p] for p in lasting] == ["110", "110"]  # until the end (it began 10 minutes ago)
    assert dict(parse_qsl(checksum_of(first)[1]))["createTime"] == str(meeting.create_time)
    assert dict(parse_qsl(checksum_of(second)[1]))["role"] == "VIEWER"
    assert await provider.state.get("bigbluebutton", "plenary-7") == {
        "internal_meeting_id": meeting.internal_meeting_id,
        "create_time": str(meeting.create_time),
    }
    assert isinstance(provider.state, MemoryState)
    assert provider.state.puts == [("bigbluebutton", "plenary-7")]

    ben = await bbb.open_join_url(second)
    assert (ben.external_user_id, ben.role) == ("ben-okafor", "VIEWER")


async def test_a_link_from_an_earlier_meeting_is_refused_and_a_new_link_works(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider
) -> None:
    session = bbb_session(bbb)
    old = await provider.join_url(session, BEN, now())
    await bbb.end_meeting("plenary-7")
    new = await provider.join_url(session, BEN, now())
    with pytest.raises(AssertionError, match="mismatchCreateTimeParam"):
        await bbb.open_join_url(old)
    assert (await bbb.open_join_url(new)).external_user_id == "ben-okafor"


async def test_a_guest_without_user_id_is_nobody_s_delegate(
    bbb: BigBlueButtonServer, receiver: Receiver, provider: BigBlueButtonProvider
) -> None:
    session = bbb_session(bbb)
    receiver.route(provider, [session])
    await provider.keep_up([session], provider.callback_url, now())
    await provider.join_url(session, ANA, now())
    guest = await bbb.join_guest("plenary-7", "Phone-in")
    await bbb.settle()

    (joined,) = receiver.events()
    assert joined.participant == Participant(guest.internal_user_id, None, "Phone-in")
    assert guest.external_user_id == guest.internal_user_id


async def test_present_after_a_dropped_user_left(
    bbb: BigBlueButtonServer, receiver: Receiver, provider: BigBlueButtonProvider
) -> None:
    session = bbb_session(bbb)
    receiver.route(provider, [session])
    assert await provider.present(session) is None  # no meeting yet
    await provider.keep_up([session], provider.callback_url, now())
    ana = await bbb.open_join_url(await provider.join_url(session, ANA, now()))
    guest = await bbb.join_guest("plenary-7", "Phone-in")
    assert await provider.present(session) == [
        Participant("ana-lima", "ana-lima", "Ana Lima"),
        Participant(guest.internal_user_id, None, "Phone-in"),
    ]

    bbb.drop("user-left")
    await bbb.leave(ana)
    await bbb.settle()
    assert [e.kind for e in receiver.events()] == [VideoEventKind.JOINED, VideoEventKind.JOINED]
    assert await provider.present(session) == [Participant(guest.internal_user_id, None, "Phone-in")]

    await bbb.end_meeting("plenary-7")
    assert await provider.present(session) is None


async def test_keep_up_registers_the_hook_again_after_bbb_webhooks_deleted_it(
    bbb: BigBlueButtonServer, receiver: Receiver, provider: BigBlueButtonProvider
) -> None:
    session = bbb_session(bbb)
    receiver.route(provider, [session])
    await provider.keep_up([session], provider.callback_url, now())
    ((hook_id, hook),) = bbb.hooks.items()
    assert (hook.callback_url, hook.event_ids) == (provider.callback_url, ["user-joined", "user-left", "meeting-ended"])
    await provider.keep_up([session, bbb_session(bbb, session_id="plenary-8")], provider.callback_url, now())
    assert bbb.calls[-1].message_key == "duplicateWarning"
    assert list(bbb.hooks) == [hook_id]

    await provider.join_url(session, ANA, now())
    receiver.fail.extend([503, 503, 503])
    await bbb.join_guest("plenary-7", "Lost")
    await bbb.settle()
    assert bbb.hooks == {}
    assert [h.hook_id for h in bbb.removed_hooks] == [hook_id]

    await provider.keep_up([session], provider.callback_url, now())
    guest = await bbb.join_guest("plenary-7", "Found")
    await bbb.settle()
    assert len(bbb.hooks) == 1
    assert receiver.events()[-1].participant == Participant(guest.internal_user_id, None, "Found")


async def test_callbacks_signed_with_another_secret_are_refused_with_401_and_not_retried(
    bbb: BigBlueButtonServer, receiver: Receiver, provider: BigBlueButtonProvider
) -> None:
    async with bigbluebutton_server(secret="another-server-s-secret", retry_intervals=(0.01,)) as other:
        ours, theirs = bbb_session(bbb), bbb_session(other, secret="another-server-s-secret", session_id="s-9")
        receiver.route(provider, [ours])  # the other server's session is not ours
        await provider.keep_up([theirs], provider.callback_url, now())
        await provider.join_url(theirs, ANA, now())
        await other.join_guest("s-9", "Intruder")
        await other.settle()

    assert [(d.attempt, d.status) for d in other.deliveries] == [(1, 401)]
    assert len(other.hooks) == 1  # 401 counts as delivered: the hook stays
    assert receiver.events() == []
    assert receiver.readings[0].refused == "the checksum or bearer token matches no server's secret"


@pytest.mark.parametrize(
    ("change", "refused"),
    [
        ({"url": "{url}"}, "no checksum and no bearer token"),
        ({"url": "{url}?checksum=" + "0" * 40}, "the checksum or bearer token matches no server's secret"),
        ({"url": "{url}?checksum=abc"}, "a checksum of no known length"),
        ({"secret": "not-the-secret"}, "the checksum or bearer token matches no server's secret"),
        ({"body": b"tampered"}, "the checksum or bearer token matches no server's secret"),
        ({"callback": "https://elsewhere.example.org/webhooks/bigbluebutton"}, "matches no server's secret"),
        ({"headers": {"Authorization": "Bearer not-the-secret"}, "url": "{url}"}, "matches no server's secret"),
        ({"legacy": True}, "signed over no body (bbb-webhooks before 3.4)"),
    ],
)
async def test_forged_or_unsigned_callbacks_are_refused_before_reading(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider, change: dict[str, Any], refused: str
) -> None:
    session = bbb_session(bbb)
    event = '{"data":{"type":"event","id":"meeting-ended","attributes":{"meeting":{"internal-meeting-id":"x-1",'
    event += '"external-meeting-id":"plenary-7"}},"event":{"ts":1767225600000}}}'
    body = form(event)
    signed_body = b"{}" if change.get("legacy") else body
    secret, callback = change.get("secret", SECRET), change.get("callback", provider.callback_url)
    request = signed_request(callback, signed_body, secret)
    url = change.get("url", request.url).format(url=provider.callback_url)
    forged = WebhookRequest(url, change.get("headers", {}), change.get("body", body), request.received_at)

    reading = await provider.read_webhook([session], forged)
    assert (reading.status, reading.events) == (401, ())
    assert reading.refused is not None
    assert refused in reading.refused
    assert SECRET not in reading.refused

    genuine = await provider.read_webhook([session], signed_request(provider.callback_url, body, SECRET))
    assert (genuine.status, [e.kind for e in genuine.events]) == (200, [VideoEventKind.ENDED])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
async def test_every_callback_algorithm_and_the_bearer_token_are_accepted(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider, algorithm: str
) -> None:
    session = bbb_session(bbb)
    event = '{"data":{"id":"meeting-ended","attributes":{"meeting":{"internal-meeting-id":"x-1",'
    event += '"external-meeting-id":"plenary-7"}},"event":{"ts":1767225600000}}}'
    body = form(event)
    reading = await provider.read_webhook([session], signed_request(provider.callback_url, body, SECRET, algorithm))
    assert reading.status == 200
    assert reading.events[0].at == datetime(2026, 1, 1, tzinfo=UTC)
    assert reading.events[0].key == "bigbluebutton:x-1::meeting-ended:1767225600000"
    bearer = WebhookRequest(provider.callback_url, {"authorization": f"Bearer {SECRET}"}, body, datetime.now(UTC))
    assert (await provider.read_webhook([session], bearer)).status == 200


async def test_bearer_auth_from_the_double_is_read(receiver: Receiver, provider: BigBlueButtonProvider) -> None:
    async with bigbluebutton_server(secret=SECRET, bearer_auth=True) as bbb:
        session = bbb_session(bbb)
        receiver.route(provider, [session])
        await provider.keep_up([session], provider.callback_url, now())
        await bbb.open_join_url(await provider.join_url(session, BEN, now()))
        await bbb.settle()
    assert [(e.kind, e.participant and e.participant.delegate_id) for e in receiver.events()] == [
        (VideoEventKind.JOINED, "ben-okafor")
    ]


@pytest.mark.parametrize(
    "body",
    [b"domain=x&timestamp=1", b"event=not-json", b"event=%5B%7B%22data%22%3A1%7D%5D", b"\xff\xfe", b"a=1&&=&b"],
)
async def test_a_well_signed_but_malformed_callback_is_a_400(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider, body: bytes
) -> None:
    reading = await provider.read_webhook([bbb_session(bbb)], signed_request(provider.callback_url, body, SECRET))
    assert (reading.status, reading.events) == (400, ())


async def test_batched_duplicated_and_foreign_events(
    bbb: BigBlueButtonServer, receiver: Receiver, provider: BigBlueButtonProvider
) -> None:
    session, elsewhere = bbb_session(bbb), bbb_session(bbb, session_id="plenary-8")
    receiver.route(provider, [session])
    await provider.keep_up([session], provider.callback_url, now())
    await provider.join_url(session, ANA, now())
    await provider.join_url(elsewhere, BEN, now())  # a meeting on the same server, not among the sessions read
    bbb.duplicate("user-joined")
    await bbb.join_guest("plenary-7", "Twice")
    await bbb.join_guest("plenary-8", "Elsewhere")
    await bbb.settle()
    bbb.hold()
    one = await bbb.join_guest("plenary-7", "One")
    await bbb.leave(one)
    bbb.release(together=True)
    await bbb.settle()

    assert receiver.statuses() == [200, 200, 200, 200]
    twice, again, left, joined = receiver.events()
    assert twice.key == again.key
    assert (left.kind, joined.kind) == (VideoEventKind.LEFT, VideoEventKind.JOINED)
    assert left.at >= joined.at
    assert {e.session_id for e in receiver.events()} == {"plenary-7"}


async def test_failures_are_video_unavailable_without_the_secret(
    bbb: BigBlueButtonServer, provider: BigBlueButtonProvider
) -> None:
    wrong = bbb_session(bbb, secret="not-the-server-s-secret")
    with pytest.raises(VideoUnavailable) as refused:
        await provider.join_url(wrong, ANA, now())
    assert refused.value.reason == "create was refused (checksumError)"
    with pytest.raises(VideoUnavailable) as failed:
        await provider.keep_up([wrong], provider.callback_url, now())
    assert failed.value.reason == "hooks/create was refused (checksumError)"

    gone = video_session({"provider": "bigbluebutton", "url": "http://127.0.0.1:9/bigbluebutton/", "secret": SECRET})
    with pytest.raises(VideoUnavailable) as unreachable:
        await provider.present(gone)
    assert unreachable.value.reason.startswith("getMeetingInfo: could not connect")
    for error in (refused.value, failed.value, unreachable.value):
        assert SECRET not in str(error)
        assert "not-the-server-s-secret" not in str(error)
        assert "checksum=" not in str(error)
        assert "127.0.0.1" not in str(error)
