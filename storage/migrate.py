"""Applying the Alembic migrations from code (``plenary db upgrade`` and at service start)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from storage.engine import create_engine

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 0x706C656E  # "plen": the advisory lock held while a process migrates


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at our migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``, the newest by default (a SQLite file and its folder are
    created)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            # Several processes may start at once: one migrates, the others wait and then find nothing to do.
            # On SQLite the transaction's BEGIN IMMEDIATE serialises them; PostgreSQL needs a lock of its own.
            if engine.dialect.name == "postgresql":
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
            await conn.run_sync(lambda sync: command.upgrade(alembic_config(sync), revision))
    finally:
        await engine.dispose()


async def current_revision(url: str) -> str | None:
    """Return the revision the database is at, or None for an empty database."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
    finally:
        await engine.dispose()


def head_revision() -> str:
    """The newest revision the migrations define."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head
