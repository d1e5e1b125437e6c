"""What the HTTP server reports about the running service: database, configuration, loops, outbox."""

from __future__ import annotations

from collections.abc import Callable

from domain.outbox import OutboxStats
from domain.ports import Clock, Database, Outbox
from services.configuration import Configuration
from services.supervision import Loops


class ServiceHealth:
    """Implements ``domain.ports.Health`` over the database, the configuration in force and the loops."""

    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        clock: Clock,
        configuration: Configuration,
        loops: Loops,
        scheduled_jobs: Callable[[], int] = lambda: 0,
    ) -> None:
        self.database, self.outbox, self.clock = database, outbox, clock
        self.configuration, self.loops, self._jobs = configuration, loops, scheduled_jobs

    async def database_ok(self) -> bool:
        """Whether the database answers."""
        return await self.database.ping()

    def checks(self) -> dict[str, bool]:
        """Configuration in force and current; every loop up and on time."""
        problems = self.loops.problems()
        checks = {
            "configuration": self.configuration.current is not None and not self.configuration.stale,
        }
        for name in sorted(self.loops.states):
            checks[name] = name not in problems
        return checks

    def details(self) -> dict[str, str]:
        """Why each failing check fails."""
        out = dict(self.loops.problems())
        if self.configuration.current is None:
            out["configuration"] = "no configuration is in force"
        elif self.configuration.stale:
            first = self.configuration.refused[0]
            more = len(self.configuration.refused) - 1
            out["configuration"] = f"stale: the newest configuration was refused: {first}" + (
                f" (and {more} more)" if more else ""
            )
        return out

    def scheduled_jobs(self) -> int:
        """How many timer jobs are set."""
        return self._jobs()

    async def outbox_stats(self) -> OutboxStats:
        """The outbox by kind, channel and status, its depth and its oldest due notice's age."""
        notices, depth, oldest = await self.outbox.breakdown(self.clock.now())
        return OutboxStats(notices=notices, depth=depth, oldest_due_seconds=oldest)
