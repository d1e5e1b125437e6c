"""The deployment in force: the YAML's, with the chat's substitutions and delegates' choices laid over it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from domain.deployment import Deployment
from domain.ports import Preferences, Substitutions
from domain.roster import effective


class Roster:
    """Lays the database's substitutions and preferences over the configuration and has it planned again.

    ``apply`` is the composition root's way of putting a deployment in force (plan, queue, publish): a
    substitute named in the chat is then invited like anyone the YAML invites.
    """

    def __init__(
        self,
        substitutions: Substitutions,
        preferences: Preferences,
        apply: Callable[[Deployment], Awaitable[object]] | None = None,
    ) -> None:
        self.substitutions, self.preferences, self.apply = substitutions, preferences, apply
        self.base: Deployment | None = None
        """The configuration as the YAML says (the last one that was accepted)."""
        self._lock = asyncio.Lock()

    async def effective(self, base: Deployment) -> Deployment:
        """The deployment to put in force for a configuration read from the YAML."""
        self.base = base
        return effective(base, await self.substitutions.for_session(), await self.preferences.all())

    async def refresh(self) -> None:
        """Plan again after a change made in the chat (one at a time: the last change wins, none is lost)."""
        async with self._lock:
            if self.base is not None and self.apply is not None:
                await self.apply(await self.effective(self.base))
