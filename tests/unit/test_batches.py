"""Group commit (``services.batches.GroupCommit``): what arrives together is written together."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.batches import GroupCommit


class Writer:
    """Writes batches of numbers, answering each with its double; fails a batch holding a negative one."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []

    async def __call__(self, batch: Sequence[int]) -> list[int]:
        self.batches.append(list(batch))
        await asyncio.sleep(0)  # as a write gives the loop a turn
        if any(n < 0 for n in batch):
            raise ValueError("negative")
        return [n * 2 for n in batch]


async def arriving(together: GroupCommit[int, int], n: int, turns: int) -> int:
    """A request that reaches the group commit after ``turns`` turns of the event loop (as a webhook whose bytes
    were read a little later than another's)."""
    for _ in range(turns):
        await asyncio.sleep(0)
    return await together(n)


async def test_a_lone_request_is_written_at_once_and_each_caller_gets_its_own_result() -> None:
    writer = Writer()
    assert await GroupCommit(writer)(3) == 6
    assert await asyncio.gather(*(GroupCommit(writer, linger=1.0)(n) for n in (1, 2))) == [2, 4]
    assert writer.batches == [[3], [1], [2]]


async def test_without_a_linger_requests_a_turn_apart_go_in_batches_of_their_own() -> None:
    writer = Writer()
    together = GroupCommit(writer)
    results = await asyncio.gather(*(arriving(together, n, turns=n) for n in range(6)))
    assert results == [0, 2, 4, 6, 8, 10]
    assert len(writer.batches) > 2


async def test_a_linger_lets_the_requests_on_their_way_join_the_batch() -> None:
    writer = Writer()
    together = GroupCommit(writer, linger=1.0)
    loop = asyncio.get_running_loop()
    began = loop.time()
    results = await asyncio.gather(*(arriving(together, n, turns=n) for n in range(6)))
    assert results == [0, 2, 4, 6, 8, 10]
    assert writer.batches == [[0, 1, 2, 3, 4, 5]]
    assert loop.time() - began < 0.5, "nothing more was coming: it did not wait out the linger"


async def test_a_linger_ends_however_many_keep_coming() -> None:
    writer = Writer()
    together = GroupCommit(writer, linger=0.01)
    stop = asyncio.Event()

    async def stream() -> None:
        n = 0
        while not stop.is_set():
            asyncio.get_running_loop().create_task(together(n))
            n += 1
            await asyncio.sleep(0)

    streaming = asyncio.create_task(stream())
    await asyncio.sleep(0.05)
    stop.set()
    await streaming
    await asyncio.sleep(0.05)
    assert len(writer.batches) >= 3  # written every linger, not held until the stream stopped


async def test_a_failed_batch_fails_its_callers_only() -> None:
    writer = Writer()
    together = GroupCommit(writer, linger=1.0)
    outcomes = await asyncio.gather(together(-1), together(1), return_exceptions=True)
    assert [type(o) for o in outcomes] == [ValueError, ValueError]
    assert await together(2) == 4
    with pytest.raises(ValueError, match="negative"):
        await together(-2)
