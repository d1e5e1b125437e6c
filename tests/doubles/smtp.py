"""A real SMTP server on loopback (aiosmtpd) that records what it receives and can be told to fail.

Faults are planned per step (``SmtpServer.fail_at``): the greeting, any command by its verb (``EHLO``,
``STARTTLS``, ``AUTH``, ``MAIL``, ``RCPT``, ``DATA`` — the command itself, before the 354) or ``content``
(the reply after the content). A fault is a reply line to give instead, ``DROP`` (close the connection
without a word) or ``Stall(seconds)`` (wait before answering as usual).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

DROP = "drop"
"""A fault: close the connection at that step without answering."""


@dataclass(frozen=True)
class Stall:
    """A fault: wait this long before answering as usual (after the content: record it first)."""

    seconds: float


Fault = str | Stall
"""A reply line such as ``"451 4.3.0 Try again"``, ``DROP``, or a ``Stall``."""


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    at: float
    mail_options: tuple[str, ...] = ()
    """The MAIL FROM parameters, such as ``SMTPUTF8``."""

    @property
    def message(self) -> EmailMessage:
        """The message parsed back with the standard library (UTF-8 headers, RFC 6532, read as UTF-8)."""
        if self.raw.isascii():
            parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        else:
            parsed = email.message_from_string(self.raw.decode("utf-8"), policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class RecordingHandler:
    """An aiosmtpd handler: accepts, or answers with the reply it was told to give."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.fail_until = 0.0
        self.fail_reply = "451 4.3.0 Try again later"
        self.refuse: dict[str, str] = {}
        self.connections = 0
        self.commands: list[str] = []
        """Every command verb received, in order, over all connections."""
        self.advertised: list[str] = []
        """Extra EHLO keywords to offer, such as ``"STARTTLS"`` or ``"AUTH PLAIN LOGIN"``."""
        self.faults: dict[str, deque[Fault]] = {}

    def take(self, step: str) -> Fault | None:
        """The next fault planned for ``step``, if any (each is used once)."""
        with self.lock:
            planned = self.faults.get(step)
            return planned.popleft() if planned else None

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        with self.lock:
            self.connections += 1
        session.host_name = hostname
        return [*responses[:-1], *(f"250-{keyword}" for keyword in self.advertised), responses[-1]]

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        fault = self.take("content")
        if isinstance(fault, str) and fault != DROP:
            return fault
        if fault is None and time.monotonic() < self.fail_until:
            return self.fail_reply
        with self.lock:
            self.received.append(
                Received(
                    envelope.mail_from,
                    tuple(envelope.rcpt_tos),
                    bytes(envelope.original_content),
                    time.monotonic(),
                    tuple(envelope.mail_options),
                )
            )
        if fault == DROP:
            server.transport.close()
            await asyncio.Event().wait()  # cancelled when the connection is gone
        if isinstance(fault, Stall):
            await asyncio.sleep(fault.seconds)
        return "250 Message accepted"


