"""The service's own settings, read from the environment (never from the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Where Plenary keeps its data and how it reaches its database; secrets stay secret."""

    model_config = SettingsConfigDict(env_prefix="PLENARY_", frozen=True, extra="ignore", populate_by_name=True)

    data_dir: Path = Path(".plenary")
    database_url: SecretStr | None = None
    """``postgresql+asyncpg://…`` selects PostgreSQL; unset means a SQLite file in the data directory."""

    telegram_bot_token: SecretStr | None = Field(None, validation_alias=AliasChoices("TELEGRAM_BOT_TOKEN"))
    """Unset: Telegram messages are printed to the console."""
    telegram_api_url: str | None = Field(None, validation_alias=AliasChoices("TELEGRAM_API_URL"))
    """The Bot API base URL, e.g. ``http://127.0.0.1:8081/bot`` for a self-hosted Bot API server."""
    telegram_bot_username: str | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_BOT_USERNAME"), pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$"
    )
    """The bot's @username, for the deep links; without it the running service asks Telegram (getMe)."""
    telegram_updates: Literal["polling", "off"] = Field(
        "polling", validation_alias=AliasChoices("PLENARY_TELEGRAM_UPDATES")
    )
    """Whether this process fetches the bot's updates (long polling) and answers delegates; ``off`` sends only."""
    telegram_webhook_url: str | None = Field(
        None, validation_alias=AliasChoices("TELEGRAM_WEBHOOK_URL"), pattern=r"^https?://[^\s/]+(/\S*)?$"
    )
    """Set: Telegram delivers updates to this public base URL (webhook mode) instead of being polled; Plenary
    serves them at ``<base>/telegram/<random>`` on its HTTP server, behind a secret header."""

    smtp_host: str | None = Field(None, validation_alias=AliasChoices("SMTP_HOST"))
    """Unset: e-mail is written to a Maildir folder under the data directory."""
    smtp_port: int = Field(587, validation_alias=AliasChoices("SMTP_PORT"))
    smtp_username: str | None = Field(None, validation_alias=AliasChoices("SMTP_USERNAME"))
    smtp_password: SecretStr | None = Field(None, validation_alias=AliasChoices("SMTP_PASSWORD"))
    smtp_tls: Literal["starttls", "tls", "none"] = Field("starttls", validation_alias=AliasChoices("SMTP_TLS"))
    mail_from: str | None = Field(None, validation_alias=AliasChoices("MAIL_FROM"))
    """The sender address; default: the secretariat's e-mail from the configuration."""

    imap_url: SecretStr | None = Field(None, validation_alias=AliasChoices("PLENARY_IMAP_URL"))
    """The secretariat's mailbox, read for calendar replies: ``imaps://user:password@host/INBOX``; unset: not read."""
    imap_password: SecretStr | None = Field(None, validation_alias=AliasChoices("PLENARY_IMAP_PASSWORD"))
    """The mailbox's password, when it is not in the URL."""
    imap_poll_seconds: float = Field(60.0, ge=5.0, le=3600.0)
    """How often the mailbox is looked at when the server has no IDLE (and at least that often anyway)."""

    http_host: str = "127.0.0.1"
    http_port: int = 8080
    """The HTTP server (feeds, webhooks, /healthz, /readyz, /metrics); 0 picks a free port."""
    public_url: str | None = Field(None, validation_alias=AliasChoices("PUBLIC_URL"))
    """The external base URL for links (default: http://HOST:PORT)."""

    feed_keep_cancelled_days: int = 30
    """How long after its end a cancelled session stays (struck through) in the calendar feeds."""

    secret_key: SecretStr | None = None
    """Derives the calendar-feed links (PLENARY_SECRET_KEY); unset: a random key kept in the data directory."""

    worker_id: str | None = None
    """This process's name in outbox leases and the change log (default: host, process id and a random tag)."""

    lease_seconds: float = Field(60.0, ge=5.0, le=3600.0)
    """How long a claimed notice stays this process's without renewal (renewed every third of it while sending);
    a process that dies gives its notices up to the others this long after."""

    log_format: Literal["text", "json"] = "text"
    """``plenary run``'s log lines (PLENARY_LOG_FORMAT): ``text`` for people, ``json`` (one object a line: timestamp,
    level, logger, message and the fields of a delivery) for a log collector."""

    def resolved_database_url(self) -> str:
        """The database URL in use: the configured one, or the SQLite file under the data directory."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'plenary.db').resolve()}"
