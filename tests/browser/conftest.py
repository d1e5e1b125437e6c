"""The browser the page tests drive: Debian's Chromium through Playwright's ``executable_path`` (no download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import config_dir, smtp, telegram  # the running service's peers, as in tests/e2e

__all__ = ["browser", "config_dir", "smtp", "telegram"]

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
