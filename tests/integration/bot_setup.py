"""The bot as the service builds it (``app.bootstrap``), over a test's store, driven by long polling against the
Bot API double: what the bot tests share."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from telegram.ext import Application, ApplicationBuilder

from app.bootstrap import Services, bootstrap
from bot.conversation import Conversation
from config.settings import Settings
from domain.deployment import Deployment
from domain.ports import Clock, EventSink
from integrations.telegram.request import bot_requests
from storage.repositories import Store
from tests.doubles.telegram_bot_api import FakeBotApi

SECRET = bytes(range(32))


def bot_services(store: Store, deployment: Deployment, clock: Clock, events: EventSink | None = None) -> Services:
    """The service's parts with the deployment in force; ``events`` replaces the bindings' event sink."""
    services = bootstrap(Settings(), clock, store=store, channels={}, secret=SECRET)
    services.configuration.put(deployment)
    services.roster.base = deployment
    if events is not None:
        services.bindings.events = events
    return services


@contextlib.asynccontextmanager
async def running(
    api: FakeBotApi, conversation: Conversation
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """A python-telegram-bot Application with the conversation's handlers, polling the double."""
    main, updates = bot_requests()
    builder = ApplicationBuilder().token(api.token).base_url(api.base_url).job_queue(None)
    application = builder.request(main).get_updates_request(updates).build()
    conversation.install(application)
    async with application:
        conversation.bot = application.bot
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(poll_interval=0, timeout=1)
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
