"""Webhook mode: Telegram POSTs each update to Plenary's HTTP server instead of being polled.

The path has a random part and every request must carry the secret Telegram was given at registration
(``X-Telegram-Bot-Api-Secret-Token``, compared in constant time): anything else is answered 403, processed
not at all and not logged (a scanner's noise must not fill the log, and the header is a secret). Both are
derived from the server's secret, so every replica serves the same path and checks the same header. An
update Telegram delivers again (it retries until it gets a 2xx) is handled once: the conversation's replay
check is in the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from aiohttp import web
from telegram import Update

from bot.application import AnyApplication, begin
from bot.conversation import Conversation

log = logging.getLogger(__name__)

HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _derived(secret: bytes, what: str, length: int) -> str:
    # Telegram allows 1-256 characters of A-Za-z0-9_- in the secret token; hex is within that.
    return hmac.new(secret, f"telegram-webhook\x1f{what}".encode(), hashlib.sha256).hexdigest()[:length]


def webhook_path(secret: bytes) -> str:
    """The path updates are posted to: ``/telegram/<128 random bits>``."""
    return f"/telegram/{_derived(secret, 'path', 32)}"


class Webhook:
    """Receives updates on the HTTP server and hands them to the Application (which has no updater)."""

    def __init__(self, application: AnyApplication, conversation: Conversation, base_url: str, secret: bytes) -> None:
        self.application, self.conversation = application, conversation
        self.path = webhook_path(secret)
        self.url = base_url.rstrip("/") + self.path
        self._token = _derived(secret, "header", 64)
        self.running = False

    def route(self, app: web.Application) -> None:
        """Add the webhook's route to the HTTP application (before it starts)."""
        app.router.add_post(self.path, self.receive)

    async def start(self) -> None:
        """Initialise the Application, set its menu, start handling and register the webhook with its secret."""
        await begin(self.application, self.conversation)
        await self.application.bot.set_webhook(
            self.url, secret_token=self._token, allowed_updates=Update.ALL_TYPES, max_connections=40
        )
        self.running = True

    async def stop(self) -> None:
        """Stop handling (the webhook stays registered: another replica, or the next start, serves it)."""
        if not self.running:
            return
        self.running = False
        await self.application.stop()
        await self.application.shutdown()

    async def receive(self, request: web.Request) -> web.Response:
        """One update from Telegram: 403 without the secret, 400 for a body that is not an update, else 200."""
        given = request.headers.get(HEADER, "")
        if not hmac.compare_digest(given.encode(), self._token.encode()):
            return web.Response(status=403)
        if not self.running:
            return web.Response(status=503)  # Telegram retries: the update is not lost
        try:
            data: Any = json.loads(await request.read())
            update = Update.de_json(data, self.application.bot) if isinstance(data, dict) else None
        except Exception as exc:  # python-telegram-bot raises whatever a malformed field makes it raise
            log.warning("a webhook body that is not a Telegram update was refused (%s)", type(exc).__name__)
            return web.Response(status=400)
        if update is None:
            return web.Response(status=400)
        # Handled before Telegram is answered: an update is acknowledged only once it is, so a crash or a
        # failure (answered 500) makes Telegram deliver it again instead of losing it. Updates of one chat
        # still wait for each other (the update processor).
        await self.application.update_processor.process_update(update, self.application.process_update(update))
        if update.update_id in self.conversation.failed:
            self.conversation.failed.discard(update.update_id)
            return web.Response(status=500)
        try:
            await self.conversation.desk.updates.noted(update.update_id)
        except Exception as exc:  # handled, but not noted as handled: Telegram delivers it again
            log.warning("update %d could not be noted (%s); answered 500", update.update_id, type(exc).__name__)
            return web.Response(status=500)
        return web.Response(status=200)
