"""Clocks: the real one, and a simulated one that starts at a given instant and runs N times faster."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """Return the current instant (UTC)."""
        return datetime.now(UTC)

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds until ``moment``."""
        return max((moment - self.now()).total_seconds(), 0.0)


class SimulatedClock:
    """A clock that shows ``start`` when created and advances ``speed`` times faster than real time."""

    def __init__(self, start: datetime, speed: float = 1.0) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("the clock speed must be positive")
        self.start = start.astimezone(UTC)
        self.speed = speed
        self._origin = time.monotonic()

    def now(self) -> datetime:
        """Return the simulated instant."""
        return self.start + timedelta(seconds=(time.monotonic() - self._origin) * self.speed)

    def at_monotonic(self, monotonic: float) -> datetime:
        """The simulated instant at a reading of ``time.monotonic()``."""
        return self.start + timedelta(seconds=(monotonic - self._origin) * self.speed)

    def real_seconds_until(self, moment: datetime) -> float:
        """Real seconds until the simulated clock shows ``moment``."""
        return max((moment - self.now()).total_seconds() / self.speed, 0.0)
