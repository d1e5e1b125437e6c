"""The Telegram channel: python-telegram-bot's bot behind our rate limiter; or the console without a token."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any, TextIO

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import BaseRateLimiter, ExtBot

from domain.delivery import ChannelUnavailable, Delivery, DeliveryError, Outcome
from integrations.telegram.limiter import PacingRateLimiter, retry_seconds
from integrations.telegram.request import AiohttpRequest, failure, request_left

log = logging.getLogger(__name__)


class TelegramChannel:
    """Sends notices as Telegram messages (HTML parse mode) to bound chats."""

    name = "telegram"

    def __init__(
        self,
        token: str,
        base_url: str | None = None,
        *,
        limiter: BaseRateLimiter[Any] | None = None,
        read_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        connections: int = 64,
    ) -> None:
        self.limiter = limiter or PacingRateLimiter()
        self._requests = (
            AiohttpRequest(connections, read_timeout=read_timeout, connect_timeout=connect_timeout),
            AiohttpRequest(1),
        )
        self.bot: ExtBot[Any] = ExtBot(
            token,
            base_url=base_url or "https://api.telegram.org/bot",
            request=self._requests[0],
            get_updates_request=self._requests[1],
            rate_limiter=self.limiter,
        )

    async def start(self) -> None:
        """Open the HTTP connection pool and check the token (PTB's own messages would repeat it: not ours)."""
        try:
            await self.bot.initialize()
        except TelegramError as exc:
            # The bot counts as not initialised, so its shutdown would leave the pools open.
            await asyncio.gather(*(request.shutdown() for request in self._requests))
            if isinstance(exc, InvalidToken):
                raise ChannelUnavailable("the Telegram Bot API rejected TELEGRAM_BOT_TOKEN: check the token") from None
            message = type(exc).__name__
            raise ChannelUnavailable(f"cannot reach the Telegram Bot API ({message}): check TELEGRAM_API_URL") from None

    def share(self, processes: int) -> None:
        """Keep to this process's part of the bot's budget, ``processes`` sending at once (a limiter of our own;
        one given from outside keeps its own counsel)."""
        if isinstance(self.limiter, PacingRateLimiter):
            self.limiter.share(processes)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.bot.shutdown()

    async def send(self, delivery: Delivery) -> None:
        """Send one message; Telegram's answer, or where the request stopped, decides the outcome."""
        try:
            chat_id = int(delivery.address)
        except ValueError:
            raise DeliveryError(Outcome.PERMANENT, f"not a Telegram chat id: {delivery.address!r}"[:300]) from None
        markup = None
        if delivery.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in delivery.buttons]
            )
        try:
            if delivery.images:  # one request, so that it arrives whole or not at all: the text is the caption
                await self.bot.send_photo(
                    chat_id=chat_id,
                    photo=delivery.images[0].data,
                    caption=delivery.message.telegram_html,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            else:
                await self.bot.send_message(
                    chat_id=chat_id,
                    text=delivery.message.telegram_html,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                    reply_markup=markup,
                )
        except RetryAfter as exc:
            raise DeliveryError(Outcome.TRANSIENT, "Telegram rate limit (429)", retry_seconds(exc)) from None
        except (Forbidden, BadRequest, InvalidToken) as exc:
            raise DeliveryError(Outcome.PERMANENT, f"Telegram: {exc.message}") from None
        except ChatMigrated as exc:
            raise DeliveryError(Outcome.PERMANENT, f"Telegram: the group is now chat {exc.new_chat_id}") from None
        except NetworkError as exc:
            raise _network_failure(exc) from None
        except TelegramError as exc:
            # Raised bare only for a 2xx answer that could not be read: Telegram took the request.
            raise DeliveryError(Outcome.UNKNOWN, f"Telegram: {exc.message}") from None


def _network_failure(exc: NetworkError) -> DeliveryError:
    """Not sent, or sent with no answer (PTB #1045: blind resending delivered one message three times)."""
    cause = exc.__cause__
    if cause is None or isinstance(cause, TelegramError):
        # Telegram answered, with a 5xx: it did not take the message.
        return DeliveryError(Outcome.TRANSIENT, f"Telegram failing: {exc.message}"[:300])
    if not request_left(cause):
        return DeliveryError(Outcome.TRANSIENT, f"Telegram not reached, not sent ({failure(cause)})")
    # A read or write timeout, a connection dropped or reset once the request was (being) written: it may
    # have arrived.
    return DeliveryError(Outcome.UNKNOWN, f"Telegram sent, no answer ({failure(cause)})")


class ConsoleTelegram:
    """Stands in for Telegram when no bot token is configured: prints each message to the console."""

    name = "telegram"

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stdout

    async def start(self) -> None:
        """Say where Telegram messages go."""
        log.info("no TELEGRAM_BOT_TOKEN: Telegram messages are printed to the console")

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Print the message with its recipient."""
        text = delivery.message.text.strip().replace("\n", "\n    ")
        self.stream.write(f"[telegram → {delivery.name} {delivery.address}] {delivery.message.subject}\n    {text}\n")
        self.stream.flush()
