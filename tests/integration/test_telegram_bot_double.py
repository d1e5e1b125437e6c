"""The bot-sized Bot API double, driven by a real python-telegram-bot Application and Bot over HTTP on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MenuButtonCommands,
    MenuButtonWebApp,
    Message,
    Update,
    WebAppInfo,
)
from telegram.error import BadRequest, Conflict
from telegram.ext import Application, ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

from tests.doubles.telegram_bot_api import (
    DEFAULT_CHANNEL,
    DEFAULT_GROUP,
    SECRET_HEADER,
    FakeBotApi,
    TgUser,
)

ANN = TgUser(42, "Ann", "Lee", username="ann_lee", language_code="en")
BOB = TgUser(77, "Bob", language_code="ru")
SECRET = "plenary-webhook_s3cret"
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Yes", callback_data="vote:yes")]])


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(api.token, base_url=api.base_url) as bot:
        yield bot


# a small bot: /start answers with a keyboard, a press edits the message and answers the query


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    assert update.effective_user is not None
    code = context.args[0] if context.args else "no code"
    keyboard = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton("Attend", callback_data="rsvp:yes"),
                InlineKeyboardButton("Decline", callback_data="rsvp:no"),
            ]
        ]
    )
    await update.effective_message.reply_text(
        f"Welcome, {update.effective_user.first_name} ({code})", reply_markup=keyboard
    )


async def rsvp(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    assert query.data is not None
    answer = query.data.removeprefix("rsvp:")
    await query.answer("Noted", show_alert=answer == "no")
    await query.edit_message_text(f"You answered: {answer}")


def build(api: FakeBotApi, *, updater: bool = True) -> Application:  # type: ignore[type-arg]
    builder = ApplicationBuilder().token(api.token).base_url(api.base_url).job_queue(None)
    if not updater:
        builder = builder.updater(None)
    application = builder.build()
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(rsvp, pattern=r"^rsvp:"))
    return application


@contextlib.asynccontextmanager
async def polling(application: Application, **options: object) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    async with application:
        await application.start()
        assert application.updater is not None
        await application.updater.start_polling(**options)  # type: ignore[arg-type]
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()


@contextlib.asynccontextmanager
async def receiver(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> AsyncIterator[str]:
    """The bot's webhook endpoint: an aiohttp server on loopback; yields its URL."""
    server = web.Application()
    server.router.add_post("/telegram/webhook", handler)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
    finally:
        await runner.cleanup()


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\xff\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# the Application, by long polling and by webhook


async def test_application_by_long_polling_answers_start_and_a_button_press(api: FakeBotApi) -> None:
    async with polling(build(api), timeout=5):
        api.push(api.command_update(ANN, "/start bXYZ"))
        [welcome] = await api.wait_for_sent(1)
        assert (welcome.chat_id, welcome.text) == (42, "Welcome, Ann (bXYZ)")
        assert welcome.callback_data == ["rsvp:yes", "rsvp:no"]

        press = api.push(api.callback_update(ANN, welcome, "rsvp:yes"))
        await api.wait_for(lambda: welcome.edit_date is not None and api.callback_answers)

    answer = api.answer_to(press["callback_query"]["id"])
    assert answer is not None
    assert (answer.text, answer.show_alert) == ("Noted", False)
    assert welcome.text == "You answered: yes"
    assert welcome.reply_markup is None  # editMessageText without reply_markup takes the keyboard away
    assert welcome.history == [("Welcome, Ann (bXYZ)", KEYBOARD_OF_START)]
    assert [(e.method, e.accepted) for e in api.edits] == [("editMessageText", True)]
    assert api.pending_updates == []  # the updater's last getUpdates confirmed everything it fetched
    assert [u["update_id"] for u in api.confirmed_updates] == [1001, 1002]


KEYBOARD_OF_START = {
    "inline_keyboard": [
        [{"text": "Attend", "callback_data": "rsvp:yes"}, {"text": "Decline", "callback_data": "rsvp:no"}]
    ]
}


