"""Background tasks the service owns: kept by reference, their failures logged and surfaced, cancelled on stop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from services.supervision import Loops

log = logging.getLogger(__name__)


class TaskRegistry:
    """Every long-running task of the service; one that ends by itself is reported as a stopped loop."""

    def __init__(self, loops: Loops) -> None:
        self.loops = loops
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._stopping = False

    def spawn(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` in the background under ``name``."""
        task = asyncio.create_task(coro, name=name)
        self._tasks[name] = task
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[None]) -> None:
        name = task.get_name()
        if self._tasks.get(name) is task:
            del self._tasks[name]
        if task.cancelled() or self._stopping:
            return
        error = task.exception()
        if error is not None:
            log.error("%s stopped with an error", name, exc_info=error)
        else:
            log.error("%s ended unexpectedly", name)
        self.loops.stopped(name, error)

    def cancel(self, name: str) -> None:
        """Stop one task on purpose (it is not reported as a stopped loop), and stop following its loop."""
        task = self._tasks.pop(name, None)
        if task is not None:
            task.cancel()
        self.loops.forget(name)

    def stopping(self) -> None:
        """The service is stopping: tasks that end now end on purpose."""
        self._stopping = True

    async def stop(self, grace: float = 5.0) -> None:
        """Cancel every task (after ``grace`` seconds for those already finishing) and wait for them."""
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
