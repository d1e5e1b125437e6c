"""What the rules need from outside, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """Tells the time; the service's clock can be simulated and sped up."""

    def now(self) -> datetime:
        """Return the current instant, UTC-aware."""
        ...


class DeliveryLedger(Protocol):
    """The record of which notices were already delivered (or settled)."""

    async def settled_keys(self) -> Collection[str]:
        """Return the idempotency keys of every notice that needs no more planning."""
        ...
