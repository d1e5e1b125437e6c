"""The Bot API test double, driven by the real python-telegram-bot ``Bot`` over HTTP on loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from telegram import Bot, BotCommand, MessageEntity
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from tests.doubles.telegram_api import FakeTelegramApi, Fault

SHORT = 0.2  # a read timeout the stalls below outlast


@pytest.fixture(autouse=True)
def _timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    # PTB 22 gives RetryAfter.retry_after as a timedelta with this set, and warns without it
    monkeypatch.setenv("PTB_TIMEDELTA", "true")


def retry_after(error: RetryAfter) -> timedelta:
    value = error.retry_after
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as api:
        yield api


@pytest.fixture
async def bot(api: FakeTelegramApi) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as bot:
        yield bot


async def test_bot_sends_messages_and_the_double_records_them(api: FakeTelegramApi, bot: Bot) -> None:
    before = time.monotonic()
    first = await bot.send_message(42, "Session opens at 10:00")
    second = await bot.send_message(42, "Agenda item 3 moved")
    other = await bot.send_message(-1001234, "Quorum reached")

    assert bot.username == api.bot_username
    assert (first.message_id, second.message_id, other.message_id) == (1, 2, 1)
    assert first.chat.id == 42
    assert first.text == "Session opens at 10:00"
    assert other.chat.type == "supergroup"
    assert api.texts(42) == ["Session opens at 10:00", "Agenda item 3 moved"]
    assert [m.chat_id for m in api.messages] == [42, 42, -1001234]
    assert all(m.accepted and m.status == 200 for m in api.requests)
    assert before <= api.messages[0].received_at <= api.messages[1].received_at <= time.monotonic()


async def test_html_is_parsed_into_text_and_entities(api: FakeTelegramApi, bot: Bot) -> None:
    sent = await bot.send_message(7, '<b>Plenary</b> &amp; <a href="https://x.test/j">join</a>', parse_mode="HTML")

    assert sent.text == "Plenary & join"
    assert sent.entities == (
        MessageEntity(MessageEntity.BOLD, 0, 7),
        MessageEntity(MessageEntity.TEXT_LINK, 10, 4, url="https://x.test/j"),
    )
    assert api.messages[0].parse_mode == "HTML"
    assert api.messages[0].text == '<b>Plenary</b> &amp; <a href="https://x.test/j">join</a>'


async def test_json_and_form_bodies_are_both_understood(api: FakeTelegramApi) -> None:
    url = f"{api.base_url}{api.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"chat_id": 5, "text": "by JSON"}) as response:
            assert response.status == 200
            assert (await response.json())["result"]["message_id"] == 1
        async with session.post(url, data={"chat_id": "5", "text": "by form"}) as response:
            assert response.status == 200

    assert api.texts(5) == ["by JSON", "by form"]


async def test_unknown_method_and_wrong_token_are_refused_like_telegram(api: FakeTelegramApi, bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("no_such_method")
    with pytest.raises(InvalidToken):
        async with Bot("999:wrong-token", base_url=api.base_url):
            pass
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{api.base_url}{api.token}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        async with session.post(f"{api.base_url}999:wrong-token/getMe") as response:
            assert response.status == 401


async def test_webhook_updates_and_commands_have_minimal_answers(api: FakeTelegramApi, bot: Bot) -> None:
    assert await bot.set_webhook("https://plenary.test/telegram", secret_token="s3cret")
    assert (api.webhook_url, api.webhook_secret) == ("https://plenary.test/telegram", "s3cret")
    with pytest.raises(Conflict):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()
    assert await bot.set_my_commands([BotCommand("agenda", "Show the agenda")])
    assert api.commands == [{"command": "agenda", "description": "Show the agenda"}]


async def test_injected_429_raises_retry_after_and_counts_early_resends(api: FakeTelegramApi, bot: Bot) -> None:
    api.fail_next(1, Fault.RETRY_AFTER, retry_after=3)

    with pytest.raises(RetryAfter) as first:
        await bot.send_message(1, "hello")
    with pytest.raises(RetryAfter) as early:
        await bot.send_message(2, "too soon")

    assert retry_after(first.value) == timedelta(seconds=3)
    assert retry_after(early.value) <= timedelta(seconds=3)
    assert api.messages == []
    assert [r.status for r in api.requests] == [429, 429]
    assert api.requests[1].during_penalty
    assert api.sent_during_penalty == 1


async def test_a_resend_after_retry_after_is_accepted(api: FakeTelegramApi, bot: Bot) -> None:
    api.fail_next(1, Fault.RETRY_AFTER, retry_after=1)
    with pytest.raises(RetryAfter) as refused:
        await bot.send_message(1, "hello")

    await asyncio.sleep(retry_after(refused.value).total_seconds())
    await bot.send_message(1, "hello")

    assert api.texts() == ["hello"]
    assert api.sent_during_penalty == 0


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        (Fault.BAD_GATEWAY, NetworkError, "Bad Gateway"),
        (Fault.SERVER_ERROR, NetworkError, "Internal Server Error"),
        (Fault.BLOCKED, Forbidden, "Forbidden: bot was blocked by the user"),
        (Fault.CHAT_NOT_FOUND, BadRequest, "Chat not found"),
    ],
)
async def test_injected_faults_surface_as_ptb_errors_once(
    api: FakeTelegramApi, bot: Bot, kind: Fault, error: type[Exception], message: str
) -> None:
    api.fail_next(1, kind)

    with pytest.raises(error) as raised:
        await bot.send_message(3, "first try")
    await bot.send_message(3, "second try")

    assert str(raised.value) == message
    assert not isinstance(raised.value, TimedOut)
    assert [r.accepted for r in api.requests] == [False, True]
    assert api.texts() == ["second try"]


async def test_faults_can_target_one_chat(api: FakeTelegramApi, bot: Bot) -> None:
    api.fail_next(2, Fault.BLOCKED, chat_id=20)
    api.unknown_chat(30)

    await bot.send_message(10, "to ten")
    for _ in range(2):
        with pytest.raises(Forbidden):
            await bot.send_message(20, "to twenty")
    await bot.send_message(20, "to twenty, unblocked")
    with pytest.raises(BadRequest, match="Chat not found"):
        await bot.send_message(30, "to nobody")

    assert api.texts() == ["to ten", "to twenty, unblocked"]


async def test_a_blocked_chat_stays_blocked_until_restored(api: FakeTelegramApi, bot: Bot) -> None:
    api.block_chat(8)
    for _ in range(2):
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(8, "hi")
    api.restore_chat(8)
    await bot.send_message(8, "hi again")

    assert api.texts(8) == ["hi again"]


async def test_stall_after_delivery_times_out_the_client_but_the_message_was_delivered(
    api: FakeTelegramApi, bot: Bot
) -> None:
    api.stall(deliver=True)  # until released; closing the double releases it

    with pytest.raises(TimedOut):
        await bot.send_message(4, "sent, answer lost", read_timeout=SHORT)

    assert api.texts(4) == ["sent, answer lost"]
    assert api.messages[0].stalled


async def test_stall_before_delivery_times_out_and_delivers_nothing(api: FakeTelegramApi, bot: Bot) -> None:
    api.stall(1.0, deliver=False)

    with pytest.raises(TimedOut):
        await bot.send_message(4, "lost", read_timeout=SHORT)
    api.release()

    assert api.messages == []
    assert [(r.accepted, r.stalled) for r in api.requests] == [(False, True)]


async def test_a_short_stall_only_delays_the_answer(api: FakeTelegramApi, bot: Bot) -> None:
    api.stall(0.3)

    started = time.monotonic()
    sent = await bot.send_message(4, "slow")

    assert time.monotonic() - started >= 0.3
    assert sent.message_id == 1


async def test_overall_rate_limit_answers_429_beyond_the_limit() -> None:
    async with (
        FakeTelegramApi(limit_per_second=5) as api,
        Bot(api.token, base_url=api.base_url) as bot,
    ):
        for chat in range(1, 6):
            await bot.send_message(chat, "within the limit")
        with pytest.raises(RetryAfter) as refused:
            await bot.send_message(6, "one too many")
        with pytest.raises(RetryAfter):
            await bot.send_message(7, "during the penalty")

    assert retry_after(refused.value) == timedelta(seconds=1)
    assert len(api.messages) == 5
    assert api.rate_limited == 1
    assert api.sent_during_penalty == 1


async def test_per_chat_rate_limit_penalises_only_that_chat() -> None:
    async with (
        FakeTelegramApi(per_chat_per_second=1) as api,
        Bot(api.token, base_url=api.base_url) as bot,
    ):
        await bot.send_message(1, "first")
        with pytest.raises(RetryAfter):
            await bot.send_message(1, "second in the same second")
        await bot.send_message(2, "another chat")

    assert api.texts() == ["first", "another chat"]
    assert api.rate_limited == 1
    assert api.sent_during_penalty == 0


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("x" * 4097, None, "Message is too long"),
        ("<b>" + "x" * 4097 + "</b>", "HTML", "Message is too long"),
        ("", None, "Message text is empty"),
        ("<b>unclosed", "HTML", "Can't parse entities: can't find end tag"),
        ("<b><i>crossed</b></i>", "HTML", "Can't parse entities: can't find end tag"),
        ("<div>block</div>", "HTML", 'Can\'t parse entities: unsupported start tag "div"'),
        ("stray</b>", "HTML", "Can't parse entities: unexpected end tag"),
        ("1 < 2", "HTML", "Can't parse entities"),
    ],
)
async def test_invalid_messages_are_refused_with_bad_request(
    api: FakeTelegramApi, bot: Bot, text: str, parse_mode: str | None, error: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        await bot.send_message(9, text, parse_mode=parse_mode)

    assert refused.value.message.lower().startswith(error.lower())
    assert api.messages == []


async def test_limits_count_text_after_entity_parsing(api: FakeTelegramApi, bot: Bot) -> None:
    sent = await bot.send_message(9, "<b>" + "x" * 4095 + "</b>&amp;", parse_mode="HTML")
    await bot.send_message(9, "<b>a < b</b>")  # without a parse mode, tags are plain text

    assert sent.text == "x" * 4095 + "&"
    assert len(api.messages) == 2
