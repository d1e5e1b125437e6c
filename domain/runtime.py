"""Helpers for bulk work over the model that are about the interpreter, not the domain."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many short-lived, acyclic objects.

    Loading a large configuration or planning a hundred thousand notices allocates objects without
    cycles; the collector's repeated full passes over them cost more than the work itself.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
