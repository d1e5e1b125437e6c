"""The secretariat's mailbox, read for calendar replies (``PLENARY_IMAP_URL``, over aioimaplib).

The ORGANIZER of every invitation Plenary sends is the secretariat's address; when a delegate presses Accept,
Decline or Tentative, their calendar mails an iMIP reply there. This reader looks at each new message's structure
only (``BODYSTRUCTURE``, no content): a message with no calendar part is none of Plenary's business and is left
as it is, unread. A message with one is fetched without marking it read (``BODY.PEEK``), its replies are handed
to ``record``, and it is flagged with the keyword ``$PlenaryRead`` — never moved, never deleted. A message with a
calendar part that is no reply (an invitation from someone else) is left unflagged too.

It waits for new mail with IMAP IDLE where the server offers it, and looks every ``poll`` seconds otherwise (and
at least that often anyway); a failure (the server away, a wrong password) is reported to the loops' health,
backed off from, and survived.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from aioimaplib import IMAP4, IMAP4_SSL, Abort, Response

from integrations.email.replies import CalendarReply, calendar_replies

log = logging.getLogger(__name__)

KEYWORD = "$PlenaryRead"
"""The keyword a handled message is flagged with (RFC 3501 keywords: the user's mail client may show it)."""
_CALENDAR_PART = re.compile(rb'\("(?:text"\s+"calendar|application"\s+"ics)"', re.IGNORECASE)
_VALIDITY = re.compile(rb"UIDVALIDITY (\d+)")


class MailboxError(Exception):
    """The mailbox could not be read (the reason, without the password)."""


@dataclass(frozen=True, slots=True)
class MailboxAddress:
    """Where the mailbox is: ``imaps://user:password@host[:port]/MAILBOX`` (``imap://`` without TLS)."""

    host: str
    port: int
    user: str
    password: str
    mailbox: str
    tls: bool

    @classmethod
    def parse(cls, url: str, password: str | None = None) -> MailboxAddress:
        """Read the URL; the password may come apart from it. ValueError naming what is wrong, never the password."""
        parts = urlsplit(url)
        if parts.scheme not in ("imap", "imaps"):
            raise ValueError("PLENARY_IMAP_URL must start with imaps:// (or imap:// on a trusted network)")
        if not parts.hostname or not parts.username:
            raise ValueError("PLENARY_IMAP_URL must name the user and the host: imaps://user:password@host/INBOX")
        secret = password if password is not None else unquote(parts.password or "")
        if not secret:
            raise ValueError("the mailbox password is missing: put it in PLENARY_IMAP_URL or PLENARY_IMAP_PASSWORD")
        tls = parts.scheme == "imaps"
        return cls(
            host=parts.hostname,
            port=parts.port or (993 if tls else 143),
            user=unquote(parts.username),
            password=secret,
            mailbox=unquote(parts.path.lstrip("/")) or "INBOX",
            tls=tls,
        )

    def describe(self) -> str:
        """For logs: everything but the password."""
        return f"{'imaps' if self.tls else 'imap'}://{self.user}@{self.host}:{self.port}/{self.mailbox}"


Record = Callable[[CalendarReply], Awaitable[object]]


class MailboxReader:
    """Hands every calendar reply that arrives in the mailbox to ``record``, once."""

    def __init__(self, address: MailboxAddress, record: Record, *, poll: float = 60.0, timeout: float = 30.0) -> None:
        self.address, self.record, self.poll, self.timeout = address, record, poll, timeout
        self._client: IMAP4 | None = None
        self._examined: tuple[str, int] = ("", 0)
        """(UIDVALIDITY, the highest UID whose structure was looked at): what need not be looked at again."""

    async def _connect(self) -> IMAP4:
        a = self.address
        client = (
            IMAP4_SSL(a.host, a.port, timeout=self.timeout, ssl_context=ssl.create_default_context())
            if a.tls
            else IMAP4(a.host, a.port, timeout=self.timeout)
        )
        try:
            validity = await self._open(client)
        except BaseException:
            await _log_out(client)
            raise
        if validity != self._examined[0]:
            self._examined = (validity, 0)
        return client

    async def _open(self, client: IMAP4) -> str:
        """Greeting, login, the mailbox selected: its UIDVALIDITY."""
        a = self.address
        try:
            await client.wait_hello_from_server()
        except (OSError, TimeoutError) as exc:
            raise MailboxError(f"cannot reach {a.describe()} ({type(exc).__name__})") from None
        login = await client.login(a.user, a.password)
        if login.result != "OK":
            raise MailboxError(f"{a.describe()} refused the login: check the user and the password")
        selected = await client.select(a.mailbox)
        if selected.result != "OK":
            raise MailboxError(f"{a.describe()}: no mailbox {a.mailbox!r}")
        found = (_VALIDITY.search(bytes(line)) for line in selected.lines if isinstance(line, bytes | bytearray))
        return next((m.group(1).decode() for m in found if m is not None), "")

    async def check(self) -> int:
        """Look at the messages that came since the last look; return how many replies were handed on. The
        connection stays open for ``wait``; any failure closes it (the next call connects again)."""
        try:
            if self._client is None:
                self._client = await self._connect()
            return await self._check(self._client)
        except MailboxError:
            await self.close()
            raise
        except (OSError, TimeoutError, asyncio.IncompleteReadError, Abort) as exc:
            await self.close()
            raise MailboxError(f"{self.address.describe()}: the connection failed ({type(exc).__name__})") from None

    async def wait(self, seconds: float) -> None:
        """Until new mail arrives (IMAP IDLE, where the server offers it) or ``seconds`` pass."""
        client = self._client
        if client is None or "IDLE" not in client.protocol.capabilities:
            await asyncio.sleep(seconds)
            return
        try:
            idle = await client.idle_start(timeout=seconds + 5)
            with contextlib.suppress(TimeoutError):
                await client.wait_server_push(timeout=seconds)
            client.idle_done()
            await asyncio.wait_for(idle, self.timeout)
        except (OSError, TimeoutError, asyncio.IncompleteReadError, Abort):
            await self.close()

    async def close(self) -> None:
        """Log out and close the connection, if one is open."""
        client, self._client = self._client, None
        if client is not None:
            await _log_out(client)

    async def _check(self, client: IMAP4) -> int:
        validity, after = self._examined
        found = await client.uid_search(f"UID {after + 1}:*", "UNKEYWORD", KEYWORD, charset=None)
        uids = [int(u) for line in found.lines[:1] for u in bytes(line).split() if u.isdigit() and int(u) > after]
        handed = 0
        for uid in sorted(uids):
            structure = await client.uid("fetch", str(uid), "(BODYSTRUCTURE)")
            lines = [bytes(line) for line in structure.lines if isinstance(line, bytes | bytearray)]
            if structure.result != "OK" or not any(b"BODYSTRUCTURE" in line for line in lines):
                # Not answered as asked: looked at again next time, never passed over as examined.
                raise MailboxError(f"message {uid} of {self.address.describe()} could not be read; trying again")
            if any(_CALENDAR_PART.search(line) for line in lines):
                handed += await self._handle(client, uid)
            self._examined = (validity, max(self._examined[1], uid))
        return handed

    async def _handle(self, client: IMAP4, uid: int) -> int:
        fetched = await client.uid("fetch", str(uid), "(BODY.PEEK[])")
        raw = next((bytes(line) for line in fetched.lines if isinstance(line, bytearray)), None)
        if fetched.result != "OK" or raw is None:  # looked at again next time: a reply is never skipped
            raise MailboxError(f"message {uid} of {self.address.describe()} could not be read; trying again")
        replies = calendar_replies(email.message_from_bytes(raw, policy=email.policy.default))
        if not replies:
            return 0  # a calendar, but no reply: not ours, left untouched
        for reply in replies:
            await self.record(reply)
        stored: Response = await client.uid("store", str(uid), "+FLAGS", f"({KEYWORD})")
        if stored.result != "OK":
            log.warning("could not flag message %d of %s as read by Plenary", uid, self.address.describe())
        return len(replies)


async def _log_out(client: IMAP4) -> None:
    try:
        await asyncio.wait_for(client.logout(), 5)
    except Exception:  # gone already: nothing more to close
        log.debug("the mailbox connection was already gone")
