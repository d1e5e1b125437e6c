"""The e-mail channel: SMTP with one reused connection, or a Maildir folder when no server is configured."""

from __future__ import annotations

import asyncio
import logging
import mailbox
import ssl
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import aiosmtplib

from domain.delivery import Delivery, DeliveryError, Outcome
from integrations.email.mime import email_bytes

log = logging.getLogger(__name__)


class SmtpChannel:
    """Sends e-mail over one SMTP connection, kept open across a batch and reopened when it drops."""

    name = "email"

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        sender_name: str,
        *,
        username: str | None = None,
        password: str | None = None,
        tls: Literal["starttls", "tls", "none"] = "starttls",
        timeout: float = 30.0,
        idle_close: float = 30.0,
        reply_to: str | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.sender_name = host, port, sender, sender_name
        self.username, self.password, self.tls = username, password, tls
        self.timeout, self.idle_close, self.reply_to = timeout, idle_close, reply_to
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Nothing to open yet: the connection is made on the first send."""

    async def close(self) -> None:
        """Close the connection after the send in progress."""
        async with self._lock:
            await self._disconnect()

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            tls_context=ssl.create_default_context() if self.tls != "none" else None,
        )
        await smtp.connect()
        if self.username:
            await smtp.login(self.username, self.password or "")
        self._smtp = smtp
        return smtp

    async def _disconnect(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    def _schedule_idle_close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self.idle_close, lambda: asyncio.ensure_future(self.close()))

    async def send(self, delivery: Delivery) -> None:
        """Send one message on the shared connection; SMTP 4xx and drops are transient, 5xx permanent."""
        data = email_bytes(delivery, self.sender, self.sender_name, datetime.now(UTC), self.reply_to)
        async with self._lock:
            try:
                smtp = await self._connect()
            except aiosmtplib.SMTPAuthenticationError as exc:
                raise DeliveryError(Outcome.TRANSIENT, f"SMTP login refused ({exc.code})") from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._disconnect()
                raise DeliveryError(Outcome.TRANSIENT, f"cannot connect to the SMTP server: {_describe(exc)}") from None
            try:
                refused, _ = await smtp.sendmail(self.sender, [delivery.address], data)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                codes = [r.code for r in exc.recipients]
                outcome = Outcome.PERMANENT if all(c >= 500 for c in codes) else Outcome.TRANSIENT
                raise DeliveryError(outcome, f"recipient refused: {_describe(exc)}") from None
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    raise DeliveryError(Outcome.PERMANENT, f"SMTP {exc.code} {exc.message}") from None
                if exc.code == 421:  # the server is closing the connection
                    await self._disconnect()
                raise DeliveryError(Outcome.TRANSIENT, f"SMTP {exc.code} {exc.message}") from None
            except aiosmtplib.SMTPServerDisconnected as exc:
                await self._disconnect()
                # Dropped mid-transaction: the server may or may not have taken the message.
                raise DeliveryError(Outcome.UNKNOWN, f"connection dropped: {_describe(exc)}") from None
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._disconnect()
                raise DeliveryError(Outcome.TRANSIENT, f"SMTP error: {_describe(exc)}") from None
            if refused:
                code = next(iter(refused.values())).code
                outcome = Outcome.PERMANENT if code >= 500 else Outcome.TRANSIENT
                raise DeliveryError(outcome, f"recipient refused ({code})")
            self._schedule_idle_close()


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class MaildirChannel:
    """Writes each e-mail into a Maildir folder (the default when no SMTP server is configured)."""

    name = "email"

    def __init__(self, folder: Path, sender: str, sender_name: str) -> None:
        self.folder, self.sender, self.sender_name = folder, sender, sender_name
        self._box: mailbox.Maildir | None = None

    async def start(self) -> None:
        """Create the folder."""
        self._box = await asyncio.to_thread(mailbox.Maildir, self.folder, create=True)
        log.info("e-mail goes to the Maildir folder %s (no SMTP_HOST set)", self.folder)

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Add the message to the folder."""
        if self._box is None:
            await self.start()
        assert self._box is not None
        data = email_bytes(delivery, self.sender, self.sender_name, datetime.now(UTC))
        await asyncio.to_thread(self._box.add, data)
