"""The bot as a delegate and a stranger meet it: the real python-telegram-bot Application, by long polling,
against the Bot API double, over the real store on SQLite and PostgreSQL.

A delegate opens the personal link from their invitation and is bound, in their language; the same link
opened from another account (a forwarded invitation) is refused and the secretariat is told; a stranger
learns what the bot is and nothing else; groups, channels and edits are left alone; an update delivered
twice is handled once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from telegram import Update
from telegram.ext import Application, ApplicationBuilder

from bot.conversation import COMMANDS, Conversation
from bot.secretariat import SECRETARIAT_COMMANDS
from domain.deployment import Deployment
from domain.events import BindingRefused
from domain.ports import EventSink
from integrations.telegram.request import bot_requests
from messages.conversation import Phrasebook
from services.bindings import StartLinks
from services.events import EventBus
from storage.repositories import Store
from tests.doubles.channels import FakeClock, RecordingEvents
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.integration.bot_setup import bot_services, running

AnyApplication = Application[Any, Any, Any, Any, Any, Any]
TOKOEV = TgUser(5001, "Бакыт", username="tokoev", language_code="ky")
"""kgz-tokoev reads Kyrgyz (the YAML's language)."""
FORWARDED = TgUser(5002, "Someone", language_code="en")
STRANGER = TgUser(5003, "Curious", language_code="ru")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


def conversation(store: Store, deployment: Deployment, events: EventSink) -> tuple[Conversation, StartLinks]:
    services = bot_services(store, deployment, FakeClock(), events)
    return services.conversation, services.start_links


async def replies(api: FakeBotApi, chat_id: int, count: int) -> list[str]:
    await api.wait_for(lambda: len(api.sent_to(chat_id)) >= count, within=5)
    return [m.text or "" for m in api.sent_to(chat_id)]


async def test_a_delegate_binds_from_their_link_and_a_forwarded_link_is_refused(
    api: FakeBotApi, store: Store, deployment: Deployment
) -> None:
    events = RecordingEvents()
    talk, links = conversation(store, deployment, events)
    token = (await links.tokens())["kgz-tokoev"]
    async with running(api, talk):
        api.push(api.command_update(TOKOEV, f"/start {token}"))
        [bound, card] = await replies(api, TOKOEV.id, 2)
        # In Kyrgyz, the delegate's YAML language, whatever Telegram's is; with their name and the commission's.
        phrases = Phrasebook()
        assert bound == phrases.say("ky", "start.bound", name="Бакыт Токоев", commission="МКВЭС ОДКБ")
        binding = await store.bindings.get("kgz-tokoev")
        assert binding is not None
        assert (binding.telegram_user_id, binding.chat_id, binding.username) == (TOKOEV.id, TOKOEV.id, "tokoev")
        # Then their next session, with its answers one tap away.
        assert phrases.say("ky", "card.no_answer") in card
        assert api.sent_to(TOKOEV.id)[1].buttons

        api.push(api.command_update(TOKOEV, f"/start {token}"))
        assert (await replies(api, TOKOEV.id, 3))[2] == phrases.say("ky", "start.already")

        api.push(api.command_update(FORWARDED, f"/start {token}"))
        [refused] = await replies(api, FORWARDED.id, 1)
        assert refused == phrases.say("ky", "start.taken", email="secretariat@icmec.example.org")
        assert await store.bindings.delegate_for(FORWARDED.id) is None
        assert [(e.delegate_id, e.telegram_user_id) for e in events.published if isinstance(e, BindingRefused)] == [
            ("kgz-tokoev", FORWARDED.id)
        ]

        api.push(api.command_update(TOKOEV, "/help"))
        api.push(api.command_update(TOKOEV, "/nonsense"))
        texts = await replies(api, TOKOEV.id, 5)
        assert texts[3] == phrases.say("ky", "help", commission="МКВЭС ОДКБ")
        assert texts[4] == phrases.say("ky", "unknown_command")


async def test_a_stranger_learns_what_the_bot_is_and_nothing_else(
    api: FakeBotApi, store: Store, deployment: Deployment
) -> None:
    talk, _ = conversation(store, deployment, RecordingEvents())
    phrases = Phrasebook()
    stranger = phrases.say("ru", "stranger", commission="МКВЭС ОДКБ")
    async with running(api, talk):
        for text in ("/start", "/start bAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/sessions", "hello", "/start kgz-asanov"):
            api.push(api.command_update(STRANGER, text) if text.startswith("/") else api.message_update(STRANGER, text))
        texts = await replies(api, STRANGER.id, 5)
    invalid = phrases.say("ru", "start.unknown", email="secretariat@icmec.example.org")
    assert texts == [stranger, invalid, stranger, stranger, invalid]
    assert all("Асанов" not in t and "icmec-xx" not in t for t in texts)
    assert await store.bindings.delegate_for(STRANGER.id) is None


async def test_groups_channels_edits_and_replays_change_nothing(
    api: FakeBotApi, store: Store, deployment: Deployment
) -> None:
    talk, links = conversation(store, deployment, RecordingEvents())
    token = (await links.tokens())["kgz-tokoev"]
    async with running(api, talk):
        api.push(api.group_update(TOKOEV, f"/start {token}"))
        api.push(api.channel_post_update(f"/start {token}"))
        first = api.push(api.message_update(STRANGER, "hello"))
        api.push(api.edited_update(first, f"/start {token}"))
        api.push(dict(first))  # the same update again, as a retried delivery would bring it
        await replies(api, STRANGER.id, 1)
        await asyncio.sleep(0.5)  # time for anything else to arrive
    assert len(api.sent) == 1  # one answer to the private "hello"; nothing to the group, the channel or the edit
    assert await store.bindings.get("kgz-tokoev") is None


async def test_an_update_delivered_twice_is_handled_once(api: FakeBotApi, store: Store, deployment: Deployment) -> None:
    # As a retried webhook delivery, or a second process, brings it: the same update_id again.
    talk, links = conversation(store, deployment, RecordingEvents())
    token = (await links.tokens())["kgz-tokoev"]
    application = ApplicationBuilder().token(api.token).base_url(api.base_url).job_queue(None).updater(None).build()
    talk.install(application)
    data = api.command_update(TOKOEV, f"/start {token}")
    async with application:
        for _ in range(3):
            await application.process_update(Update.de_json(data, application.bot))
    assert len(api.sent_to(TOKOEV.id)) == 2  # bound once (and the card): not "already connected" twice
    assert await store.updates.first_time(data["update_id"], FakeClock().now()) is False


async def test_the_command_menu_is_in_every_language_and_by_default_the_working_one(
    api: FakeBotApi, store: Store, deployment: Deployment
) -> None:
    from bot.application import Polling, build

    talk, _ = conversation(store, deployment, RecordingEvents())
    polling = Polling(build(api.token, talk, api.base_url, requests=bot_requests()), talk)
    await polling.start()
    try:
        phrases = Phrasebook()
        for language in ("ky", "hy", "en", "ru"):
            menu = api.visible_commands(TOKOEV.id, language)
            expected = [(c, phrases.say(language, f"command.{c}")) for c in COMMANDS]
            assert [(c["command"], c["description"]) for c in menu] == expected
        # A language with no catalogue sees the commission's working language (Russian).
        assert [c["description"] for c in api.visible_commands(TOKOEV.id, "de")] == [
            phrases.say("ru", f"command.{c}") for c in COMMANDS
        ]
        # The secretariat's accounts see their own commands too, whatever their language.
        admin = deployment.commission.secretariat.telegram_admins[0]
        assert [c["command"] for c in api.visible_commands(admin, "en")] == [
            *COMMANDS,
            *SECRETARIAT_COMMANDS,
        ]
        # and the polling application answers: the menu did not stop it
        api.push(api.command_update(STRANGER, "/help"))
        await replies(api, STRANGER.id, 1)
    finally:
        await polling.stop()


async def test_the_secretariat_is_told_of_a_refused_link(api: FakeBotApi, store: Store, deployment: Deployment) -> None:
    clock = FakeClock()
    bus = EventBus(store.changes, clock, "test")
    talk, links = conversation(store, deployment, bus)
    token = (await links.tokens())["kgz-tokoev"]
    async with running(api, talk):
        api.push(api.command_update(TOKOEV, f"/start {token}"))
        await replies(api, TOKOEV.id, 1)
        api.push(api.command_update(FORWARDED, f"/start {token}"))
        admins = deployment.commission.secretariat.telegram_admins
        assert admins  # the example names two accounts
        await api.wait_for(lambda: all(api.sent_to(a) for a in admins), within=5)
    expected = Phrasebook().say(
        "ru", "secretariat.refused.taken", delegate="Бакыт Токоев (kgz-tokoev)", user=str(FORWARDED.id)
    )
    assert [[m.text for m in api.sent_to(a)] for a in admins] == [[expected]] * len(admins)