class _FaultySMTP(SMTP):
    """aiosmtpd's server, recording every command and failing where the handler's faults say."""

    def __init__(self, handler: RecordingHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.recorder = handler
        for verb, method in list(self._smtp_methods.items()):
            self._smtp_methods[verb] = self._faulty(verb, method)

    def _faulty(self, verb: str, method: Callable[[str | None], Awaitable[None]]) -> Callable[..., Awaitable[None]]:
        async def command(arg: str | None) -> None:
            with self.recorder.lock:
                self.recorder.commands.append(verb)
            if not await self._fail(self.recorder.take(verb)):
                await method(arg)

        return command

    async def _fail(self, fault: Fault | None) -> bool:
        """Act out a fault; True when it replaced the answer."""
        if fault is None:
            return False
        if isinstance(fault, Stall):
            await asyncio.sleep(fault.seconds)
            return False
        if fault != DROP:
            await self.push(fault)
        if fault == DROP or fault.startswith("421"):
            assert self.transport is not None
            self.transport.close()
        return True

    async def _handle_client(self) -> None:
        if not await self._fail(self.recorder.take("greeting")):
            await super()._handle_client()
        elif self.transport is not None:  # a refused greeting ends the session
            self.transport.close()


class _Controller(Controller):
    def factory(self) -> SMTP:
        return _FaultySMTP(self.handler, **self.SMTP_kwargs)


class SmtpServer:
    """The server and its handler, for tests."""

    def __init__(self, controller: Controller, handler: RecordingHandler) -> None:
        self.controller = controller
        self.handler = handler
        self.host = "127.0.0.1"
        self.port = int(controller.port)

    @property
    def received(self) -> list[Received]:
        """Every accepted message, in order."""
        with self.handler.lock:
            return list(self.handler.received)

    def fail_for(self, seconds: float, reply: str = "451 4.3.0 Try again later") -> None:
        """Answer every DATA with ``reply`` for the next ``seconds``."""
        self.handler.fail_reply = reply
        self.handler.fail_until = time.monotonic() + seconds

    def refuse(self, address: str, reply: str = "550 5.1.1 No such user") -> None:
        """Refuse one recipient."""
        self.handler.refuse[address] = reply

    def fail_at(self, step: str, fault: Fault, times: int = 1) -> None:
        """Fail the next ``times`` times the transaction reaches ``step`` (see the module's docstring)."""
        with self.handler.lock:
            self.handler.faults.setdefault(step, deque()).extend([fault] * times)

    def advertise(self, *keywords: str) -> None:
        """Offer these extra EHLO keywords (say ``"STARTTLS"``): the client will try them."""
        self.handler.advertised.extend(keywords)

    @property
    def commands(self) -> list[str]:
        """Every command verb received, in order."""
        with self.handler.lock:
            return list(self.handler.commands)

    def by_recipient(self) -> dict[str, list[Received]]:
        """Accepted messages grouped by recipient."""
        out: dict[str, list[Received]] = {}
        for item in self.received:
            for rcpt in item.recipients:
                out.setdefault(rcpt, []).append(item)
        return out


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _authenticator(user: str, password: str) -> Callable[..., AuthResult]:
    """Accept exactly this login (AUTH PLAIN or LOGIN), refuse any other."""

    def check(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        good = isinstance(data, LoginPassword) and (data.login, data.password) == (user.encode(), password.encode())
        return AuthResult(success=good)

    return check


@contextmanager
def smtp_server(*, smtputf8: bool = True, login: tuple[str, str] | None = None) -> Iterator[SmtpServer]:
    """Run an SMTP server on a free loopback port for the duration of the block (offering SMTPUTF8 or not);
    with ``login`` (user, password) it offers AUTH without TLS and accepts only that login."""
    handler = RecordingHandler()
    auth: dict[str, Any] = (
        {"authenticator": _authenticator(*login), "auth_require_tls": False} if login is not None else {}
    )
    controller = _Controller(handler, hostname="127.0.0.1", port=free_port(), enable_SMTPUTF8=smtputf8, **auth)
    controller.start()
    try:
        yield SmtpServer(controller, handler)
    finally:
        controller.stop()


class _FileHandler(RecordingHandler):
    """Records each accepted message as a line ``monotonic-time TAB recipients`` in a file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.out = path.open("a", encoding="utf-8")

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.out.write(f"{time.monotonic()}\t{','.join(envelope.rcpt_tos)}\n")
        self.out.flush()
        return "250 Message accepted"


class ProcessSmtpServer:
    """An SMTP server in a process of its own (as a real one would be): it records to a file."""

    def __init__(self, port: int, record: Path) -> None:
        self.host = "127.0.0.1"
        self.port = port
        self.record = record

    @property
    def received(self) -> list[Received]:
        """Every accepted message, in order (recipients and times only)."""
        if not self.record.exists():
            return []
        out = []
        for line in self.record.read_text(encoding="utf-8").splitlines():
            at, rcpts = line.split("\t")
            out.append(Received("", tuple(rcpts.split(",")), b"", float(at)))
        return out


@contextmanager
def smtp_server_process(folder: Path) -> Iterator[ProcessSmtpServer]:
    """Run an SMTP server in a separate process on a free loopback port for the duration of the block."""
    port = free_port()
    record = folder / f"smtp-{port}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.doubles.smtp", str(port), str(record)], cwd=Path(__file__).parents[2]
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the SMTP server process did not start") from None
                time.sleep(0.05)
        yield ProcessSmtpServer(port, record)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(10)


def _serve(port: int, record: Path) -> None:
    controller = Controller(_FileHandler(record), hostname="127.0.0.1", port=port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
