"""Hand-written doubles of the delivery ports: a channel that records and fails on cue, a composer, a clock, an
event sink that records."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from domain.delivery import Delivery, DeliveryError, Message
from domain.events import Event
from domain.outbox import ClaimedItem


@dataclass
class FakeChannel:
    """A channel that delivers to a list, or raises the errors it was given, in order."""

    name: str
    failures: deque[DeliveryError] = field(default_factory=deque)
    sent: list[Delivery] = field(default_factory=list)

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Record the delivery, or raise the next scripted failure."""
        if self.failures:
            raise self.failures.popleft()
        self.sent.append(delivery)


@dataclass
class FakeComposer:
    """Renders every notice as a one-line message; ``unreachable`` channels have no address."""

    unreachable: set[str] = field(default_factory=set)

    def companion(self, item: object, channel: str, now: object) -> None:
        """No e-mail copies."""
        return None

    async def compose(self, item: ClaimedItem, channel: str) -> Delivery | None:
        """A delivery for the channel, or None when the delegate cannot be reached there."""
        if channel in self.unreachable:
            return None
        message = Message(item.key, item.key, f"<p>{item.key}</p>", item.key, "en")
        return Delivery(item.key, item.kind, f"{channel}:{item.delegate_id}", item.delegate_id, message)


@dataclass
class FakeClock:
    """A clock that moves only when told."""

    current: datetime = field(default_factory=lambda: datetime(2022, 10, 1, tzinfo=UTC))

    def now(self) -> datetime:
        """The current instant."""
        return self.current

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds until ``moment`` (the clock does not move by itself: 0)."""
        return 0.0

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.current += timedelta(seconds=seconds)


class RecordingEvents:
    """Implements ``EventSink``: keeps every event published, for a test to read."""

    def __init__(self) -> None:
        self.published: list[Event] = []

    async def publish(self, event: Event) -> None:
        """Keep the event."""
        self.published.append(event)

    async def publish_many(self, events: Sequence[Event]) -> None:
        """Keep the events, in order."""
        self.published.extend(events)

    @property
    def origin(self) -> str | None:
        """No change log: the events stay here."""
        return None

    async def logged(self, events: Sequence[Event]) -> None:
        """Keep the events, in order."""
        self.published.extend(events)