async def test_application_by_webhook_checks_the_secret_and_sees_replays(api: FakeBotApi) -> None:
    application = build(api, updater=False)
    processed: list[int] = []

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=403)
        data = await request.json()
        if data["update_id"] in processed:  # a replay: acknowledge it, do not act twice
            return web.Response()
        processed.append(data["update_id"])
        await application.process_update(Update.de_json(data, application.bot))
        return web.Response()

    async with receiver(receive) as url, application:
        await application.start()
        try:
            assert await application.bot.set_webhook(
                url, secret_token=SECRET, allowed_updates=["message", "callback_query"]
            )
            start_update = api.command_update(BOB, "/start")
            assert await api.deliver(start_update) == 200
            [welcome] = api.sent  # process_update answered before the webhook call returned
            assert welcome.text == "Welcome, Bob (no code)"

            assert await api.deliver(start_update, secret_token="wrong") == 403
            assert await api.deliver(start_update, secret_token=None) == 403
            assert await api.redeliver() == 200  # the same update_id again, with the right secret
            assert len(api.sent) == 1

            press = api.callback_update(BOB, welcome, "rsvp:no")
            assert await api.deliver(press) == 200
            assert welcome.text == "You answered: no"
            assert api.callback_answers[0].show_alert

            assert await api.deliver(api.channel_post_update("not subscribed")) is None
            with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
                await application.bot.get_updates()
            info = await application.bot.get_webhook_info()
        finally:
            await application.stop()

    assert processed == [start_update["update_id"], press["update_id"]]
    assert [d.secret_token for d in api.deliveries] == [SECRET, "wrong", None, SECRET, SECRET]
    assert [d.status for d in api.deliveries] == [200, 403, 403, 200, 200]
    assert info.url == url
    assert info.allowed_updates == ("callback_query", "message")
    assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
    assert len(api.dropped_updates) == 1


