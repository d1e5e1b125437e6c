"""The service's own settings, read from the environment (never from the YAML)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Plenary keeps its data and how it reaches its database; secrets stay secret."""

    model_config = SettingsConfigDict(env_prefix="PLENARY_", frozen=True, extra="ignore")

    data_dir: Path = Path(".plenary")
    database_url: SecretStr | None = None
    """``postgresql+asyncpg://…`` selects PostgreSQL; unset means a SQLite file in the data directory."""

    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one, or the SQLite file under the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'plenary.db').resolve()}"
