"""Small helpers the benchmark scripts share."""

from __future__ import annotations

import argparse


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def verdict(ok: bool) -> str:
    """PASS or FAIL, for a target beside its figure."""
    return "PASS" if ok else "FAIL"
