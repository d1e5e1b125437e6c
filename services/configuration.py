"""The configuration in force: the last one that validated and planned, and whether a newer one was refused."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from domain.deployment import Deployment
from domain.events import ConfigurationApplied
from domain.ports import EventSink

log = logging.getLogger(__name__)


class Configuration:
    """Holds the deployment every use case works with; a refused edit leaves it in force and marks it stale."""

    def __init__(self, events: EventSink) -> None:
        self.events = events
        self.current: Deployment | None = None
        self.refused: list[str] = []
        """Why the newest configuration on disk was not applied (empty when it was)."""

    def get(self) -> Deployment | None:
        """The deployment in force, if any."""
        return self.current

    def require(self) -> Deployment:
        """The deployment in force; the service never runs without one."""
        if self.current is None:
            raise RuntimeError("no configuration is in force")
        return self.current

    def put(self, deployment: Deployment) -> None:
        """Put a configuration that plans in force (before its notices are queued, so they render from it)."""
        self.current = deployment
        self.refused = []

    async def accept(self, deployment: Deployment) -> None:
        """Put a planned configuration in force and tell every subscriber (after its notices are queued)."""
        self.put(deployment)
        await self.events.publish(ConfigurationApplied(deployment.commission.id))

    def refuse(self, problems: Sequence[str]) -> None:
        """Record that a newer configuration was refused: the one in force stays, and is stale."""
        self.refused = list(problems)
        for problem in problems:
            log.error("  %s", problem)

    @property
    def stale(self) -> bool:
        """Whether the configuration on disk differs from the one in force because it was refused."""
        return bool(self.refused)
