"""Telegram: a request that never left is 'not sent'; one that went out and got no answer is 'unknown'.

The real python-telegram-bot (through ``TelegramChannel``) talks HTTP to the Bot API double on loopback;
each case checks the outcome the dispatcher is told and what the double received.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from domain.delivery import Delivery, DeliveryError, Message, Outcome
from integrations.telegram.channel import TelegramChannel
from tests.doubles.telegram_api import DEFAULT_TOKEN, FakeTelegramApi, Fault


def reminder(chat: str, key: str = "icmec-xx:reminder:kgz-asanov") -> Delivery:
    message = Message("Напоминание", "Напоминание", "<p>Напоминание</p>", "<b>Напоминание</b>: завтра в 14:00", "ru")
    return Delivery(key=key, kind="reminder", address=chat, name="Талант Асанов", message=message)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as double:
        yield double


async def started(api: FakeTelegramApi, *, connections: int = 64, read_timeout: float = 15.0) -> TelegramChannel:
    # A free connection is waited for up to the pool's and the connect timeout together (aiohttp's "connect").
    channel = TelegramChannel(
        DEFAULT_TOKEN, api.base_url, connections=connections, read_timeout=read_timeout, connect_timeout=1.0
    )
    await channel.start()
    return channel


async def failure(channel: TelegramChannel, delivery: Delivery) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await channel.send(delivery)
    return caught.value


async def test_an_unreachable_bot_api_is_not_sent(api: FakeTelegramApi) -> None:
    channel = await started(api)
    await api.close()  # the server goes away: connections are refused
    try:
        error = await failure(channel, reminder("5000001"))
    finally:
        await channel.close()
    assert error.outcome is Outcome.TRANSIENT
    assert "could not connect" in error.reason
    assert api.requests == []


async def test_no_free_connection_in_the_pool_is_not_sent(api: FakeTelegramApi) -> None:
    channel = await started(api, connections=1)
    api.stall(None, deliver=True, chat_id=5000001)  # holds the only connection until released
    first = asyncio.create_task(channel.send(reminder("5000001")))
    try:
        await asyncio.wait_for(api.wait_for_requests(1), 5)
        error = await failure(channel, reminder("5000002", key="k2"))
        assert error.outcome is Outcome.TRANSIENT
        assert "no free or new connection in time" in error.reason
        assert [m.chat_id for m in api.requests] == [5000001]
    finally:
        api.release()
        await first
        await channel.close()


async def test_a_connection_closed_before_the_request_is_read_is_unknown(api: FakeTelegramApi) -> None:
    channel = await started(api)
    api.hang_up()
    try:
        error = await failure(channel, reminder("5000001"))
        await channel.send(reminder("5000002", key="k2"))
    finally:
        await channel.close()
    # The client cannot tell this from a drop after the message was taken: it may have arrived.
    assert error.outcome is Outcome.UNKNOWN
    assert "the connection was closed" in error.reason
    assert api.hung_up_unread == 1
    assert [m.chat_id for m in api.messages] == [5000002]


async def test_a_connection_closed_after_the_message_was_taken_is_unknown(api: FakeTelegramApi) -> None:
    channel = await started(api)
    api.hang_up(after_reading=True)
    try:
        error = await failure(channel, reminder("5000001"))
    finally:
        await channel.close()
    assert error.outcome is Outcome.UNKNOWN
    [delivered] = api.messages
    assert delivered.chat_id == 5000001
    assert delivered.text == "<b>Напоминание</b>: завтра в 14:00"


async def test_no_answer_within_the_read_timeout_is_unknown(api: FakeTelegramApi) -> None:
    channel = await started(api, read_timeout=0.3)
    api.stall(3, deliver=True)
    try:
        error = await failure(channel, reminder("5000001"))
    finally:
        api.release()
        await channel.close()
    assert error.outcome is Outcome.UNKNOWN
    assert "no answer in time" in error.reason
    assert [m.chat_id for m in api.messages] == [5000001]


@pytest.mark.parametrize("fault", [Fault.BAD_GATEWAY, Fault.SERVER_ERROR])
async def test_a_5xx_answer_is_transient(api: FakeTelegramApi, fault: Fault) -> None:
    channel = await started(api)
    api.fail_next(1, fault)
    try:
        error = await failure(channel, reminder("5000001"))
    finally:
        await channel.close()
    assert error.outcome is Outcome.TRANSIENT
    assert api.messages == []


async def test_an_address_that_is_no_chat_id_is_permanent(api: FakeTelegramApi) -> None:
    channel = await started(api)
    try:
        error = await failure(channel, reminder("@not-a-chat-id"))
    finally:
        await channel.close()
    assert error.outcome is Outcome.PERMANENT
    assert api.requests == []
