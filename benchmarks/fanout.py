"""Benchmark: fanning one session's invitations out through the outbox, by Telegram and by e-mail.

Everything runs in one process on 127.0.0.1, each phase with a fresh SQLite database (migrated with
``storage.migrate.upgrade``) in a temporary directory, and the real ``Store``, ``Dispatcher`` (its
default batch and concurrency) and ``SystemClock``. A small composer in this file stands in for the
application's: for every outbox row it returns a ``Delivery`` with a realistic Russian invitation.

* Telegram — N invitation notices (default 1,000) to N distinct delegates, each bound to its own
  private chat, are enqueued and drained by ``Dispatcher.run`` through the real ``TelegramChannel``
  (python-telegram-bot with the default ``PacingRateLimiter``) against ``FakeTelegramApi`` enforcing
  30 messages a second overall and 1 a second per chat, answering 429 beyond. Reported: messages per
  second (accepted messages / time from the first accepted to the last), the 429 answers the client
  received (sendMessage calls the double answered 429, split into refusals for going over a limit
  and refusals during a penalty; beside them the limiter's own count of 429s it saw, which counts
  the same answers from the other end), messages sent during a penalty, lost notices (delegates
  with no accepted message), duplicated notices (delegates with more than one) and the outbox
  counts at the end.
* E-mail — N invitation e-mails (default 1,000) with a ``text/calendar`` REQUEST part, drained by the
  dispatcher through ``SmtpChannel`` (one reused connection, no TLS) into a local aiosmtpd
  (``tests.doubles.smtp``) running in a process of its own, as a real server would. The baseline,
  measured in the same run against a fresh server of the same kind, is a bare aiosmtplib loop over one
  connection sending the same N messages, built beforehand with ``integrations.email.mime.email_bytes``
  and sent as bytes. The same dispatcher run is repeated with ``HandBuiltSmtpChannel``, whose messages
  are assembled by hand the way the channel used to (``hand_built_bytes``), to compare the standard
  library's way with it on the whole send. Each of the three runs ``--email-rounds`` times (after a short
  warm-up of both channels, the two dispatcher runs taking turns to go first) and the best is kept: the
  machine may be busy with something else. Messages per second is messages accepted by the server / time
  from the start (before connecting, or before starting the dispatcher) to the last message accepted;
  the ratio dispatcher / bare is checked, and so is hand-built / library (a hand-written part would stay
  only where it made the whole send at least twice as fast).

The targets — at least 28 Telegram messages a second with no 429 and nothing lost; e-mail through
the dispatcher at least 0.7 of the bare loop; the hand-built messages less than twice as fast on the
whole send — are marked PASS or FAIL. It is a report, not a test:
the exit code is 0 whatever the figures. A phase that has not finished after 120 s is aborted with
a message, and what it got done by then is reported.

Run it from the project root::

    python -m benchmarks.fanout
    python -m benchmarks.fanout --telegram 200 --skip-email
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import logging
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from html import escape
from pathlib import Path

import aiosmtplib
from telegram.ext import AIORateLimiter

from app.clock import SystemClock
from benchmarks._common import positive, verdict
from domain.delivery import CalendarPart, Delivery, Message
from domain.notices import Notice, NoticeKind, NoticeStatus, notice_key
from domain.outbox import ClaimedItem, OutboxItem
from integrations.email.channel import SmtpChannel
from integrations.email.mime import Outgoing, email_bytes, message_id
from integrations.telegram.channel import TelegramChannel
from integrations.telegram.limiter import PacingRateLimiter
from scheduler.dispatcher import Dispatcher
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.doubles.smtp import ProcessSmtpServer as SmtpAddress
from tests.doubles.smtp import Received, smtp_server_process
from tests.doubles.telegram_api import DEFAULT_TOKEN, FakeTelegramApi

DESCRIPTION = "Fan-out of invitations through the outbox and dispatcher, by Telegram and by e-mail."

PHASE_LIMIT = 120.0
"""Seconds after which a phase is aborted."""
POLL = 0.05
"""Seconds between looks at the outbox while a phase runs."""

TELEGRAM_OVERALL = 30
TELEGRAM_PER_CHAT = 1
TARGET_TELEGRAM_RATE = 28.0
TARGET_EMAIL_RATIO = 0.7

SESSION_ID = "icmec-xx"
FIRST_CHAT_ID = 700_000_001
SENDER = "secretariat@icmec.example.org"
SENDER_NAME = "Секретариат МКВЭС ОДКБ"
STATES = ("arm", "blr", "kaz", "kgz", "rus", "tjk")

CALENDAR = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Plenary//Plenary//RU\r\nMETHOD:REQUEST\r\n"
    "BEGIN:VEVENT\r\nUID:icmec-xx@icmec.plenary\r\nDTSTAMP:20221001T000000Z\r\n"
    "DTSTART:20221019T110000Z\r\nDTEND:20221019T140000Z\r\nSEQUENCE:0\r\n"
    "SUMMARY:XX заседание МКВЭС ОДКБ\r\nLOCATION:Москва\\, Дом приёмов\\, зал 3\r\n"
    "ORGANIZER;CN=Секретариат МКВЭС:mailto:secretariat@icmec.example.org\r\n"
    "STATUS:CONFIRMED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
).encode()

# --- the notices and their messages -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recipient:
    """One invited delegate and where they are reached."""

    delegate_id: str
    name: str
    address: str
    """A Telegram chat id or an e-mail address, depending on the phase."""


def recipients(count: int, channel: str) -> list[Recipient]:
    """``count`` distinct delegates, each with their own chat id or mailbox."""
    out: list[Recipient] = []
    for i in range(count):
        state = STATES[i % len(STATES)]
        delegate_id = f"{state}-delegate-{i:05d}"
        address = str(FIRST_CHAT_ID + i) if channel == "telegram" else f"{delegate_id}@{state}.example.org"
        out.append(Recipient(delegate_id, f"Делегат {i + 1}", address))
    return out


def invitations(people: Iterable[Recipient], channel: str, due_at: datetime) -> list[OutboxItem]:
    """One invitation notice per delegate, due now, through ``channel`` only."""
    return [
        OutboxItem(
            Notice(
                key=notice_key(SESSION_ID, NoticeKind.INVITATION, person.delegate_id),
                kind=NoticeKind.INVITATION,
                session_id=SESSION_ID,
                delegate_id=person.delegate_id,
                due_at=due_at,
                channels=(channel,),
                status=NoticeStatus.DUE,
            )
        )
        for person in people
    ]


class InvitationComposer:
    """Implements the ``Composer`` port: a Russian invitation for every row, addressed from a fixed table."""

    def __init__(self, people: Iterable[Recipient]) -> None:
        self.people = {person.delegate_id: person for person in people}

    def companion(self, item: object, channel: str, now: object) -> None:
        """No e-mail copies."""
        return None

    async def compose(self, item: ClaimedItem, channel: str) -> Delivery | None:
        """Render the invitation for this channel; None for a delegate not in the table."""
        person = self.people.get(item.delegate_id)
        if person is None:
            return None
        return self.delivery(item.key, item.kind, person, with_calendar=channel == "email")

    @staticmethod
    def delivery(key: str, kind: str, person: Recipient, *, with_calendar: bool) -> Delivery:
        """The invitation to one delegate (the calendar part for e-mail only)."""
        name = escape(person.name)
        telegram_html = (
            "<b>Приглашение на XX заседание Межгосударственной комиссии</b>\n\n"
            f"Уважаемый(ая) {name}!\n\n"
            "Приглашаем Вас принять участие в XX заседании Межгосударственной комиссии по военно-экономическому "
            "сотрудничеству ОДКБ.\n\n"
            "Дата: 19 октября 2022 г., 14:00–17:00 по московскому времени\n"
            "Место проведения: Москва, Дом приёмов, зал 3\n"
            "Формат проведения: очно и по видеоконференцсвязи (смешанный формат)\n\n"
            "<b>Повестка дня</b>\n"
            "1. О ходе выполнения решений XIX заседания\n"
            "2. О проекте плана работы на 2023 год\n"
            "3. О дате и месте проведения XXI заседания\n\n"
            '<a href="https://icmec.example.org/rsvp/icmec-xx">Ответить на приглашение</a>\n'
            "<i>Просим подтвердить участие до 12 октября 2022 г.</i>"
        )
        text = (
            f"Уважаемый(ая) {person.name}!\n\n"
            "Приглашаем Вас принять участие в XX заседании Межгосударственной комиссии по военно-экономическому "
            "сотрудничеству ОДКБ.\n\n"
            "Дата: 19 октября 2022 г., 14:00–17:00 по московскому времени\n"
            "Место проведения: Москва, Дом приёмов, зал 3\n\n"
            "Повестка дня:\n"
            "1. О ходе выполнения решений XIX заседания\n"
            "2. О проекте плана работы на 2023 год\n"
            "3. О дате и месте проведения XXI заседания\n\n"
            "Ответить на приглашение: https://icmec.example.org/rsvp/icmec-xx\n"
        )
        html = (
            '<!DOCTYPE html><html lang="ru"><head><meta charset="utf-8"><title>Приглашение</title></head><body>'
            f"<p>Уважаемый(ая) {name}!</p>"
            "<p>Приглашаем Вас принять участие в <b>XX заседании</b> Межгосударственной комиссии по "
            "военно-экономическому сотрудничеству ОДКБ.</p>"
            "<table><tr><th>Дата</th><td>19 октября 2022 г., 14:00–17:00 по московскому времени</td></tr>"
            "<tr><th>Место проведения</th><td>Москва, Дом приёмов, зал 3</td></tr></table>"
            "<h2>Повестка дня</h2><ol><li>О ходе выполнения решений XIX заседания</li>"
            "<li>О проекте плана работы на 2023 год</li><li>О дате и месте проведения XXI заседания</li></ol>"
            '<p><a href="https://icmec.example.org/rsvp/icmec-xx">Ответить на приглашение</a></p></body></html>'
        )
        return Delivery(
            key=key,
            kind=kind,
            address=person.address,
            name=person.name,
            message=Message(
                subject="Приглашение: XX заседание МКВЭС ОДКБ, 19 октября 2022 г.",
                text=text,
                html=html,
                telegram_html=telegram_html,
                language="ru",
            ),
            calendar=CalendarPart("REQUEST", CALENDAR) if with_calendar else None,
            headers={"X-Plenary-Kind": kind},
        )


# --- running the dispatcher ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Drained:
    """How a dispatcher run ended."""

    started: float
    """``time.monotonic()`` just before the dispatcher started."""
    enqueue_seconds: float
    counts: dict[str, int]
    aborted: bool


async def fresh_store(folder: Path, name: str) -> Store:
    """A migrated SQLite database in ``folder``."""
    url = f"sqlite+aiosqlite:///{folder / name}.sqlite3"
    await upgrade(url)
    return Store(create_engine(url))


async def drain(store: Store, dispatcher: Dispatcher, entries: Sequence[OutboxItem], phase: str) -> Drained:
    """Enqueue the notices, run the dispatcher until nothing is pending or claimed, and stop it."""
    clock = SystemClock()
    before = time.perf_counter()
    await store.outbox.enqueue(entries, clock.now())
    enqueue_seconds = time.perf_counter() - before
    aborted = False
    started = time.monotonic()
    task = asyncio.create_task(dispatcher.run())
    try:
        async with asyncio.timeout(PHASE_LIMIT):
            while True:
                counts = await store.outbox.counts()
                if not counts.get("pending") and not counts.get("claimed"):
                    break
                if task.done():  # the dispatcher died: stop waiting, the outbox counts will tell
                    break
                await asyncio.sleep(POLL)
    except TimeoutError:
        aborted = True
        print(f"ABORTED: the {phase} phase did not finish within {PHASE_LIMIT:g} s; what it did is reported below")
    finally:
        await dispatcher.stop(grace=5.0)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if task.done() and not task.cancelled() and task.exception() is not None:
        print(f"the dispatcher failed: {task.exception()!r}")
    return Drained(started, enqueue_seconds, await store.outbox.counts(), aborted)


# --- Telegram -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TelegramResult:
    count: int
    enqueue_seconds: float
    accepted: int
    span: float
    rate: float
    answered_429: int
    over_limit: int
    during_penalty: int
    limiter_429s: int
    lost: int
    duplicated: int
    counts: dict[str, int]
    aborted: bool


async def telegram_phase(folder: Path, count: int, limiter: str = "plenary") -> TelegramResult:
    """Fan ``count`` invitations out to as many chats through the dispatcher and the Bot API double."""
    people = recipients(count, "telegram")
    store = await fresh_store(folder, f"telegram-{limiter}")
    try:
        async with FakeTelegramApi(limit_per_second=TELEGRAM_OVERALL, per_chat_per_second=TELEGRAM_PER_CHAT) as api:
            chosen = AIORateLimiter() if limiter == "ptb" else None
            channel = TelegramChannel(DEFAULT_TOKEN, api.base_url, limiter=chosen)
            await channel.start()
            try:
                dispatcher = Dispatcher(
                    store.outbox, {"telegram": channel}, InvitationComposer(people), SystemClock(), "bench-telegram"
                )
                drained = await drain(
                    store, dispatcher, invitations(people, "telegram", SystemClock().now()), "Telegram"
                )
            finally:
                await channel.close()
            accepted = list(api.messages)
            answered_429 = sum(1 for request in api.requests if request.status == 429)
            over_limit, during_penalty = api.rate_limited, api.sent_during_penalty
            limiter_429s = channel.limiter.retries_after_429 if isinstance(channel.limiter, PacingRateLimiter) else 0
    finally:
        await store.engine.dispose()
    per_chat = Counter(str(m.chat_id) for m in accepted)
    span = accepted[-1].received_at - accepted[0].received_at if len(accepted) > 1 else 0.0
    return TelegramResult(
        count=count,
        enqueue_seconds=drained.enqueue_seconds,
        accepted=len(accepted),
        span=span,
        rate=len(accepted) / span if span > 0 else 0.0,
        answered_429=answered_429,
        over_limit=over_limit,
        during_penalty=during_penalty,
        limiter_429s=limiter_429s,
        lost=sum(1 for p in people if per_chat[p.address] == 0),
        duplicated=sum(1 for p in people if per_chat[p.address] > 1),
        counts=drained.counts,
        aborted=drained.aborted,
    )


# --- e-mail ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailRun:
    accepted: int
    seconds: float
    lost: int
    duplicated: int
    aborted: bool = False

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class EmailResult:
    count: int
    rounds: int
    build_seconds: float
    """Building the N messages the library's way (``integrations.email.mime``), for the bare loop."""
    hand_build_seconds: float
    """Building the same N messages the hand-written way (``hand_built_bytes`` below)."""
    bare: EmailRun
    dispatcher: EmailRun
    """Dispatcher + ``SmtpChannel``, messages built by the library."""
    hand_built: EmailRun
    """Dispatcher + ``SmtpChannel`` with the hand-written builder."""
    enqueue_seconds: float
    counts: dict[str, int]

    @property
    def ratio(self) -> float:
        return self.dispatcher.rate / self.bare.rate if self.bare.rate > 0 else 0.0

    @property
    def hand_over_library(self) -> float:
        return self.hand_built.rate / self.dispatcher.rate if self.dispatcher.rate > 0 else 0.0


