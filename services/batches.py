"""Group commit: the requests that arrive while one batch is being written go together in the next.

A lone request waits for nothing: it starts a batch of one at once. Under a burst (bot presses by the
hundred a second) each batch is one transaction for all the requests that queued behind the last, so the
database's cost per request (on SQLite, a turn of its one writer and a thread hop per statement) is shared.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Result = TypeVar("Result")


class GroupCommit(Generic[Request, Result]):
    """Hands queued requests to ``write`` together; each caller gets its own result, or the batch's exception."""

    def __init__(self, write: Callable[[Sequence[Request]], Awaitable[Sequence[Result]]], linger: float = 0.0) -> None:
        self._write = write
        self.linger = linger
        """Seconds a batch may wait for requests still on their way (see ``_gather``)."""
        self._waiting: list[tuple[Request, asyncio.Future[Result]]] = []
        self._writer: asyncio.Task[None] | None = None

    async def __call__(self, request: Request) -> Result:
        """Queue the request and wait for its batch to be written."""
        done: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        while self._waiting:
            await self._gather()
            batch, self._waiting = self._waiting, []
            try:
                results = await self._write([request for request, _ in batch])
            except Exception as exc:  # the batch was not written: every request in it hears why
                for _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
                continue
            except BaseException:  # cancelled (shutting down): so are the requests waiting on it
                for _, done in (*batch, *self._waiting):
                    done.cancel()
                raise
            for (_, done), result in zip(batch, results, strict=True):
                if not done.done():  # its caller gave up waiting (cancelled): nothing to tell
                    done.set_result(result)

    async def _gather(self) -> None:
        """With a ``linger``, let the requests already on their way join the batch: turn the event loop while the
        queue still grows (two turns without a new request end it), for at most ``linger`` seconds."""
        if self.linger <= 0:
            return
        loop = asyncio.get_running_loop()
        deadline, size, still = loop.time() + self.linger, len(self._waiting), 0
        while still < 2 and loop.time() < deadline:
            await asyncio.sleep(0)
            still = still + 1 if len(self._waiting) == size else 0
            size = len(self._waiting)
