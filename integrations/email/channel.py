"""The e-mail channel: SMTP with one reused connection, or a Maildir folder when no server is configured."""

from __future__ import annotations

import asyncio
import logging
import mailbox
import re
import ssl
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Literal

import aiosmtplib

from domain.delivery import Delivery, DeliveryError, Outcome
from domain.ports import Clock
from integrations.email.mime import AddressError, Outgoing, draft, email_bytes

log = logging.getLogger(__name__)

_LEADING_DOT = re.compile(rb"^\.", re.MULTILINE)


class Step(StrEnum):
    """Where an SMTP transaction stands; a failure before ``CONTENT`` means nothing was sent."""

    CONNECT = "connecting"
    """TCP, the greeting, EHLO and STARTTLS."""
    LOGIN = "AUTH"
    MAIL = "MAIL FROM"
    RCPT = "RCPT TO"
    DATA = "DATA"
    """The DATA command, before the server's 354 invitation to send the content."""
    CONTENT = "the end of the content"
    """The content was written; waiting for the server's reply to it."""


class _Progress:
    def __init__(self) -> None:
        self.step = Step.CONNECT


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
        clock: Clock | None = None,
    ) -> None:
        self.host, self.port, self.sender, self.sender_name = host, port, sender, sender_name
        self.username, self.password, self.tls = username, password, tls
        self.timeout, self.idle_close, self.reply_to = timeout, idle_close, reply_to
        self.clock = clock
        self._smtp: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()
        self._idle: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Nothing to open yet: the connection is made on the first send."""

    async def close(self) -> None:
        """Close the connection after the send in progress."""
        async with self._lock:
            await self._disconnect()

    def message(self, delivery: Delivery) -> Outgoing:
        """The message for one delivery and its envelope (``EmailMessage`` with ``policy.SMTP``)."""
        now = self.clock.now() if self.clock is not None else datetime.now(UTC)
        # Built before the connection is taken, so the next messages are built while one is on the wire.
        # (On a worker thread, or with a pause between building and generating, the fan-out benchmark was
        # no faster: the work holds the GIL either way.)
        return draft(delivery, self.sender, self.sender_name, now, self.reply_to).outgoing()

    async def send(self, delivery: Delivery) -> None:
        """Send one message on the shared connection; the outcome follows the step where it stopped (RFC 5321)."""
        try:
            message = self.message(delivery)
        except AddressError as exc:
            raise DeliveryError(Outcome.PERMANENT, f"cannot address the e-mail: {exc}") from None
        async with self._lock:
            progress = _Progress()
            try:
                smtp = await self._connect(progress)
                await self._transfer(smtp, message, progress)
            except DeliveryError:
                raise
            except (aiosmtplib.SMTPException, OSError, TimeoutError, ValueError) as exc:
                error = _failure(progress.step, exc)
                await self._after_failure(exc)
                raise error from None
            except asyncio.CancelledError:
                # A transaction left half-way would answer the next MAIL FROM with 503.
                self._drop()
                raise
            self._schedule_idle_close()

    async def _connect(self, progress: _Progress) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        await self._disconnect()
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.tls == "tls",
            start_tls=self.tls == "starttls",
            timeout=self.timeout,
            tls_context=ssl.create_default_context() if self.tls != "none" else None,
        )
        self._smtp = smtp
        await smtp.connect()
        if smtp.is_ehlo_or_helo_needed:  # the extensions decide the MAIL FROM parameters
            try:
                await smtp.ehlo()
            except aiosmtplib.SMTPHeloError:
                if not smtp.is_connected:
                    raise
                await smtp.helo()
        if self.username:
            progress.step = Step.LOGIN
            await smtp.login(self.username, self.password or "")
        return smtp

    async def _transfer(self, smtp: aiosmtplib.SMTP, message: Outgoing, progress: _Progress) -> None:
        # sendmail would hide which step failed, and whether the content had been written when the
        # connection dropped: that decides between "not sent" and "may have arrived", so the steps are ours.
        # With one recipient every refusal raises here (sendmail returns normally when any was accepted).
        options, encoding = [], "ascii"
        if message.smtputf8:
            if not smtp.supports_extension("smtputf8"):
                raise DeliveryError(
                    Outcome.PERMANENT, "the address has a non-ASCII local part and the server does not offer SMTPUTF8"
                )
            options, encoding = (
                ["SMTPUTF8", *(["BODY=8BITMIME"] if smtp.supports_extension("8bitmime") else [])],
                "utf-8",
            )
        if smtp.supports_extension("size"):
            options.append(f"SIZE={len(message.data)}")
        progress.step = Step.MAIL
        await smtp.mail(message.sender, options=options, encoding=encoding)
        progress.step = Step.RCPT
        await smtp.rcpt(message.recipient, encoding=encoding)
        progress.step = Step.DATA
        response = await smtp.execute_command(b"DATA")
        if response.code != aiosmtplib.SMTPStatus.start_input:
            raise aiosmtplib.SMTPDataError(response.code, response.message)
        await self._content(smtp, message.data, progress)

    async def _content(self, smtp: aiosmtplib.SMTP, data: bytes, progress: _Progress) -> None:
        # aiosmtplib's data() sends the command and the content in one call; here the content goes out
        # only after the 354, through the same protocol object, so a failure is known to be before or after.
        protocol = smtp.protocol
        if protocol is None:
            raise aiosmtplib.SMTPServerDisconnected("connection lost")
        body = data if data.endswith(b"\r\n") else data + b"\r\n"
        protocol.write(_LEADING_DOT.sub(b"..", body) + b".\r\n")
        progress.step = Step.CONTENT
        response = await protocol.read_response(timeout=self.timeout)
        if response.code != aiosmtplib.SMTPStatus.completed:
            raise aiosmtplib.SMTPDataError(response.code, response.message)

    async def _after_failure(self, exc: BaseException) -> None:
        """Reset the envelope after a refusal and keep the connection; drop it after a 421 or anything else."""
        smtp = self._smtp
        refused = isinstance(exc, ValueError) or (
            isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400 and exc.code != 421
        )
        if smtp is not None and smtp.is_connected and refused:
            try:
                await smtp.rset()
                return
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                pass
        # Not QUIT: after a timeout the server's late reply would be taken for QUIT's, or QUIT would wait too.
        self._drop()

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    async def _disconnect(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()

    def _schedule_idle_close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        loop = asyncio.get_running_loop()
        self._idle = loop.call_later(self.idle_close, lambda: asyncio.ensure_future(self.close()))


def _failure(step: Step, exc: BaseException) -> DeliveryError:
    """What a failure at ``step`` means: a 4xx or 5xx reply says so; silence after the content is unknown."""
    if isinstance(exc, aiosmtplib.SMTPResponseException) and exc.code >= 400:
        outcome = Outcome.PERMANENT if exc.code >= 500 else Outcome.TRANSIENT
        return DeliveryError(outcome, f"SMTP {exc.code} at {step}: {exc.message}"[:300])
    if isinstance(exc, ValueError):  # aiosmtplib refuses to put the address on the command line
        return DeliveryError(Outcome.PERMANENT, f"cannot address the e-mail: {exc}"[:300])
    if step is Step.CONTENT:
        return DeliveryError(Outcome.UNKNOWN, f"no reply after the content was sent: {_describe(exc)}")
    return DeliveryError(Outcome.TRANSIENT, f"not sent, stopped at {step}: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]


class MaildirChannel:
    """Writes each e-mail into a Maildir folder (the default when no SMTP server is configured)."""

    name = "email"

    def __init__(self, folder: Path, sender: str, sender_name: str, *, clock: Clock | None = None) -> None:
        self.folder, self.sender, self.sender_name, self.clock = folder, sender, sender_name, clock
        self._box: mailbox.Maildir | None = None

    async def start(self) -> None:
        """Create the folder, and the directories above it."""
        self._box = await asyncio.to_thread(self._open)
        log.info("e-mail goes to the Maildir folder %s (no SMTP_HOST set)", self.folder)

    def _open(self) -> mailbox.Maildir:
        # mailbox.Maildir(create=True) makes the folder only when its parent exists, and makes tmp/new/cur
        # only along with the folder itself.
        for sub in ("tmp", "new", "cur"):
            (self.folder / sub).mkdir(mode=0o700, parents=True, exist_ok=True)
        return mailbox.Maildir(self.folder, create=False)

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Add the message to the folder."""
        if self._box is None:
            await self.start()
        assert self._box is not None
        now = self.clock.now() if self.clock is not None else datetime.now(UTC)
        try:
            data = email_bytes(delivery, self.sender, self.sender_name, now)
        except AddressError as exc:
            raise DeliveryError(Outcome.PERMANENT, f"cannot address the e-mail: {exc}") from None
        await asyncio.to_thread(self._box.add, data)
