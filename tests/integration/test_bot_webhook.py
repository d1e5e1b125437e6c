"""Webhook mode: Telegram (the double) POSTs updates to Plenary's aiohttp server at the registered URL with the
secret header; a request without it, or with another, is refused 403 and handled not at all; a replayed update
is handled once; one whose handling failed is answered 500 and handled when Telegram delivers it again; a body
that is not an update is refused 400. Real HTTP both ways, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp import web

from bot.application import build
from bot.webhook import HEADER, Webhook
from domain.deployment import Deployment
from domain.records import TelegramBinding
from integrations.telegram.request import bot_requests
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.integration.bot_setup import SECRET, bot_services

EXPERT = TgUser(8002, "Ivan", language_code="en")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


async def test_updates_come_by_webhook_behind_the_secret_header_and_once(
    api: FakeBotApi, store: Store, deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock(datetime(2022, 10, 10, 9, 0, tzinfo=UTC))
    services = bot_services(store, deployment, clock)
    await store.bindings.bind(
        TelegramBinding(delegate_id="rus-expert", telegram_user_id=EXPERT.id, chat_id=EXPERT.id, bound_at=clock.now())
    )
    app = web.Application()
    runner = web.AppRunner(app)
    application = build(api.token, services.conversation, api.base_url, webhook=True, requests=bot_requests())
    assert application.updater is None
    webhook = Webhook(application, services.conversation, "http://127.0.0.1:0", SECRET)
    webhook.route(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    webhook.url = f"http://127.0.0.1:{port}{webhook.path}"
    await webhook.start()
    try:
        assert api.webhook_url == webhook.url  # registered at start, with its secret
        assert api.webhook_secret
        assert len(webhook.path) > len("/telegram/") + 30  # a random component

        say = services.conversation.sayer("en")
        update = api.command_update(EXPERT, "/sessions")
        caplog.clear()
        assert await api.deliver(update, secret_token=None) == 403
        assert await api.deliver(update, secret_token="wrong") == 403
        assert api.webhook_secret not in caplog.text
        assert api.sent_to(EXPERT.id) == []  # nothing processed

        assert await api.deliver(update) == 200
        await api.wait_for(lambda: api.sent_to(EXPERT.id), within=5)
        assert await api.redeliver() == 200  # Telegram retries when it lost our answer: handled once
        assert await api.deliver(api.command_update(EXPERT, "/help")) == 200
        await api.wait_for(lambda: len(api.sent_to(EXPERT.id)) >= 2, within=5)
        texts = [m.text or "" for m in api.sent_to(EXPERT.id)]
        assert texts[0].startswith("Working Group on Military-Economic Cooperation")
        assert texts[1].startswith(say("help").split("\n")[0])
        assert len(texts) == 2

        # Telegram's side fails while the bot answers: the webhook says 500, so Telegram delivers the update
        # again, and then it is handled (not dropped as a replay).
        api.fail_next(1, "bad_gateway", chat_id=EXPERT.id)
        sessions = api.command_update(EXPERT, "/sessions")
        assert await api.deliver(sessions) == 500
        assert len(api.sent_to(EXPERT.id)) == 2
        assert await api.deliver(sessions) == 200
        assert len(api.sent_to(EXPERT.id)) == 3
        assert (api.sent_to(EXPERT.id)[2].text or "").startswith("Working Group on Military-Economic Cooperation")

        async with aiohttp.ClientSession() as session:
            headers = {HEADER: api.webhook_secret or ""}
            for body in (b"not json", b"[1, 2]", b'{"update_id": "x", "message": 5}'):
                async with session.post(webhook.url, data=body, headers=headers) as response:
                    assert response.status == 400
    finally:
        await webhook.stop()
        await runner.cleanup()