def tally(people: Sequence[Recipient], received: Sequence[Received], started: float, aborted: bool) -> EmailRun:
    """Count what the server accepted, and the time from ``started`` to the last message."""
    per_address = Counter(rcpt for message in received for rcpt in message.recipients)
    seconds = received[-1].at - started if received else 0.0
    return EmailRun(
        accepted=len(received),
        seconds=seconds,
        lost=sum(1 for p in people if per_address[p.address] == 0),
        duplicated=sum(1 for p in people if per_address[p.address] > 1),
        aborted=aborted,
    )


def best(runs: Iterable[EmailRun]) -> EmailRun:
    """The fastest of several runs of the same phase (the machine may be busy with something else)."""
    return max(runs, key=lambda run: (not run.aborted, run.rate))


async def bare_loop(server: SmtpAddress, messages: Sequence[tuple[bytes, str]]) -> tuple[float, bool]:
    """Send pre-built messages one after the other over one connection; return the start and whether aborted."""
    started = time.monotonic()
    smtp = aiosmtplib.SMTP(hostname=server.host, port=server.port, use_tls=False, start_tls=False, timeout=30)
    try:
        async with asyncio.timeout(PHASE_LIMIT):
            await smtp.connect()
            for message, address in messages:
                await smtp.sendmail(SENDER, [address], message)
            await smtp.quit()
    except TimeoutError:
        print(f"ABORTED: the bare SMTP loop did not finish within {PHASE_LIMIT:g} s; what it did is reported below")
        smtp.close()
        return started, True
    return started, False


