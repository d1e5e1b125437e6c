"""python-telegram-bot over aiohttp (``AiohttpRequest``): the real Bot client against the Bot API double."""

from __future__ import annotations

import io

import pytest
import segno
from telegram import Bot
from telegram.error import NetworkError

from integrations.telegram.request import AiohttpRequest, request_left
from tests.doubles.telegram_bot_api import FakeBotApi

SECRET_TOKEN = "123456:AAH-a-token-that-must-never-be-seen"


async def test_parameters_and_a_file_reach_the_bot_api_as_python_telegram_bot_sends_them() -> None:
    async with FakeBotApi() as api:
        chat = 5_000_001
        png = io.BytesIO()
        segno.make("https://t.me/plenary_bot?start=c12345678").save(png, kind="png", scale=4)
        async with Bot(api.token, base_url=api.base_url, request=AiohttpRequest(4)) as bot:
            sent = await bot.send_message(chat, "Повестка: <b>пункт 1</b> — «проект»", parse_mode="HTML")
            photo = await bot.send_photo(chat, png.getvalue(), caption="QR-код & ссылка")
        assert sent.text == "Повестка: пункт 1 — «проект»"
        [message, picture] = api.sent_to(chat)
        assert message.text == sent.text
        assert message.entities[0]["type"] == "bold"
        assert picture.photo == png.getvalue()
        assert picture.caption == "QR-код & ссылка"
        assert photo.photo


async def test_a_failure_names_no_token_and_says_whether_the_request_left() -> None:
    request = AiohttpRequest(1, connect_timeout=1.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as refused:
            await request.do_request(f"http://127.0.0.1:1/bot{SECRET_TOKEN}/getMe", "POST")
        with pytest.raises(NetworkError) as invalid:
            await request.do_request(f"http://127.0.0.1:99999/bot{SECRET_TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    for caught in (refused, invalid):
        assert "AAH-a-token" not in str(caught.value)
        assert not request_left(caught.value.__cause__)
