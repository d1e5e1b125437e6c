"""What the rules need from outside, as protocols the adapters implement."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from domain.delivery import Delivery
from domain.ledger import Ledger, SessionRecord
from domain.outbox import ClaimedItem, OutboxItem


class Clock(Protocol):
    """Tells the time; the service's clock can be simulated and sped up."""

    def now(self) -> datetime:
        """Return the current instant, UTC-aware."""
        ...

    def real_seconds_until(self, moment: datetime) -> float:
        """How many real seconds until this clock shows ``moment`` (0 when it has passed)."""
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


class Outbox(Protocol):
    """The durable queue of notices; every state change is conditional on who holds the row."""

    async def ledger(self) -> Ledger:
        """Return what planning needs to know about past deliveries."""
        ...

    async def enqueue(self, entries: Iterable[OutboxItem], now: datetime) -> int:
        """Add notices; a key already present is left alone. Return how many were new."""
        ...

    async def claim_due(self, now: datetime, worker: str, lease_seconds: float, limit: int) -> list[ClaimedItem]:
        """Take up to ``limit`` due rows (or rows whose lease ran out) for this worker."""
        ...

    async def mark_sent(self, item: ClaimedItem, channel: str, now: datetime, note: str | None = None) -> bool:
        """Record a delivery; False when the row is no longer this worker's."""
        ...

    async def mark_sent_many(self, items: Sequence[ClaimedItem], channel: str, now: datetime) -> int:
        """Record many deliveries through one channel at once; return how many were still this worker's."""
        ...

    async def mark_retry(
        self, item: ClaimedItem, error: str, next_attempt_at: datetime, channel_index: int, now: datetime
    ) -> bool:
        """Put the row back for a later attempt (possibly on another channel)."""
        ...

    async def mark_failed(self, item: ClaimedItem, error: str, now: datetime) -> bool:
        """Record that the notice can never be delivered."""
        ...

    async def release(self, worker: str, now: datetime) -> int:
        """Give back every row this worker holds (on shutdown); return how many."""
        ...

    async def save_session_records(self, records: Mapping[str, SessionRecord]) -> None:
        """Remember what was announced about these sessions."""
        ...


class Composer(Protocol):
    """Turns an outbox row into a delivery for one channel, with the current configuration."""

    async def compose(self, item: ClaimedItem, channel: str) -> Delivery | None:
        """Render the notice for this channel; None when the delegate cannot be reached there."""
        ...