async def in_server(
    folder: Path,
    action: Callable[[SmtpAddress], Awaitable[tuple[float, bool]]],
) -> tuple[list[Received], float, bool]:
    """Run an action against a fresh aiosmtpd on loopback, in a process of its own as a real server would be;
    return what it received, the start, and whether it was aborted."""
    with smtp_server_process(folder) as server:
        started, aborted = await action(server)
        await asyncio.sleep(0.2)  # the server records the last message after answering it
        return server.received, started, aborted


# The hand-written builder the channel used before, kept here only to measure the library's way against it.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]+")


def _hand_field(name: str, value: str) -> str:
    value = _CONTROLS.sub(" ", value).strip()
    if not value.isascii():
        value = Header(value, "utf-8", header_name=name).encode(linesep="\r\n")
    return f"{name}: {value}\r\n"


def _hand_body(content_type: str, data: bytes) -> str:
    encoded = base64.encodebytes(data).decode("ascii").replace("\n", "\r\n")
    return f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}"


def hand_built_bytes(delivery: Delivery, sender: str, sender_name: str, now: datetime) -> bytes:
    """The message assembled by hand from encoded pieces (headers unfolded unless non-ASCII)."""
    tag = hashlib.sha256(delivery.key.encode()).hexdigest()[:20]
    mixed, alternative = f"=_m_{tag}", f"=_a_{tag}"
    head = [
        _hand_field("Subject", delivery.message.subject),
        f"From: {formataddr((sender_name, sender), charset='utf-8')}\r\n",
        f"To: {formataddr((delivery.name, delivery.address), charset='utf-8')}\r\n",
        f"Date: {format_datetime(now)}\r\n",
        f"Message-ID: {message_id(delivery.key, sender.rsplit('@', 1)[-1])}\r\n",
        _hand_field("Content-Language", delivery.message.language),
        "Auto-Submitted: auto-generated\r\n",
        *(_hand_field(name, value) for name, value in delivery.headers.items()),
        "MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/mixed; boundary="{mixed}"\r\n',
    ]
    parts = [
        _hand_body('text/plain; charset="utf-8"', delivery.message.text.encode()),
        _hand_body('text/html; charset="utf-8"', delivery.message.html.encode()),
    ]
    if delivery.calendar is not None:
        method = delivery.calendar.method
        parts.append(_hand_body(f'text/calendar; charset="utf-8"; method={method}', delivery.calendar.data))
    inner = "".join(f"--{alternative}\r\n{part}" for part in parts) + f"--{alternative}--\r\n"
    body = f'--{mixed}\r\nContent-Type: multipart/alternative; boundary="{alternative}"\r\n\r\n{inner}--{mixed}--\r\n'
    return ("".join(head) + "\r\n" + body).encode("ascii")


