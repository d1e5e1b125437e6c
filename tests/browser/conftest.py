"""The browser the page tests drive: Debian's Chromium through Playwright's ``executable_path`` (no download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_bot_api import FakeBotApi

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".plenary" / "screenshots"
"""Where the browser tests leave their screenshots (git ignores ``.plenary/``)."""


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium from Debian's package: missing, the test skips outside CI and fails under CI."""
    path = shutil.which("chromium")
    if path is None:
        reason = "Debian's chromium is not installed (python3 scripts/dev.py test installs it, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # As root (a container, CI) Chromium's sandbox cannot start: run it without, as Debian's package allows.
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        launched = await playwright.chromium.launch(executable_path=path, headless=True, args=args)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with smtp_server() as server:
        yield server


@pytest.fixture
async def telegram() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target)
    return target
