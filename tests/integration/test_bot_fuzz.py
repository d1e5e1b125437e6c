"""Arbitrary updates thrown at the real python-telegram-bot Application with every handler of the bot: random
text and commands, random and tampered callback data, update kinds the bot does not handle, fields missing.
Nothing escapes unhandled, and nothing a stranger sends or a forged button carries changes any state."""

from __future__ import annotations

import base64
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from domain.callbacks import short, sign
from domain.deployment import Deployment
from domain.records import TelegramBinding
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.telegram_bot_api import FakeBotApi
from tests.integration.bot_setup import SECRET, bot_services

BOUND = 9101
"""rus-expert's account: a delegate, bound."""
STRANGERS = st.integers(min_value=9200, max_value=9300)
COMMANDS = [
    "/start", "/help", "/sessions", "/rsvp", "/agenda", "/join", "/checkin", "/calendar", "/language", "/timezone",
    "/delegation", "/status", "/remind", "/broadcast", "/close", "/checkincode", "/nonsense", "/start@other_bot",
]  # fmt: skip
STATEFUL = {"/timezone", "/language", "/start"}
"""Commands a bound delegate may legitimately change their own state with: not fuzzed from the bound account."""
GENUINE = sign(SECRET, "a", short("icmec-wg-2022-10"), "r")
_ids = itertools.count(1_000_000)


def _tampered(data: str, index: int, char: str) -> str:
    """``data`` with one character changed (never to itself: that would be the genuine data, which is allowed)."""
    at = index % len(data)
    if data[at] == char:
        char = "b" if char != "b" else "c"
    return data[:at] + char + data[at + 1 :]


callback_data = st.one_of(
    st.text(max_size=80),
    st.binary(max_size=70).map(lambda b: base64.urlsafe_b64encode(b).decode()),
    st.builds(_tampered, st.just(GENUINE), st.integers(0, 63), st.sampled_from("AZaz09_-:")),
    st.builds(lambda a, b: f"{a}:{b}:{GENUINE[-16:]}", st.sampled_from(["a", "g", "j", "dp", "ds", "bs"]), st.text()),
)
text = st.one_of(
    st.text(max_size=200),
    st.builds(lambda c, a: f"{c} {a}".strip(), st.sampled_from(COMMANDS), st.text(max_size=60)),
)


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    """One update as Telegram could send it, or a malformed one."""
    bound = draw(st.booleans())
    user_id = BOUND if bound else draw(STRANGERS)
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": draw(st.text(min_size=1, max_size=10))}
    if draw(st.booleans()):
        user["language_code"] = draw(st.sampled_from(["ru", "en", "kk", "xx", ""]))
    chat_type = draw(st.sampled_from(["private", "private", "group", "supergroup", "channel"]))
    chat = {"id": user_id if chat_type == "private" else -100 - user_id, "type": chat_type}
    message: dict[str, Any] = {"message_id": draw(st.integers(1, 10_000)), "date": 1_665_000_000, "chat": chat}
    if draw(st.integers(0, 9)):
        message["from"] = user
    body = draw(text)
    if bound and body.split(" ")[0] in STATEFUL:
        body = "/help"
    message["text"] = body
    if body.startswith("/"):
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(body.split(" ")[0])}]
    kind = draw(st.sampled_from(["message", "edited_message", "channel_post", "callback_query", "callback_query"]))
    update: dict[str, Any] = {"update_id": next(_ids)}
    if kind == "callback_query":
        query: dict[str, Any] = {"id": str(next(_ids)), "from": user, "chat_instance": "1"}
        if draw(st.booleans()):
            query["message"] = {**message, "from": {"id": 1, "is_bot": True, "first_name": "bot"}}
        if draw(st.integers(0, 9)):
            query["data"] = draw(callback_data) if bound or draw(st.booleans()) else GENUINE
        update["callback_query"] = query
    else:
        update[kind] = message
    return update


@pytest.fixture
async def bot(
    store: Store, deployment: Deployment
) -> AsyncIterator[tuple[Application[Any, Any, Any, Any, Any, Any], list[object], Store]]:
    clock = FakeClock(datetime(2022, 10, 10, 9, 0, tzinfo=UTC))
    services = bot_services(store, deployment, clock)
    await store.bindings.bind(
        TelegramBinding(delegate_id="rus-expert", telegram_user_id=BOUND, chat_id=BOUND, bound_at=clock.now())
    )
    errors: list[object] = []

    async def record(update: object, context: Any) -> None:
        errors.append(context.error)

    async with FakeBotApi() as api:
        application = ApplicationBuilder().token(api.token).base_url(api.base_url).updater(None).job_queue(None).build()
        services.conversation.install(application)
        application.add_error_handler(record)
        async with application:
            services.conversation.bot = application.bot
            yield application, errors, store
        # The updates did reach the handlers: strangers were told what the bot is, buttons were answered.
        assert api.callback_answers
        assert any(api.sent_to(user) for user in range(9200, 9301))


async def snapshot(store: Store) -> tuple[object, ...]:
    return (
        await store.answers.all(),
        await store.preferences.all(),
        await store.substitutions.for_session(),
        await store.attendance.for_session("icmec-xx"),
        await store.attendance.for_session("icmec-wg-2022-10"),
        await store.bindings.delegate_for(BOUND),
        await store.broadcasts.get(1),
        await store.closures.closed_at("icmec-xx"),
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(updates(), min_size=1, max_size=6))
async def test_arbitrary_updates_raise_nothing_and_change_nothing(
    bot: tuple[Application[Any, Any, Any, Any, Any, Any], list[object], Store], batch: list[dict[str, Any]]
) -> None:
    application, errors, store = bot
    before = await snapshot(store)
    for data in batch:
        try:
            update = Update.de_json(data, application.bot)
        except Exception:  # the webhook answers such a body 400 (tests/integration/test_bot_webhook.py)
            continue
        await application.process_update(update)
    assert errors == []
    assert await snapshot(store) == before
    for stranger in range(9200, 9301):
        assert await store.bindings.delegate_for(stranger) is None