class HandBuiltSmtpChannel(SmtpChannel):
    """The same channel, sending messages from the hand-written builder."""

    def message(self, delivery: Delivery) -> Outgoing:
        data = hand_built_bytes(delivery, self.sender, self.sender_name, datetime.now(UTC))
        return Outgoing(self.sender, delivery.address, False, data)


def build_all(
    people: Sequence[Recipient], entries: Sequence[OutboxItem], hand: bool
) -> tuple[list[tuple[bytes, str]], float]:
    """Build every message one way; return them with their addresses, and the seconds it took."""
    before = time.perf_counter()
    built: list[tuple[bytes, str]] = []
    for entry, person in zip(entries, people, strict=True):
        if time.perf_counter() - before > PHASE_LIMIT:
            print(f"ABORTED: building the messages took over {PHASE_LIMIT:g} s; the bare loop sends {len(built):,}")
            break
        delivery = InvitationComposer.delivery(entry.notice.key, entry.notice.kind.value, person, with_calendar=True)
        build = hand_built_bytes if hand else email_bytes
        built.append((build(delivery, SENDER, SENDER_NAME, datetime.now(UTC)), person.address))
    return built, time.perf_counter() - before


async def through_dispatcher(
    folder: Path, name: str, people: Sequence[Recipient], entries: Sequence[OutboxItem], hand: bool
) -> tuple[EmailRun, Drained]:
    """Drain the invitations through the dispatcher and ``SmtpChannel`` (or the hand-built variant)."""
    store = await fresh_store(folder, name)
    drained: Drained | None = None

    async def action(server: SmtpAddress) -> tuple[float, bool]:
        nonlocal drained
        kind = HandBuiltSmtpChannel if hand else SmtpChannel
        channel = kind(server.host, server.port, SENDER, SENDER_NAME, tls="none")
        await channel.start()
        try:
            dispatcher = Dispatcher(
                store.outbox, {"email": channel}, InvitationComposer(people), SystemClock(), "bench-email"
            )
            drained = await drain(store, dispatcher, entries, "e-mail (dispatcher)")
        finally:
            await channel.close()
        return drained.started, drained.aborted

    try:
        received, started, aborted = await in_server(folder, action)
    finally:
        await store.engine.dispose()
    assert drained is not None
    return tally(people, received, started, aborted), drained


