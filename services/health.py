"""What the HTTP server reports about the running service, read from its parts."""

from __future__ import annotations

from collections.abc import Callable

from domain.deployment import Deployment
from domain.ports import Clock
from scheduler.service import Timeline
from storage.repositories import Store
from web.app import OutboxStats


class ServiceHealth:
    """Implements the web package's ``Health`` over the store, the timeline and the configuration."""

    def __init__(self, store: Store, timeline: Timeline, clock: Clock, deployment: Callable[[], Deployment | None]):
        self.store, self.timeline, self.clock, self.deployment = store, timeline, clock, deployment

    async def database_ok(self) -> bool:
        """Whether the database answers."""
        return await self.store.ping()

    def configuration_loaded(self) -> bool:
        """Whether a valid configuration is in force."""
        return self.deployment() is not None

    def scheduler_running(self) -> bool:
        """Whether the timer runs."""
        return bool(self.timeline.scheduler.running)

    def scheduled_jobs(self) -> int:
        """How many timer jobs are set."""
        return len(self.timeline.scheduler.get_jobs()) if self.timeline.scheduler.running else 0

    async def outbox_stats(self) -> OutboxStats:
        """The outbox by kind, channel and status, its depth and its oldest due notice's age."""
        notices, depth, oldest = await self.store.outbox_breakdown(self.clock.now())
        return OutboxStats(notices=notices, depth=depth, oldest_due_seconds=oldest)
