"""A webhook's body as the network delivers it, to the real HTTP server: in pieces, apart in time (a callback
over a slow link), chunked with no length, and too large. The signature is checked over the whole body."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from domain.deployment import Deployment
from storage.repositories import Store
from tests.doubles.bigbluebutton import bigbluebutton_server, callback_checksum, form_encode
from tests.integration.video_setup import running_now, service

SECRET = "bodies-shared-secret-for-the-double"


def callback(user: str, ts: int) -> bytes:
    event = '[{"data":{"type":"event","id":"user-joined","attributes":{"meeting":{"internal-meeting-id":"m-1",'
    event += f'"external-meeting-id":"icmec-xviii"}},"user":{{"internal-user-id":"{user}","external-user-id":'
    event += f'"rus-head","name":"Иванов"}}}},"event":{{"ts":{ts}}}}}}}]'
    return form_encode([("domain", "bbb.example.org"), ("event", event), ("timestamp", str(ts))]).encode()


async def post_raw(public: str, target: str, pieces: list[bytes], headers: dict[str, str]) -> int:
    """POST ``pieces`` of a body over a socket of its own, a moment apart; the status answered."""
    address = urlsplit(public)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = f"POST {target} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    writer.write(head.encode())
    for piece in pieces:
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(piece)
    await writer.drain()
    status = int((await reader.readline()).split()[1])
    writer.close()
    await writer.wait_closed()
    return status


async def test_a_body_in_pieces_chunked_or_too_large_is_read_whole_or_refused(
    store: Store, deployment: Deployment
) -> None:
    async with bigbluebutton_server(SECRET) as bbb:
        chosen, session = running_now(deployment, "icmec-xviii", url=f"{bbb.base_url}/bigbluebutton/", secret=SECRET)
        async with service(store, chosen) as (_, public, _):
            url = f"{public}/webhooks/bigbluebutton"
            form = {"Content-Type": "application/x-www-form-urlencoded"}
            ts = int(session.starts_at.timestamp() * 1000) + 60_000

            body = callback("w_1", ts)
            target = f"/webhooks/bigbluebutton?checksum={callback_checksum(url, body.decode(), SECRET)}"
            halves = [body[:100], body[100:]]
            assert await post_raw(public, target, halves, {**form, "Content-Length": str(len(body))}) == 200

            body = callback("w_2", ts + 1000)
            target = f"/webhooks/bigbluebutton?checksum={callback_checksum(url, body.decode(), SECRET)}"
            chunks = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in (body[:300], body[300:])] + [b"0\r\n\r\n"]
            assert await post_raw(public, target, chunks, {**form, "Transfer-Encoding": "chunked"}) == 200

            huge = body + b"&padding=" + b"x" * (256 * 1024)
            target = f"/webhooks/bigbluebutton?checksum={callback_checksum(url, huge.decode(), SECRET)}"
            pieces = [f"{len(huge[i : i + 65536]):x}\r\n".encode() + huge[i : i + 65536] + b"\r\n"
                      for i in range(0, len(huge), 65536)] + [b"0\r\n\r\n"]  # fmt: skip
            assert await post_raw(public, target, pieces, {**form, "Transfer-Encoding": "chunked"}) == 413

    recorded = await store.attendance.for_session("icmec-xviii")
    assert sorted(f.participant_id or "" for f in recorded) == ["w_1", "w_2"]
