"""Small helpers the benchmark scripts share."""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import sys
import tempfile
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from storage.repositories import Store


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def verdict(ok: bool) -> str:
    """PASS or FAIL, for a target beside its figure."""
    return "PASS" if ok else "FAIL"


async def in_store(
    prefix: str, database: str | None, work: Callable[[Store, str], Awaitable[None]], verbose: Sequence[str] = ()
) -> int:
    """Run ``work`` over a migrated store (a temporary SQLite, or the empty ``database``), then print what was
    logged during it at WARNING (and at INFO for the ``verbose`` loggers), by message, the first of each in full."""
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    logged = logging.handlers.BufferingHandler(capacity=sys.maxsize)  # kept, never flushed: counted at the end
    logging.getLogger().addHandler(logged)
    logging.getLogger().setLevel(logging.WARNING)
    for name in verbose:
        logging.getLogger(name).setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        url = database or f"sqlite+aiosqlite:///{Path(tmp) / 'plenary.db'}"
        await upgrade(url)
        store = Store(create_engine(url))
        try:
            await work(store, url)
        finally:
            await store.close()
    logs = Counter(f"{r.levelname} {r.name}: {r.msg}" for r in logged.buffer)
    first = {f"{r.levelname} {r.name}: {r.msg}": r.getMessage() for r in reversed(logged.buffer)}
    if logs:
        print("\nlogged during the run, by message (the first of each in full)")
    for key, n in logs.most_common(8):
        print(f"  {n:>7,}  {key[:110]}\n           {first[key][:300]}")
    return 0
