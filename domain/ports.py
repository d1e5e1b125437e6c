"""What the rules need from outside, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from domain.delivery import Delivery


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


class Channel(Protocol):
    """A way to reach delegates (Telegram, e-mail); raises ``DeliveryError`` when it cannot deliver."""

    name: str

    async def start(self) -> None:
        """Open connections and sessions."""
        ...

    async def close(self) -> None:
        """Close connections; in-flight sends are finished first."""
        ...

    async def send(self, delivery: Delivery) -> None:
        """Deliver one message, or raise ``DeliveryError``."""
        ...
