"""The server's secret, which derives the calendar-feed links: the same in every process of a deployment."""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from config.settings import Settings
from domain.ports import Clock
from storage.repositories import Store

log = logging.getLogger(__name__)

NAME = "feed-links"


async def server_secret(settings: Settings, store: Store, clock: Clock) -> bytes:
    """PLENARY_SECRET_KEY; else, on PostgreSQL, one key made once in the database for every process;
    else (SQLite, one process) a random key kept in the data directory, mode 600, apart from the database."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if store.engine.dialect.name != "sqlite":
        value = await store.secrets.get_or_create(NAME, lambda: secrets.token_hex(32), clock.now())
        return value.encode()
    return _file_secret(Path(settings.data_dir) / "secret.key")


def _file_secret(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key)
    return key
