"""The BigBlueButton double over real HTTP: signed API calls from aiohttp, webhooks to a receiver on loopback.

Checksums are computed here independently (hashlib over the exact query string sent, and over the exact
form body received), not with the double's own helpers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import aiohttp
import pytest
import yarl
from aiohttp import web

from tests.doubles.bigbluebutton import BigBlueButtonServer, bigbluebutton_server

SECRET = "s3cr3t-shared-with-bbb"


def signed(bbb: BigBlueButtonServer, call: str, params: list[tuple[str, str]], algorithm: str = "sha1") -> yarl.URL:
    query = urlencode(params)
    checksum = hashlib.new(algorithm, f"{call}{query}{SECRET}".encode()).hexdigest()
    return yarl.URL(f"{bbb.base_url}/bigbluebutton/api/{call}?{query}&checksum={checksum}", encoded=True)


async def get_xml(client: aiohttp.ClientSession, url: yarl.URL) -> ET.Element:
    async with client.get(url, allow_redirects=False) as response:
        assert response.status == 200, await response.text()
        assert response.content_type == "text/xml"
        return ET.fromstring(await response.text())


@dataclass
class Receiver:
    """A webhook endpoint on loopback: records raw requests and answers with the planned statuses."""

    url: str = ""
    received: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((request.raw_path, await request.text(), dict(request.headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        if self.delay:
            delay, self.delay = self.delay, 0.0
            await asyncio.sleep(delay)
        return web.Response(status=status)

    def events(self) -> list[dict[str, Any]]:
        return [event for _, body, _ in self.received for event in json.loads(parse_qs(body)["event"][0])]


def label(event: dict[str, Any]) -> tuple[str, str]:
    user = event["data"]["attributes"]["user"]
    return event["data"]["id"], user.get("name", user["internal-user-id"])


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def bbb() -> AsyncIterator[BigBlueButtonServer]:
    async with bigbluebutton_server(secret=SECRET, retry_intervals=(0.01, 0.02), request_timeout=0.3) as server:
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    endpoint = Receiver()
    app = web.Application()
    app.router.add_post("/bbb/events", endpoint.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    endpoint.url = f"http://127.0.0.1:{runner.addresses[0][1]}/bbb/events"
    yield endpoint
    await runner.cleanup()


async def create(client: aiohttp.ClientSession, bbb: BigBlueButtonServer, meeting_id: str = "s-1") -> ET.Element:
    params = [("meetingID", meeting_id), ("name", "Plenary — 3rd session"), ("meta_plenary-session", "42")]
    return await get_xml(client, signed(bbb, "create", [*params, ("record", "false")]))


async def subscribe(client: aiohttp.ClientSession, bbb: BigBlueButtonServer, url: str, events: str) -> str:
    answer = await get_xml(client, signed(bbb, "hooks/create", [("callbackURL", url), ("eventID", events)]))
    assert answer.findtext("returncode") == "SUCCESS"
    return str(answer.findtext("hookID"))


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
async def test_create_and_join_signed_with_each_algorithm(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, algorithm: str
) -> None:
    params = [("meetingID", "s-1"), ("name", "Plenary — 3rd session ~*"), ("meta_plenary-session", "42")]
    created = await get_xml(client, signed(bbb, "create", params, algorithm))
    assert created.findtext("returncode") == "SUCCESS"
    create_time = str(created.findtext("createTime"))
    assert created.findtext("internalMeetingID") == hashlib.sha1(b"s-1").hexdigest() + "-" + create_time
    join = [("fullName", "Ana Díaz"), ("meetingID", "s-1"), ("role", "MODERATOR"), ("userID", "member-7")]
    joined = await get_xml(
        client, signed(bbb, "join", [*join, ("createTime", create_time), ("redirect", "false")], algorithm)
    )
    assert joined.findtext("messageKey") == "successfullyJoined"
    token = str(joined.findtext("session_token"))
    assert joined.findtext("url") == f"{bbb.base_url}/html5client/join?sessionToken={token}"
    assert [(c.name, c.algorithm) for c in bbb.calls] == [("create", algorithm), ("join", algorithm)]
    assert bbb.meetings["s-1"].metadata == {"plenary-session": "42"}
    assert bbb.calls[0].params["name"] == "Plenary — 3rd session ~*"


async def test_a_wrong_checksum_is_refused(client: aiohttp.ClientSession, bbb: BigBlueButtonServer) -> None:
    url = signed(bbb, "create", [("meetingID", "s-1"), ("name", "x")])
    tampered = yarl.URL(str(url).replace("name=x", "name=y"), encoded=True)
    answer = await get_xml(client, tampered)
    assert [answer.findtext(t) for t in ("returncode", "messageKey")] == ["FAILED", "checksumError"]
    assert answer.findtext("message") == "Checksums do not match"
    assert bbb.meetings == {}
    assert bbb.calls[-1].algorithm is None
    hooks = await get_xml(client, yarl.URL(f"{bbb.base_url}/bigbluebutton/api/hooks/list?checksum=" + "0" * 40))
    assert hooks.findtext("messageKey") == "checksumError"


async def test_only_the_configured_algorithms_are_accepted(client: aiohttp.ClientSession) -> None:
    async with bigbluebutton_server(secret=SECRET, algorithms=("sha256",)) as bbb:
        refused = await get_xml(client, signed(bbb, "getMeetings", [], "sha1"))
        accepted = await get_xml(client, signed(bbb, "getMeetings", [], "sha256"))
    assert refused.findtext("messageKey") == "checksumError"
    assert [accepted.findtext(t) for t in ("returncode", "messageKey")] == ["SUCCESS", "noMeetings"]


async def test_create_is_idempotent(client: aiohttp.ClientSession, bbb: BigBlueButtonServer) -> None:
    first, again = await create(client, bbb), await create(client, bbb)
    assert again.findtext("messageKey") == "duplicateWarning"
    for tag in ("createTime", "internalMeetingID", "meetingID"):
        assert first.findtext(tag) == again.findtext(tag)
    assert len(bbb.meetings) == 1


async def test_a_join_url_from_an_earlier_meeting_is_refused(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer
) -> None:
    old = str((await create(client, bbb)).findtext("createTime"))
    await get_xml(client, signed(bbb, "end", [("meetingID", "s-1")]))
    assert str((await create(client, bbb)).findtext("createTime")) != old
    join = [("fullName", "Ana"), ("meetingID", "s-1"), ("role", "VIEWER"), ("createTime", old)]
    refused = await get_xml(client, signed(bbb, "join", [*join, ("redirect", "false")]))
    assert [refused.findtext(t) for t in ("returncode", "messageKey")] == ["FAILED", "mismatchCreateTimeParam"]
    async with client.get(signed(bbb, "join", join), allow_redirects=False) as response:
        assert response.status == 302
        errors = json.loads(parse_qs(urlsplit(response.headers["Location"]).query)["errors"][0])
    assert errors[0]["key"] == "mismatchCreateTimeParam"
    unknown = await get_xml(
        client, signed(bbb, "join", [("fullName", "A"), ("meetingID", "nope"), ("redirect", "false")])
    )
    assert unknown.findtext("messageKey") == "notFound"
    assert bbb.sessions == {}


async def test_joining_needs_a_real_join_url(client: aiohttp.ClientSession, bbb: BigBlueButtonServer) -> None:
    await create(client, bbb)
    join = [("fullName", "Ana"), ("meetingID", "s-1"), ("role", "moderator"), ("userID", "member-7")]
    async with client.get(signed(bbb, "join", join), allow_redirects=False) as response:
        assert response.status == 302
        token = parse_qs(urlsplit(response.headers["Location"]).query)["sessionToken"][0]
    with pytest.raises(LookupError):
        await bbb.enter("forged-token")
    ana = await bbb.enter(token)
    guest = await bbb.join_guest("s-1", "Phone-in")
    info = await get_xml(client, signed(bbb, "getMeetingInfo", [("meetingID", "s-1")], "sha256"))
    assert [info.findtext(t) for t in ("running", "participantCount", "moderatorCount")] == ["true", "2", "1"]
    people = {a.findtext("userID"): (a.findtext("fullName"), a.findtext("role")) for a in info.iter("attendee")}
    assert people == {"member-7": ("Ana", "MODERATOR"), guest.internal_user_id: ("Phone-in", "VIEWER")}
    assert ana.external_user_id == "member-7"
    assert guest.external_user_id.startswith("w_")
    assert info.findtext("metadata/plenary-session") == "42"
    assert info.findtext("attendees/attendee/clientType") == "HTML5"


async def test_webhooks_are_signed_over_the_callback_url_and_body(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, receiver: Receiver
) -> None:
    created = await create(client, bbb)
    hook_id = await subscribe(client, bbb, receiver.url, "user-joined,user-left,meeting-ended")
    again = await get_xml(client, signed(bbb, "hooks/create", [("callbackURL", receiver.url)]))
    assert (again.findtext("hookID"), again.findtext("messageKey")) == (hook_id, "duplicateWarning")
    join = [("fullName", "Ana Díaz"), ("meetingID", "s-1"), ("role", "VIEWER"), ("userID", "member-7")]
    ana = await bbb.open_join_url(str(signed(bbb, "join", join, "sha256")))
    await bbb.leave(ana)
    await bbb.settle()
    assert len(receiver.received) == 2
    for raw_path, body, _ in receiver.received:
        checksum = parse_qs(urlsplit(raw_path).query)["checksum"][0]
        assert checksum == hashlib.sha1(f"{receiver.url}{body}{SECRET}".encode()).hexdigest()
        assert [key for key, _ in parse_qsl(body)] == ["domain", "event", "timestamp"]
    joined, left = receiver.events()
    meeting = {"internal-meeting-id": created.findtext("internalMeetingID"), "external-meeting-id": "s-1"}
    assert joined["data"] == {
        "type": "event",
        "id": "user-joined",
        "attributes": {
            "meeting": meeting,
            "user": {
                "internal-user-id": ana.internal_user_id,
                "external-user-id": "member-7",
                "name": "Ana Díaz",
                "role": "VIEWER",
                "presenter": False,
                "guest": False,
            },
        },
        "event": {"ts": joined["data"]["event"]["ts"]},
    }
    user = {"internal-user-id": ana.internal_user_id, "external-user-id": "member-7", "guest": False}
    assert left["data"]["attributes"] == {"meeting": meeting, "user": user}
    assert [d.status for d in bbb.deliveries] == [200, 200]


async def test_a_dropped_user_left_still_shows_in_get_meeting_info(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, receiver: Receiver
) -> None:
    await create(client, bbb)
    await subscribe(client, bbb, receiver.url, "user-joined,user-left")
    ana = await bbb.join_guest("s-1", "Ana")
    bbb.drop("user-left")
    await bbb.leave(ana)
    await bbb.settle()
    assert [e["data"]["id"] for e in receiver.events()] == ["user-joined"]
    info = await get_xml(client, signed(bbb, "getMeetingInfo", [("meetingID", "s-1")]))
    assert info.findtext("participantCount") == "0"
    assert list(info.iter("attendee")) == []


async def test_a_failing_callback_is_retried_then_its_hook_is_deleted(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, receiver: Receiver
) -> None:
    await create(client, bbb)
    hook_id = await subscribe(client, bbb, receiver.url, "user-joined")
    receiver.statuses = [500, 503, 502]
    await bbb.join_guest("s-1", "Ana")
    await bbb.settle()
    assert [(d.attempt, d.status) for d in bbb.deliveries] == [(1, 500), (2, 503), (3, 502)]
    assert len({body for _, body, _ in receiver.received}) == 1  # the same POST, timestamp included
    assert [h.hook_id for h in bbb.removed_hooks] == [hook_id]
    listed = await get_xml(client, signed(bbb, "hooks/list", []))
    assert list(listed.iter("hook")) == []
    await bbb.join_guest("s-1", "Ben")
    await bbb.settle()
    assert len(receiver.received) == 3


async def test_a_timeout_is_retried_and_401_counts_as_delivered(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, receiver: Receiver
) -> None:
    await create(client, bbb)
    await subscribe(client, bbb, receiver.url, "user-joined")
    receiver.delay, receiver.statuses = 1.0, [200, 401]
    await bbb.join_guest("s-1", "Ana")
    await bbb.settle()
    assert [(d.status, d.error) for d in bbb.deliveries] == [(None, "TimeoutError"), (401, None)]
    assert list(bbb.hooks) != []


async def test_duplicates_and_reordered_batches(
    client: aiohttp.ClientSession, bbb: BigBlueButtonServer, receiver: Receiver
) -> None:
    await create(client, bbb)
    await subscribe(client, bbb, receiver.url, "user-joined,user-left")
    bbb.duplicate("user-joined")
    ana = await bbb.join_guest("s-1", "Ana")
    await bbb.settle()
    bbb.hold()
    ben = await bbb.join_guest("s-1", "Ben")
    await bbb.leave(ben)
    await bbb.leave(ana)
    bbb.release(together=True)
    await bbb.settle()
    assert [label(e) for e in receiver.events()] == [
        ("user-joined", "Ana"),
        ("user-joined", "Ana"),
        ("user-left", ana.internal_user_id),
        ("user-left", ben.internal_user_id),
        ("user-joined", "Ben"),
    ]
    assert len(receiver.received) == 3


async def test_bearer_auth_and_meeting_scoped_hooks(client: aiohttp.ClientSession, receiver: Receiver) -> None:
    async with bigbluebutton_server(secret=SECRET, bearer_auth=True) as bbb:
        await create(client, bbb, "s-1")
        await create(client, bbb, "s-2")
        params = [("callbackURL", receiver.url), ("meetingID", "s-2")]
        await get_xml(client, signed(bbb, "hooks/create", params))
        await bbb.join_guest("s-1", "Ana")
        await bbb.end_meeting("s-2")
        await bbb.settle()
        info = await get_xml(client, signed(bbb, "getMeetingInfo", [("meetingID", "s-2")]))
    assert info.findtext("messageKey") == "notFound"
    assert [e["data"]["id"] for e in receiver.events()] == ["meeting-ended"]
    raw_path, _, headers = receiver.received[0]
    assert raw_path == "/bbb/events"
    assert headers["Authorization"] == f"Bearer {SECRET}"


@pytest.mark.parametrize(("algorithm", "legacy"), [("sha256", False), ("sha1", True)])
async def test_callback_checksum_options(
    client: aiohttp.ClientSession, receiver: Receiver, algorithm: str, legacy: bool
) -> None:
    options = {"hook_checksum_algorithm": algorithm, "legacy_empty_body_checksum": legacy}
    async with bigbluebutton_server(secret=SECRET, **options) as bbb:
        await create(client, bbb)
        await subscribe(client, bbb, receiver.url + "?room=1", "user-joined")
        await bbb.join_guest("s-1", "Ana")
        await bbb.join_guest("s-1", "Ben")
        await bbb.settle()
    checksums = []
    for raw_path, body, _ in receiver.received:
        query = parse_qs(urlsplit(raw_path).query)
        assert query["room"] == ["1"]
        signed_text = f"{receiver.url}?room=1{'{}' if legacy else body}{SECRET}"
        assert query["checksum"] == [hashlib.new(algorithm, signed_text.encode()).hexdigest()]
        checksums.append(query["checksum"][0])
    assert len(set(checksums)) == (1 if legacy else 2)


async def test_a_permanent_hook_is_retried_and_kept(client: aiohttp.ClientSession, receiver: Receiver) -> None:
    options = {"retry_intervals": (0.01,), "permanent_interval": 0.01, "permanent_urls": [receiver.url]}
    async with bigbluebutton_server(secret=SECRET, **options) as bbb:
        (hook_id,) = bbb.hooks
        receiver.statuses = [500, 500, 500, 500]
        await create(client, bbb)
        await bbb.join_guest("s-1", "Ana")
        await bbb.settle()
        refused = await get_xml(client, signed(bbb, "hooks/destroy", [("hookID", hook_id)]))
        listed = await get_xml(client, signed(bbb, "hooks/list", [("meetingID", "s-1")]))
    assert [d.status for d in bbb.deliveries if d.events[0]["data"]["id"] == "user-joined"][-1] == 200
    assert refused.findtext("messageKey") == "destroyMissingHook"
    assert listed.findtext("hooks/hook/permanentHook") == "true"
