"""The service's collector once started (``app.service.settle_collector``)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.service import COLLECTOR_THRESHOLDS, settle_collector


@pytest.fixture
def collector() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.mark.usefixtures("collector")
def test_what_the_service_keeps_is_frozen_and_the_young_are_collected_less_often() -> None:
    kept = [object() for _ in range(10)]
    settle_collector()
    assert gc.get_threshold() == COLLECTOR_THRESHOLDS
    assert COLLECTOR_THRESHOLDS[0] > 700
    assert gc.get_freeze_count() >= len(kept)
    collected: list[int] = []
    gc.callbacks.append(lambda phase, info: collected.append(info["generation"]) if phase == "start" else None)
    try:
        garbage = [[] for _ in range(1_000)]  # more than CPython's 700, fewer than ours: no collection
        del garbage
    finally:
        gc.callbacks.pop()
    assert collected == []
