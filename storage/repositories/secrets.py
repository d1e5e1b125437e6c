"""Secrets shared by every process on one database, made once by whichever process needs one first."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.repositories._sql import insert
from storage.tables import instance_secrets


class SecretRepository:
    """The ``instance_secrets`` table: the first writer wins, every process reads the same value."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def get_or_create(self, name: str, make: Callable[[], str], now: datetime) -> str:
        """The secret called ``name``; made with ``make`` when no process has made it yet."""
        statement = insert(self.engine, instance_secrets).values(name=name, value=make(), created_at=now)
        async with self.engine.begin() as conn:
            await conn.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
            value = await conn.scalar(select(instance_secrets.c.value).where(instance_secrets.c.name == name))
        return str(value)
