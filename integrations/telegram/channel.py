"""The Telegram channel: python-telegram-bot's bot behind our rate limiter; or the console without a token."""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import httpx
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import BaseRateLimiter, ExtBot
from telegram.request import HTTPXRequest

from domain.delivery import ChannelUnavailable, Delivery, DeliveryError, Outcome
from integrations.telegram.limiter import PacingRateLimiter, retry_seconds

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
        connections: int = 64,
    ) -> None:
        self.limiter = limiter or PacingRateLimiter()
        request = HTTPXRequest(connection_pool_size=connections, read_timeout=read_timeout, connect_timeout=10.0)
        self.bot: ExtBot[Any] = ExtBot(
            token, base_url=base_url or "https://api.telegram.org/bot", request=request, rate_limiter=self.limiter
        )

    async def start(self) -> None:
        """Open the HTTP connection pool and check the token (PTB's own messages would repeat it: not ours)."""
        try:
            await self.bot.initialize()
        except InvalidToken:
            raise ChannelUnavailable("the Telegram Bot API rejected TELEGRAM_BOT_TOKEN: check the token") from None
        except TelegramError as exc:
            message = type(exc).__name__
            raise ChannelUnavailable(f"cannot reach the Telegram Bot API ({message}): check TELEGRAM_API_URL") from None

    async def close(self) -> None:
        """Close the connection pool."""
        await self.bot.shutdown()

    async def send(self, delivery: Delivery) -> None:
        """Send one message; map Telegram's answers to transient, permanent or unknown outcomes."""
        try:
            await self.bot.send_message(
                chat_id=int(delivery.address),
                text=delivery.message.telegram_html,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
            )
        except RetryAfter as exc:
            raise DeliveryError(Outcome.TRANSIENT, "Telegram rate limit (429)", retry_seconds(exc)) from None
        except Forbidden as exc:
            raise DeliveryError(Outcome.PERMANENT, f"Telegram: {exc.message}") from None
        except BadRequest as exc:
            raise DeliveryError(Outcome.PERMANENT, f"Telegram: {exc.message}") from None
        except TimedOut as exc:
            # A connect or pool timeout means the message never left; a read timeout means it may have arrived.
            not_sent = isinstance(exc.__cause__, httpx.ConnectTimeout | httpx.PoolTimeout)
            outcome = Outcome.TRANSIENT if not_sent else Outcome.UNKNOWN
            raise DeliveryError(outcome, f"Telegram timed out ({'not sent' if not_sent else 'no answer'})") from None
        except NetworkError as exc:
            raise DeliveryError(Outcome.TRANSIENT, f"Telegram unreachable or failing: {exc.message}") from None
        except TelegramError as exc:
            raise DeliveryError(Outcome.TRANSIENT, f"Telegram: {exc.message}") from None


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
