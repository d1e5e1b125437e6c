"""The running service end to end: real SMTP (aiosmtpd), the Bot API double, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import icalendar
import pytest

from app.clock import SimulatedClock
from app.service import Service
from config.settings import Settings
from domain.records import TelegramBinding
from scheduler.dispatcher import RetryPolicy
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.conftest import EXAMPLES
from tests.doubles.smtp import Received, SmtpServer, smtp_server
from tests.doubles.telegram_api import DEFAULT_TOKEN, FakeTelegramApi

XX_START = datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
BOUND = {"kgz-asanov": 5001, "rus-head": 5002}


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramApi]:
    async with FakeTelegramApi() as api:
        yield api


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target)
    return target


@dataclass
class Harness:
    """A service under test and the peers it talks to."""

    service: Service
    clock: SimulatedClock
    smtp: SmtpServer
    telegram: FakeTelegramApi
    store: Store

    def emails(self, kind_word: str | None = None) -> list[Received]:
        return [r for r in self.smtp.received if kind_word is None or kind_word in r.message["X-Plenary-Kind"]]

    async def until(self, moment: datetime) -> None:
        """Wait until the service's clock shows ``moment``."""
        await asyncio.sleep(self.clock.real_seconds_until(moment))

    async def settle(self, idle: float = 0.5, limit: float = 20.0) -> None:
        """Wait until nothing has been delivered for ``idle`` seconds."""
        last = -1
        async with asyncio.timeout(limit):
            while True:
                count = len(self.smtp.received) + len(self.telegram.messages)
                if count == last:
                    return
                last = count
                await asyncio.sleep(idle)


async def start(
    database_url: str,
    config_dir: Path,
    smtp: SmtpServer,
    telegram: FakeTelegramApi,
    tmp_path: Path,
    at: datetime,
    speed: float = 1.0,
) -> Harness:
    await upgrade(database_url)
    engine = create_engine(database_url)
    store = Store(engine)
    for delegate, chat in BOUND.items():
        await store.bind_telegram(
            TelegramBinding(delegate_id=delegate, telegram_user_id=chat, chat_id=chat, bound_at=datetime.now(UTC))
        )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_tls="none",
        telegram_bot_token=DEFAULT_TOKEN,
        telegram_api_url=telegram.base_url,
        worker_id="test-worker",
    )
    clock = SimulatedClock(at, speed)
    service = Service(
        settings=settings,
        paths=[str(config_dir)],
        clock=clock,
        environ={},
        retry=RetryPolicy(first_delay=20, max_delay=120, max_attempts=10),
    )
    await service.start()
    return Harness(service, clock, smtp, telegram, store)


def kinds_by_recipient(received: list[Received], session: str = "icmec-xx") -> Counter[tuple[str, str]]:
    return Counter(
        (r.recipients[0], r.message["X-Plenary-Kind"]) for r in received if r.message["X-Plenary-Session"] == session
    )


async def test_on_time_delivery_on_a_compressed_clock_with_catch_up(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    # Start on 12 October, 10:30 UTC: the XX invitation (due 28 September) is late but useful and goes at
    # once; the agenda falls due at 11:00 UTC, half a simulated hour (three real seconds) later.
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 12, 10, 30, tzinfo=UTC), 600)
    try:
        await h.until(datetime(2022, 10, 12, 11, 30, tzinfo=UTC))
        await h.settle()
    finally:
        await h.service.stop()
    deployment = h.service.deployment
    assert deployment is not None
    invited = [deployment.delegates[d] for d in deployment.invitations["icmec-xx"]]
    by = kinds_by_recipient(h.emails())
    for delegate in invited:
        if delegate.id in BOUND:
            continue
        assert by[(delegate.email, "invitation")] == 1, delegate.id
        assert by[(delegate.email, "agenda")] == 1, delegate.id
    agenda_times = [
        h.clock.at_monotonic(r.at) for r in h.emails("agenda") if "icmec-xx" in r.message["X-Plenary-Session"]
    ]
    assert len(agenda_times) == len([d for d in invited if d.id not in BOUND])
    due = datetime(2022, 10, 12, 11, 0, tzinfo=UTC)
    assert all(due <= t <= due + timedelta(minutes=20) for t in agenda_times), agenda_times
    # A delegate who bound Telegram gets each notice there, once, instead of by e-mail.
    asanov_telegram = [m for m in telegram.messages if m.chat_id == BOUND["kgz-asanov"]]
    assert len(asanov_telegram) == 2  # the XX invitation and its agenda
    assert ("t.asanov@kgz.example.org", "invitation") not in by
