"""Periodic tidying that no delegate sees: forgetting Telegram updates too old to be delivered again."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from domain.ports import Clock, Updates

log = logging.getLogger(__name__)

KEEP_UPDATES = timedelta(days=2)
"""Telegram keeps an undelivered update for 24 hours: one older than this cannot come back as a replay."""


async def prune_updates(
    updates: Updates, clock: Clock, *, every: float = 3600.0, keep: timedelta = KEEP_UPDATES
) -> None:
    """Forget the handled updates older than ``keep``, now and every ``every`` seconds, until cancelled."""
    while True:
        try:
            removed = await updates.prune(clock.now() - keep)
        except Exception as exc:  # the database: try again at the next round
            log.warning("could not forget old Telegram updates (%s); trying again later", type(exc).__name__)
        else:
            if removed:
                log.info("forgot %d Telegram updates older than %s", removed, keep)
        await asyncio.sleep(every)
