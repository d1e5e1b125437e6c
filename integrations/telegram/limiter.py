"""A rate limiter for python-telegram-bot that keeps within Telegram's limits and honours retry_after.

PTB's ``AIORateLimiter`` has no per-chat limit, retries nothing by default, and in 22.8 ends a 429 pause
early (upstream issue 5338). This one paces every request: about 30 messages a second overall, one a
second per private chat, 20 a minute per group; and after a 429 it holds *every* request until
``retry_after`` has passed, then retries the one that was refused.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import Any

from telegram.error import RetryAfter
from telegram.ext import BaseRateLimiter

log = logging.getLogger(__name__)


class _Pacer:
    """Spaces events ``interval`` apart (a smooth rate, no bursts), and at most ``per_window`` in any
    ``window`` seconds counted from the actual send times."""

    def __init__(self, interval: float, per_window: int | None = None, window: float = 1.0) -> None:
        self.interval = interval
        self.per_window = per_window
        self.window = window
        self.next_at = 0.0
        self.sent: deque[float] = deque(maxlen=per_window or 1)
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        async with self.lock:
            target = self.next_at
            if self.per_window and len(self.sent) == self.per_window:
                target = max(target, self.sent[0] + self.window)
            now = time.monotonic()
            if target > now:
                await asyncio.sleep(target - now)
                now = time.monotonic()
            # A wake-up that is a little late keeps the schedule, so that lateness does not add up.
            self.next_at = (target if now - target < self.interval else now) + self.interval
            self.sent.append(now)


def _overall(per_second: float) -> _Pacer:
    """Smoothly paced a little above ``per_second``, capped at it in any window a little over a second: the cap
    holds even when wake-ups bunch, and the margin (with the pacing, 30 messages span at least 1.038 s) absorbs
    network jitter. Below one a second, one message in each window of ``1 / per_second`` seconds."""
    if per_second >= 1:
        return _Pacer(1.0 / (per_second + 1), per_window=int(per_second), window=1.005)
    return _Pacer(1.0 / per_second)


class PacingRateLimiter(BaseRateLimiter[int]):
    """Overall and per-chat pacing, and a global pause after a 429 (``rate_limit_args`` = max retries)."""

    def __init__(
        self,
        overall_per_second: float = 29.0,
        chat_per_second: float = 1.0,
        group_per_minute: float = 20.0,
        max_retries: int = 3,
    ) -> None:
        self.overall_per_second = overall_per_second
        self.overall = _overall(overall_per_second)
        self.chat_interval = 1.0 / chat_per_second
        self.group_interval = 60.0 / group_per_minute
        self.max_retries = max_retries
        self._chats: dict[object, _Pacer] = {}
        self._resume_at = 0.0
        self.retries_after_429 = 0

    def share(self, processes: int) -> None:
        """The bot's overall budget is shared by ``processes`` processes sending at once (replicas): this one
        keeps to its part of it. Per-chat pacing is unchanged (one chat's messages go from one process)."""
        self.overall = _overall(self.overall_per_second / max(1, processes))

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to tear down."""

    def _chat(self, chat_id: object) -> _Pacer:
        pacer = self._chats.get(chat_id)
        if pacer is None:
            is_group = str(chat_id).startswith("-")
            pacer = self._chats[chat_id] = _Pacer(self.group_interval if is_group else self.chat_interval)
        return pacer

    async def _paused(self) -> None:
        # The pause may be extended by another 429 while we sleep, hence the loop.
        while (delay := self._resume_at - time.monotonic()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(delay)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """Wait for the chat's and the bot's turn, send, and after a 429 wait and send again."""
        retries = self.max_retries if rate_limit_args is None else rate_limit_args
        chat_id = data.get("chat_id")
        attempt = 0
        while True:
            await self._paused()
            if chat_id is not None:
                await self._chat(chat_id).wait()
            await self.overall.wait()
            await self._paused()
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                delay = retry_seconds(exc)
                self._resume_at = max(self._resume_at, time.monotonic() + delay + 0.1)
                log.warning("Telegram asked to wait %.0f s (429); every request waits", delay)
                attempt += 1
                self.retries_after_429 += 1
                if attempt > retries:
                    raise


def retry_seconds(exc: RetryAfter) -> float:
    """The wait a 429 asks for, in seconds (PTB gives an int or a timedelta)."""
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
