"""The running service under test and the peers it talks to: real SMTP, the Bot API double, a real database."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from app.clock import SimulatedClock
from app.service import Service
from config.settings import Settings
from domain.records import TelegramBinding
from scheduler.dispatcher import RetryPolicy
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.doubles.smtp import Received, SmtpServer
from tests.doubles.telegram_api import DEFAULT_TOKEN, FakeTelegramApi

XX_START = datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
BOUND = {"kgz-asanov": 5001, "rus-head": 5002}


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

    async def settle(self, idle: float = 0.3, limit: float = 30.0) -> None:
        """Wait until the outbox holds nothing pending or in flight (twice in a row, ``idle`` apart)."""
        calm = 0
        async with asyncio.timeout(limit):
            while calm < 2:
                await asyncio.sleep(idle)
                counts = await self.store.outbox.counts()
                calm = calm + 1 if not counts.get("pending") and not counts.get("claimed") else 0


async def start(
    database_url: str,
    config_dir: Path,
    smtp: SmtpServer,
    telegram: FakeTelegramApi,
    tmp_path: Path,
    at: datetime,
    speed: float = 1.0,
    service_url: str | None = None,
    http_port: int = 0,
    **settings: object,
) -> Harness:
    """Start the service on the example; ``service_url`` is the database URL the service uses (a proxy);
    ``http_port`` a port of 127.0.0.1 to serve on, the links in the e-mails pointing there (0: any free one);
    ``settings`` any other of the service's settings."""
    await upgrade(database_url)
    engine = create_engine(database_url)
    store = Store(engine)
    for delegate, chat in BOUND.items():
        await store.bindings.bind(
            TelegramBinding(delegate_id=delegate, telegram_user_id=chat, chat_id=chat, bound_at=datetime.now(UTC))
        )
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=service_url or database_url,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_tls="none",
        telegram_bot_token=DEFAULT_TOKEN,
        telegram_api_url=telegram.base_url,
        worker_id="test-worker",
        http_port=http_port,
        http_host="127.0.0.1",
        public_url=f"http://127.0.0.1:{http_port}" if http_port else None,
        **settings,  # type: ignore[arg-type]
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