async def email_phase(folder: Path, count: int, rounds: int) -> EmailResult:
    """Send ``count`` invitations by a bare aiosmtplib loop, then through the dispatcher with the library's
    messages and with the hand-built ones; each ``rounds`` times, keeping the best of each."""
    people = recipients(count, "email")
    entries = invitations(people, "email", SystemClock().now())
    built, build_seconds = build_all(people, entries, hand=False)
    _, hand_build_seconds = build_all(people, entries, hand=True)
    # A short run of each first, so that neither pays for the first connection, statement caches and the like.
    warm = min(count, 50)
    for hand in (False, True):
        await through_dispatcher(folder, f"email-warm-{hand}", people[:warm], entries[:warm], hand=hand)
    bare_runs: list[EmailRun] = []
    library_runs: list[EmailRun] = []
    hand_runs: list[EmailRun] = []
    drained: Drained | None = None
    for i in range(rounds):
        received, started, aborted = await in_server(folder, lambda server: bare_loop(server, built))
        bare_runs.append(tally(people, received, started, aborted))
        for hand in (i % 2 == 1, i % 2 == 0):  # alternate which goes first
            run, result = await through_dispatcher(folder, f"email-{i}-{hand}", people, entries, hand=hand)
            (hand_runs if hand else library_runs).append(run)
            drained = drained if hand else result
    assert drained is not None
    return EmailResult(
        count=count,
        rounds=rounds,
        build_seconds=build_seconds,
        hand_build_seconds=hand_build_seconds,
        bare=best(bare_runs),
        dispatcher=best(library_runs),
        hand_built=best(hand_runs),
        enqueue_seconds=drained.enqueue_seconds,
        counts=drained.counts,
    )


