"""What the long-running loops report about themselves, so that readiness tells the truth about delivery."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class LoopState:
    """One loop's last success and failure (monotonic seconds)."""

    name: str
    last_ok: float | None = None
    last_failure: float | None = None
    error: str = ""
    failures: int = 0
    """Failures in a row since the last success."""
    stopped: bool = False
    expected_by: float | None = None
    """When the loop should next report success; later than that it is behind."""


class Loops:
    """The loops' health: a loop is down after a failure until it succeeds again, behind when a success is late."""

    def __init__(self, stall_after: float = 60.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.stall_after = stall_after
        self.monotonic = monotonic
        self.states: dict[str, LoopState] = {}

    def _state(self, name: str) -> LoopState:
        state = self.states.get(name)
        if state is None:
            state = self.states[name] = LoopState(name)
        return state

    def register(self, name: str) -> None:
        """Start following a loop: it must report success within ``stall_after`` seconds."""
        state = self._state(name)
        state.stopped = False
        state.expected_by = self.monotonic() + self.stall_after

    def forget(self, name: str) -> None:
        """Stop following a loop that was stopped on purpose (leader's work on a replica that stepped down)."""
        self.states.pop(name, None)

    def ok(self, name: str, next_within: float | None = None) -> None:
        """The loop did its work; it should report again within ``next_within`` seconds (default: stall_after)."""
        state = self._state(name)
        now = self.monotonic()
        if state.failures:
            log.info("%s recovered after %d failure(s)", name, state.failures)
        state.last_ok, state.failures, state.error = now, 0, ""
        state.expected_by = now + (self.stall_after if next_within is None else next_within + self.stall_after)

    def failed(self, name: str, error: BaseException | str) -> int:
        """The loop failed; return how many times in a row (for its backoff)."""
        state = self._state(name)
        state.last_failure = self.monotonic()
        state.failures += 1
        state.error = error if isinstance(error, str) else f"{type(error).__name__}: {error}"[:300]
        return state.failures

    def stopped(self, name: str, error: BaseException | None = None) -> None:
        """The loop ended for good (a bug): it is down until the service restarts."""
        state = self._state(name)
        state.stopped = True
        if error is not None:
            state.error = f"{type(error).__name__}: {error}"[:300]

    def problems(self) -> dict[str, str]:
        """Every loop that is down or behind, with the reason in words."""
        now = self.monotonic()
        out: dict[str, str] = {}
        for name, state in self.states.items():
            if state.stopped:
                out[name] = f"stopped: {state.error or 'ended'}"
            elif state.failures:
                out[name] = f"failing ({state.failures} in a row): {state.error}"
            elif state.expected_by is not None and now > state.expected_by:
                out[name] = f"behind: no progress for {now - (state.last_ok or state.expected_by):.0f} s"
        return out


def backoff(failures: int, first: float = 0.5, cap: float = 15.0) -> float:
    """Seconds to wait after ``failures`` failures in a row: 0.5, 1, 2, 4 … up to ``cap``."""
    return float(min(first * 2 ** max(failures - 1, 0), cap))


async def sleep_unless(event: asyncio.Event, seconds: float) -> bool:
    """Sleep ``seconds`` or until ``event`` is set; return whether it was set."""
    try:
        await asyncio.wait_for(event.wait(), timeout=seconds)
    except TimeoutError:
        return False
    return True
