"""A leader that cannot renew its lease steps down before the lease ends, whether the database fails at once or
does not answer at all; a campaign's answer counts from when it was asked, not from when it came."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from domain.leadership import LeaseState, Term
from services.leadership import Leadership

NOW = datetime(2030, 1, 1, tzinfo=UTC)


class Flaky:
    """The lease port: grants a lease of ``seconds`` once, then fails (or hangs) every renewal."""

    def __init__(self, seconds: float, hang: bool = False) -> None:
        self.seconds, self.hang, self.asked = seconds, hang, 0

    async def campaign(self, holder: str, seconds: float) -> LeaseState:
        self.asked += 1
        if self.asked == 1:
            return LeaseState(holder, 7, NOW + timedelta(seconds=self.seconds), NOW, mine=True)
        if self.hang:
            await asyncio.Event().wait()
        raise ConnectionError("the database is gone")

    async def resign(self, holder: str, term: int) -> None:
        raise AssertionError("not asked")

    async def fence(self, holder: str, term: int) -> None:
        """Allowed."""

    async def terms(self) -> list[Term]:
        return []


async def stepped_down_after(leases: Flaky) -> float:
    leadership = Leadership(leases, "me", lease=1.0, every=0.1, margin=0.3)
    told: list[int | None] = []

    async def heard(term: int | None) -> None:
        told.append(term)

    leadership.follow(heard)
    started = time.monotonic()
    runner = asyncio.create_task(leadership.run())
    try:
        while told != [7, None]:
            await asyncio.sleep(0.01)
            assert time.monotonic() - started < 3, told
        return time.monotonic() - started
    finally:
        runner.cancel()


async def test_a_leader_whose_renewals_fail_steps_down_before_its_lease_ends() -> None:
    took = await stepped_down_after(Flaky(1.0))
    assert 0.6 <= took < 1.0  # the lease's second, less the margin


async def test_a_leader_whose_renewal_never_answers_steps_down_in_time_all_the_same() -> None:
    took = await stepped_down_after(Flaky(1.0, hang=True))
    assert 0.6 <= took < 1.0


async def test_a_slow_answer_shortens_the_lease_it_grants() -> None:
    class Slow(Flaky):
        async def campaign(self, holder: str, seconds: float) -> LeaseState:
            await asyncio.sleep(0.4)  # the lease began when the database answered, 0.4 s after we asked
            return await super().campaign(holder, seconds)

    took = await stepped_down_after(Slow(1.0))
    assert took < 1.0  # counted from the asking: 0.4 + 1.0 - 0.3, never 0.4 later
