"""Fixtures of the end-to-end tests: the SMTP server, the Bot API double, a copy of the example configuration."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_bot_api import FakeBotApi


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    # The Bot API with updates too: the service's bot long-polls it.
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target)
    return target
