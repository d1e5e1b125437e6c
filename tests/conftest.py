"""Shared fixtures: databases (SQLite and the PostgreSQL server), example configuration."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from domain.deployment import Deployment
    from storage.repositories import Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "config" / "examples"
os.environ.setdefault("PTB_TIMEDELTA", "true")  # python-telegram-bot 23 semantics: retry_after is a timedelta
EXAMPLE_SECRETS = {
    "ICMEC_BBB_SECRET": "example-bbb-shared-secret-0123456789abcdef",
    "ICMEC_JITSI_SECRET": "example-jitsi-app-secret-0123456789abcdef",
    "ICMEC_JITSI_EVENTS_TOKEN": "example-jitsi-events-token-0123456789",
}
"""What the example's ``${ENV}`` references name; a deployment sets its own (the tests' BigBlueButton double takes
this one)."""
for _name, _value in EXAMPLE_SECRETS.items():
    os.environ.setdefault(_name, _value)
POSTGRES_ADMIN_URL = os.environ.get("PLENARY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


async def _postgres_database() -> tuple[str, str] | None:
    """Create a fresh database on the PostgreSQL server; return (asyncpg URL, name), or None if unreachable."""
    import asyncpg

    try:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        reason = f"PostgreSQL at {POSTGRES_ADMIN_URL} is not reachable ({type(exc).__name__}: {exc})"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; under CI the PostgreSQL tests must run")
        pytest.skip(f"{reason}; start it with: pg_ctlcluster --skip-systemctl-redirect <version> main start")
    name = f"plenary_test_{secrets.token_hex(6)}"
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}", name


async def _drop_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of each kind, created for this test and dropped after it."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'plenary.db'}"
        return
    created = await _postgres_database()
    assert created is not None
    url, name = created
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """An empty database on the PostgreSQL server, for what only PostgreSQL does (several processes)."""
    created = await _postgres_database()
    assert created is not None
    url, name = created
    try:
        yield url
    finally:
        await _drop_postgres_database(name)


@contextlib.asynccontextmanager
async def migrated_store(url: str) -> AsyncIterator[Store]:
    """A store over the database at ``url``, migrated to the newest revision; its engine disposed after."""
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    await upgrade(url)
    store = Store(create_engine(url))
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A store over a migrated SQLite database of its own."""
    async with migrated_store(f"sqlite+aiosqlite:///{tmp_path / 'plenary-test.db'}") as store:
        yield store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """A store over a migrated database of each kind (SQLite, and the PostgreSQL server)."""
    async with migrated_store(database_url) as store:
        yield store


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    """The example configuration (config/examples), loaded once."""
    from config.loader import load

    result = load([str(EXAMPLES)], os.environ)
    assert result.deployment is not None, [str(e) for e in result.errors]
    return result.deployment


@pytest.fixture
def weasyprint_ready() -> None:
    """WeasyPrint can print (Pango is installed): else skip the test, and fail it under CI."""
    try:
        import weasyprint  # noqa: F401
    except OSError as exc:
        why = f"WeasyPrint cannot load Pango ({exc}): install libpango-1.0-0 (python3 scripts/dev.py test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
