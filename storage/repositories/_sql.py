"""What every repository shares: the dialect-specific INSERT, the batch size."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

BATCH = 500
"""Rows written per statement in bulk inserts."""


def insert(engine: AsyncEngine, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