async def test_application_by_webhook_feeding_the_update_queue_in_a_group(api: FakeBotApi) -> None:
    application = build(api, updater=False)

    async def receive(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != SECRET:
            return web.Response(status=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return web.Response()

    async with receiver(receive) as url, application:
        await application.start()
        try:
            await application.bot.set_webhook(url, secret_token=SECRET)
            assert await api.deliver(api.group_update(ANN, "/start@plenary_test_bot g1")) == 200
            [welcome] = await api.wait_for_sent(1)
        finally:
            await application.stop()

    assert (welcome.chat_id, welcome.text) == (DEFAULT_GROUP.id, "Welcome, Ann (g1)")


# the updates the double builds


async def test_updates_have_telegrams_shapes(api: FakeBotApi, bot: Bot) -> None:
    text = api.message_update(ANN, "hello")
    message = text["message"]
    assert text == {
        "update_id": 1001,
        "message": {
            "message_id": 1,
            "from": {
                "id": 42,
                "is_bot": False,
                "first_name": "Ann",
                "last_name": "Lee",
                "username": "ann_lee",
                "language_code": "en",
            },
            "chat": {"id": 42, "first_name": "Ann", "last_name": "Lee", "username": "ann_lee", "type": "private"},
            "date": message["date"],
            "text": "hello",
        },
    }
    assert abs(message["date"] - time.time()) < 5

    command = api.command_update(BOB, "/start bXYZ")
    assert command["update_id"] == 1002
    assert command["message"]["from"] == {"id": 77, "is_bot": False, "first_name": "Bob", "language_code": "ru"}
    assert command["message"]["entities"] == [{"offset": 0, "length": 6, "type": "bot_command"}]
    parsed = Update.de_json(command, bot)
    assert parsed.effective_message is not None
    assert parsed.effective_message.text == "/start bXYZ"
    assert parsed.effective_user is not None
    assert parsed.effective_user.language_code == "ru"
    with pytest.raises(ValueError, match="not a bot command"):
        api.command_update(BOB, "start")

    edited = api.edited_update(text, "hello again")
    assert edited["update_id"] == 1003
    assert set(edited) == {"update_id", "edited_message"}
    assert edited["edited_message"]["message_id"] == 1
    assert edited["edited_message"]["edit_date"] >= message["date"]

    group = api.group_update(ANN, "/agenda@plenary_test_bot")
    assert group["message"]["chat"] == {"id": DEFAULT_GROUP.id, "title": "Plenary commission", "type": "supergroup"}
    assert group["message"]["entities"][0]["length"] == len("/agenda@plenary_test_bot")

    post = api.channel_post_update("Session moved")["channel_post"]
    assert "from" not in post
    assert post["sender_chat"] == post["chat"] == DEFAULT_CHANNEL.to_dict()

    member = api.raw_update({"my_chat_member": {"chat": ANN.private_chat()}})
    assert member["update_id"] == 1006
    assert api.raw_update({"update_id": 5, "poll": {}}) == {"update_id": 5, "poll": {}}


async def test_a_callback_query_carries_the_message_as_it_stands(api: FakeBotApi, bot: Bot) -> None:
    hello = api.message_update(ANN, "hi")
    sent = await bot.send_message(42, "<b>Vote</b>", parse_mode="HTML", reply_markup=KEYBOARD)
    assert (hello["message"]["message_id"], sent.message_id) == (1, 2)  # one sequence per chat
    assert sent.reply_markup == KEYBOARD
    assert sent.chat.username == "ann_lee"

    press = api.callback_update(ANN, api.message(42, sent.message_id), "vote:yes")["callback_query"]
    assert set(press) == {"id", "from", "message", "chat_instance", "data"}
    assert isinstance(press["id"], str)
    assert isinstance(press["chat_instance"], str)
    assert press["message"]["reply_markup"] == KEYBOARD.to_dict()
    assert press["message"]["entities"] == [{"offset": 0, "length": 4, "type": "bold"}]
    query = Update.de_json({"update_id": 1, "callback_query": press}, bot).callback_query
    assert query is not None
    assert query.message is not None
    assert query.message.text == "Vote"
    assert api.callback_update(BOB, (42, 2), "vote:yes")["callback_query"]["chat_instance"] == press["chat_instance"]

    with pytest.raises(ValueError, match="no button"):
        api.callback_update(ANN, api.message(42, 2), "vote:no")
    stale = api.callback_update(ANN, api.message(42, 2), "vote:no", check_button=False, inaccessible=True)
    assert stale["callback_query"]["message"]["date"] == 0


# getUpdates


async def test_offset_confirms_and_limit_and_negative_offset_select(api: FakeBotApi, bot: Bot) -> None:
    ids = [api.push(api.message_update(ANN, f"m{i}"))["update_id"] for i in range(4)]

    assert [u.update_id for u in await bot.get_updates()] == ids
    assert [u.update_id for u in await bot.get_updates()] == ids  # nothing is confirmed without an offset
    assert [u.update_id for u in await bot.get_updates(offset=ids[1], limit=2)] == ids[1:3]
    assert [u["update_id"] for u in api.confirmed_updates] == ids[:1]
    assert [u.update_id for u in await bot.get_updates(offset=-1)] == ids[3:]  # the last one; the rest forgotten
    assert await bot.get_updates(offset=ids[3] + 1) == ()
    assert api.pending_updates == []


async def test_a_long_poll_is_held_until_an_update_arrives(api: FakeBotApi, bot: Bot) -> None:
    async def later() -> None:
        await asyncio.sleep(0.2)
        api.push(api.message_update(ANN, "late"))

    pusher = asyncio.create_task(later())
    started = time.monotonic()
    updates = await bot.get_updates(timeout=5)
    await pusher

    assert 0.2 <= time.monotonic() - started < 2
    assert [u.message.text for u in updates if u.message] == ["late"]


async def test_a_long_poll_answers_empty_when_its_timeout_passes(api: FakeBotApi, bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == ()
    assert 1 <= time.monotonic() - started < 2


async def test_allowed_updates_filter_new_updates_and_persist(api: FakeBotApi, bot: Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    api.push(api.message_update(ANN, "not wanted"))
    await bot.get_updates()  # without allowed_updates the setting stays
    api.push(api.message_update(ANN, "still not wanted"))
    await bot.get_updates(allowed_updates=[])  # back to the default
    api.push(api.message_update(ANN, "wanted"))
    api.push(api.raw_update({"chat_member": {}}))  # not in the default

    assert [u["message"]["text"] for u in api.pending_updates] == ["wanted"]
    assert len(api.dropped_updates) == 3


async def test_getupdates_conflicts_like_telegram(api: FakeBotApi, bot: Bot) -> None:
    async with Bot(api.token, base_url=api.base_url) as other:
        first = asyncio.create_task(bot.get_updates(timeout=5))
        await api.wait_for(lambda: api.calls and api.calls[-1].method == "getUpdates")
        second = asyncio.create_task(other.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await first

        await bot.set_webhook("https://plenary.test/telegram", secret_token=SECRET)
        with pytest.raises(Conflict, match="terminated by setWebhook request"):
            await second
        with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
            await bot.get_updates()

    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_webhook_rules(api: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(RuntimeError, match="no webhook"):
        await api.deliver(api.message_update(ANN, "nowhere"))
    with pytest.raises(BadRequest, match="Secret token contains unallowed characters"):
        await bot.set_webhook("https://plenary.test/telegram", secret_token="base64+/=")
    api.push(api.message_update(ANN, "waiting"))
    await bot.set_webhook("https://plenary.test/telegram", secret_token=SECRET)
    assert (await bot.get_webhook_info()).pending_update_count == 1
    await bot.delete_webhook(drop_pending_updates=True)
    assert api.pending_updates == []


# the methods the bot calls


async def test_an_edit_that_changes_nothing_is_not_modified(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(42, "<b>Vote</b>", parse_mode="HTML", reply_markup=KEYBOARD)
    chat_and_id = {"chat_id": 42, "message_id": sent.message_id}

    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("<b>Vote</b>", parse_mode="HTML", reply_markup=KEYBOARD, **chat_and_id)
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(reply_markup=KEYBOARD, **chat_and_id)
    edited = await bot.edit_message_text("Vote", reply_markup=KEYBOARD, **chat_and_id)  # the bold went
    await bot.edit_message_reply_markup(**chat_and_id)  # no markup: the keyboard goes
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_reply_markup(**chat_and_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("anything", chat_id=42, message_id=99)

    assert isinstance(edited, Message)
    assert edited.text == "Vote"
    message = api.message(42, sent.message_id)
    assert (message.text, message.entities, message.reply_markup) == ("Vote", [], None)
    assert message.history == [("Vote", KEYBOARD.to_dict()), ("Vote", KEYBOARD.to_dict())]
    assert [e.status for e in api.edits] == [400, 400, 200, 200, 400, 400]


async def test_callback_data_holds_1_to_64_bytes(api: FakeBotApi, bot: Bot) -> None:
    def keyboard(data: str) -> InlineKeyboardMarkup:
        return InlineKeyboardMarkup([[InlineKeyboardButton("Pick", callback_data=data)]])

    await bot.send_message(42, "64 bytes", reply_markup=keyboard("é" * 32))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(42, "66 bytes in 33 characters", reply_markup=keyboard("é" * 33))
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.edit_message_reply_markup(42, 1, reply_markup=keyboard("x" * 65))
    async with aiohttp.ClientSession() as session:
        text_only = '{"inline_keyboard": [[{"text": "Pick", "callback_data": ""}]]}'
        form = {"chat_id": "42", "text": "empty data", "reply_markup": text_only}
        async with session.post(f"{api.base_url}{api.token}/sendMessage", data=form) as response:
            assert response.status == 400
            assert "Text buttons are unallowed in the inline keyboard" in (await response.json())["description"]

    assert api.texts(42) == ["64 bytes"]
    assert [(r.status, r.accepted) for r in api.requests] == [(200, True), (400, False), (400, False)]


async def test_callback_queries_are_answered_once(api: FakeBotApi, bot: Bot) -> None:
    sent = await bot.send_message(42, "Vote", reply_markup=KEYBOARD)
    press = api.callback_update(ANN, api.message(42, sent.message_id), "vote:yes")["callback_query"]

    with pytest.raises(BadRequest, match=r"(?i)MESSAGE_TOO_LONG"):
        await bot.answer_callback_query(press["id"], "x" * 201)
    assert await bot.answer_callback_query(press["id"], "Thanks", show_alert=True)
    with pytest.raises(BadRequest, match="Query is too old and response timeout expired or query id is invalid"):
        await bot.answer_callback_query(press["id"])
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query("123")
    late = api.callback_update(ANN, api.message(42, sent.message_id), "vote:yes")["callback_query"]
    api.expire_callback_queries()
    with pytest.raises(BadRequest, match="Query is too old"):
        await bot.answer_callback_query(late["id"])

    answer = api.answer_to(press["id"])
    assert answer is not None
    assert (answer.text, answer.show_alert) == ("Thanks", True)
    assert [a.status for a in api.callback_answers] == [400, 200, 400, 400, 400]


async def test_photos_are_uploaded_and_kept(api: FakeBotApi, bot: Bot) -> None:
    image = png(300, 200)
    sent = await bot.send_photo(42, image, caption="<b>Your code</b>", parse_mode="HTML", reply_markup=KEYBOARD)

    assert api.photos[0].photo == image
    assert [(p.width, p.height) for p in sent.photo] == [(90, 60), (300, 200)]
    assert sent.caption == "Your code"
    assert sent.caption_entities[0].type == "bold"
    assert sent.reply_markup == KEYBOARD

    again = await bot.send_photo(42, sent.photo[-1].file_id)
    assert again.photo == sent.photo
    assert api.photos[1].photo_source == sent.photo[-1].file_id
    assert (await bot.send_photo(42, "https://plenary.test/code.png")).photo
    with pytest.raises(BadRequest, match=r"(?i)IMAGE_PROCESS_FAILED"):
        await bot.send_photo(42, b"not an image at all")
    with pytest.raises(BadRequest, match="Wrong file identifier"):
        await bot.send_photo(42, "no-such-file-id")
    with pytest.raises(BadRequest, match="There is no text in the message to edit"):
        await bot.edit_message_text("text", chat_id=42, message_id=sent.message_id)
    assert [m.message_id for m in api.sent_to(42)] == [1, 2, 3]


async def test_messages_are_deleted_once(api: FakeBotApi, bot: Bot) -> None:
    written = api.message_update(ANN, "mine")["message"]
    sent = await bot.send_message(42, "to go")

    assert await bot.delete_message(42, sent.message_id)
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(42, sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_text("back", chat_id=42, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message can't be edited"):
        await bot.edit_message_text("yours", chat_id=42, message_id=written["message_id"])
    assert await bot.delete_message(42, written["message_id"])

    assert api.deleted == [(42, sent.message_id), (42, written["message_id"])]
    assert api.message(42, sent.message_id).deleted


async def test_commands_follow_scope_and_language(api: FakeBotApi, bot: Bot) -> None:
    private = BotCommandScopeAllPrivateChats()
    await bot.set_my_commands([BotCommand("start", "Start")])
    await bot.set_my_commands([BotCommand("agenda", "Agenda")], scope=private)
    await bot.set_my_commands([BotCommand("agenda", "Повестка")], scope=private, language_code="ru")
    await bot.set_my_commands([BotCommand("secretariat", "For the secretariat")], scope=BotCommandScopeChat(42))

    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    assert [c.description for c in await bot.get_my_commands(scope=private, language_code="ru")] == ["Повестка"]
    assert await bot.get_my_commands(language_code="ru") == ()  # exactly that scope and language
    assert api.my_commands("chat", chat_id=42) == [{"command": "secretariat", "description": "For the secretariat"}]
    assert api.visible_commands(42, "en")[0]["command"] == "secretariat"
    assert api.visible_commands(77, "ru")[0]["description"] == "Повестка"
    assert api.visible_commands(77, "kk")[0]["description"] == "Agenda"
    assert api.visible_commands(DEFAULT_GROUP.id, "ru")[0]["command"] == "start"

    assert await bot.delete_my_commands(scope=BotCommandScopeChat(42))
    assert api.visible_commands(42, "en")[0]["command"] == "agenda"
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand("Start", "Capitals are not allowed")])
    with pytest.raises(BadRequest, match=r"(?i)LANG_CODE_INVALID"):
        await bot.set_my_commands([BotCommand("start", "Start")], language_code="english")
    assert api.commands == [{"command": "start", "description": "Start"}]


async def test_the_menu_button_per_chat_and_by_default(api: FakeBotApi, bot: Bot) -> None:
    assert await bot.set_chat_menu_button(chat_id=42, menu_button=MenuButtonCommands())
    web_app = MenuButtonWebApp("Agenda", WebAppInfo("https://plenary.test/agenda"))
    assert await bot.set_chat_menu_button(menu_button=web_app)

    assert api.menu_buttons == {42: {"type": "commands"}, None: web_app.to_dict()}
    assert await bot.get_chat_menu_button(42) == MenuButtonCommands()
    assert await bot.get_chat_menu_button(77) == web_app