# --- the report ----------------------------------------------------------------------------------------


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{status} {n:,}" for status, n in sorted(counts.items())) or "empty"


def report_telegram(t: TelegramResult) -> None:
    print(
        f"Telegram: {t.count:,} invitations to {t.count:,} chats; Bot API double at {TELEGRAM_OVERALL}/s overall, "
        f"{TELEGRAM_PER_CHAT}/s per chat"
    )
    print(f"  enqueued in                    {t.enqueue_seconds:8.3f} s")
    print(f"  accepted                       {t.accepted:8,}   in {t.span:.2f} s from the first to the last")
    print(f"  messages per second            {t.rate:8.1f}")
    print(
        f"  429s received by the client    {t.answered_429:8,}   (over a limit {t.over_limit:,}, during a penalty "
        f"{t.during_penalty:,}; the limiter counted {t.limiter_429s:,})"
    )
    print(f"  sent during a penalty          {t.during_penalty:8,}")
    print(f"  lost notices                   {t.lost:8,}")
    print(f"  duplicated notices             {t.duplicated:8,}")
    print(f"  outbox at the end              {_counts(t.counts)}")
    print()


def report_email(e: EmailResult) -> None:
    print(
        f"E-mail: {e.count:,} invitations with a text/calendar REQUEST part; "
        f"aiosmtpd in its own process on 127.0.0.1, no TLS; best of {e.rounds} round(s)"
    )
    print(
        f"  built beforehand for the bare loop in {e.build_seconds:.3f} s by the library "
        f"(hand-built: {e.hand_build_seconds:.3f} s); enqueued in {e.enqueue_seconds:.3f} s"
    )
    print(f"  {'':<30}{'accepted':>9}{'seconds':>10}{'msg/s':>9}{'lost':>7}{'duplicated':>12}")
    rows = (
        ("bare aiosmtplib loop", e.bare),
        ("dispatcher + channel", e.dispatcher),
        ("  the same, hand-built MIME", e.hand_built),
    )
    for label, run in rows:
        print(f"  {label:<30}{run.accepted:>9,}{run.seconds:>10.3f}{run.rate:>9.1f}{run.lost:>7,}{run.duplicated:>12,}")
    print(f"  ratio dispatcher / bare       {e.ratio:.2f}")
    print(f"  hand-built / library, whole send  {e.hand_over_library:.2f}  (a hand-written part stays only at ≥ 2)")
    print(f"  outbox at the end             {_counts(e.counts)}")
    print()


def report_targets(t: TelegramResult | None, e: EmailResult | None) -> None:
    print("targets")
    rows: list[tuple[str, str, str]] = []
    if t is None:
        rows.append(("Telegram", "", "skipped"))
    else:
        rows += [
            (
                f"Telegram ≥ {TARGET_TELEGRAM_RATE:g} messages/s",
                f"{t.rate:.1f}/s",
                verdict(t.rate >= TARGET_TELEGRAM_RATE),
            ),
            ("Telegram: no 429", f"{t.answered_429:,}", verdict(t.answered_429 == 0 and t.limiter_429s == 0)),
            ("Telegram: nothing lost", f"{t.lost:,}", verdict(t.lost == 0 and not t.aborted)),
        ]
    if e is None:
        rows.append(("e-mail", "", "skipped"))
    else:
        ok = e.ratio >= TARGET_EMAIL_RATIO and not e.dispatcher.aborted and not e.bare.aborted
        rows.append((f"e-mail ≥ {TARGET_EMAIL_RATIO:g} of the bare loop", f"{e.ratio:.2f}", verdict(ok)))
        library_ok = e.hand_over_library < 2 and not e.hand_built.aborted
        rows.append(("e-mail: hand-built MIME < 2× library", f"{e.hand_over_library:.2f}", verdict(library_ok)))
    for label, figure, outcome in rows:
        print(f"  {label:<34}{figure:>10}  {outcome}")


async def run(telegram: int | None, email: int | None, compare_ptb: int, rounds: int = 2) -> int:
    """Run the phases asked for and print the report; return the exit code (always 0)."""
    print(f"Plenary fan-out benchmark (Python {sys.version.split()[0]}; SQLite, 127.0.0.1)")
    print()
    with tempfile.TemporaryDirectory(prefix="plenary-fanout-") as tmp:
        folder = Path(tmp)
        t = await telegram_phase(folder, telegram) if telegram else None
        if t is not None:
            report_telegram(t)
        if compare_ptb:
            print(f"For comparison: python-telegram-bot's AIORateLimiter (defaults) on {compare_ptb:,} notices")
            p = await telegram_phase(folder, compare_ptb, limiter="ptb")
            print(
                f"  messages per second {p.rate:8.1f}   429s received {p.answered_429:,} "
                f"(during a penalty {p.during_penalty:,})   lost {p.lost:,}   duplicated {p.duplicated:,}"
            )
            print()
        e = await email_phase(folder, email, rounds) if email else None
        if e is not None:
            report_email(e)
    report_targets(t, e)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fanout", description=DESCRIPTION)
    parser.add_argument(
        "--telegram", type=positive, default=1000, metavar="N", help="Telegram notices (default: %(default)s)"
    )
    parser.add_argument("--email", type=positive, default=1000, metavar="N", help="e-mails (default: %(default)s)")
    parser.add_argument(
        "--email-rounds", type=positive, default=2, metavar="N", help="e-mail runs of each kind, best kept (default 2)"
    )
    parser.add_argument("--skip-telegram", action="store_true", help="leave out the Telegram phase")
    parser.add_argument("--skip-email", action="store_true", help="leave out the e-mail phase")
    parser.add_argument(
        "--compare-ptb",
        type=int,
        default=300,
        metavar="N",
        help="also fan N notices out through python-telegram-bot's AIORateLimiter (0: skip; default %(default)s)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("telegram").setLevel(logging.CRITICAL)  # AIORateLimiter logs every 429 it lets through
    telegram: int | None = None if args.skip_telegram else args.telegram
    email: int | None = None if args.skip_email else args.email
    return asyncio.run(run(telegram, email, 0 if args.skip_telegram else args.compare_ptb, args.email_rounds))


if __name__ == "__main__":
    sys.exit(main())
