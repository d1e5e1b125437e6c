"""The database schema (SQLAlchemy Core). Alembic migrations in ``migrations/`` create it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always stored and returned as UTC-aware (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive times; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("stored times must be timezone-aware")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return UTC-aware times whatever the backend gave."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(80)

telegram_bindings = Table(
    "telegram_bindings",
    metadata,
    Column("delegate_id", ID, primary_key=True),
    Column("telegram_user_id", BigInteger, nullable=False, unique=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("username", String(64)),
    Column("bound_at", UtcDateTime, nullable=False),
)

rsvps = Table(
    "rsvps",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("delegate_id", ID, primary_key=True),
    Column("answer", String(20), nullable=False),
    Column("substitute_id", ID),
    Column("comment", Text),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("source", String(20), nullable=False, server_default="telegram"),
)

rsvp_history = Table(
    "rsvp_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", ID, nullable=False),
    Column("delegate_id", ID, nullable=False),
    Column("answer", String(20), nullable=False),
    Column("substitute_id", ID),
    Column("comment", Text),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("source", String(20), nullable=False),
    Index(None, "session_id", "delegate_id"),
)
"""Every answer ever recorded, oldest first; ``rsvps`` holds the latest of each."""

attendance_events = Table(
    "attendance_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", ID, nullable=False, index=True),
    Column("delegate_id", ID),
    Column("state", String(3)),
    Column("source", String(20), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("external_id", String(200)),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("participant_id", String(200)),
    Column("participant_name", String(200)),
    Column("room", String(200)),
    Column("recorded_by", String(120)),
    Column("note", Text),
    UniqueConstraint("source", "external_id"),
)

video_state = Table(
    "video_state",
    metadata,
    Column("provider", String(20), primary_key=True),
    Column("session_id", ID, primary_key=True),
    Column("data", JSON, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

summaries = Table(
    "summaries",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("published_at", UtcDateTime, nullable=False),
    Column("events_sha256", String(64), nullable=False),
    Column("content", Text, nullable=False),
)

session_outcomes = Table(
    "session_outcomes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", ID, nullable=False, index=True),
    Column("item", Integer, nullable=False),
    Column("text", Text, nullable=False),
    Column("recorded_by", String(120), nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
)

leader_lease = Table(
    "leader_lease",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("term", BigInteger, nullable=False),
    Column("acquired_at", UtcDateTime, nullable=False),
    Column("renewed_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
)

leader_terms = Table(
    "leader_terms",
    metadata,
    Column("term", BigInteger, primary_key=True, autoincrement=False),
    Column("holder", String(200), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
)

replicas = Table(
    "replicas",
    metadata,
    Column("holder", String(200), primary_key=True),
    Column("seen_at", UtcDateTime, nullable=False),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("key", String(400), nullable=False, unique=True),
    Column("kind", String(20), nullable=False),
    Column("session_id", ID, nullable=False),
    Column("delegate_id", ID, nullable=False),
    Column("channels", String(100), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("status", String(20), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime),
    Column("last_error", Text),
    Column("claimed_by", String(100)),
    Column("lease_until", UtcDateTime),
    Column("channel_used", String(20)),
    Column("channel_index", Integer, nullable=False, default=0, server_default="0"),
    Column("channel_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("internal_errors", Integer, nullable=False, default=0, server_default="0"),
    Column("payload", JSON),
    Column("sent_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),
)

session_records = Table(
    "session_records",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("snapshot", JSON, nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
)

feed_links = Table(
    "feed_links",
    metadata,
    Column("scope", String(20), primary_key=True),
    Column("subject", ID, primary_key=True),
    Column("generation", Integer, nullable=False, default=0, server_default="0"),
    Column("rotated_at", UtcDateTime),
    Column("etag", String(80)),
    Column("changed_at", UtcDateTime),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("actor", String(100), nullable=False),
    Column("action", String(100), nullable=False),
    Column("subject", String(400), nullable=False),
    Column("details", JSON, nullable=False),
)

change_log = Table(
    "change_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(60), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("origin", String(100), nullable=False),
    Column("at", UtcDateTime, nullable=False, index=True),
)

instance_secrets = Table(
    "instance_secrets",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

recipients = Table(
    "recipients",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("delegate_id", ID, primary_key=True),
    Column("invited", Boolean, nullable=False),
    Column("revision", Integer, nullable=False, default=0, server_default="0"),
    Column("holds", Boolean, nullable=False),
    Column("sequence", Integer),
    Column("updated_at", UtcDateTime, nullable=False),
)

telegram_updates = Table(
    "telegram_updates",
    metadata,
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("received_at", UtcDateTime, nullable=False, index=True),
)
"""The Telegram updates handled: one replayed (same ``update_id``) is handled once."""

delegate_preferences = Table(
    "delegate_preferences",
    metadata,
    Column("delegate_id", ID, primary_key=True),
    Column("language", String(20)),
    Column("timezone", String(64)),
    Column("updated_at", UtcDateTime, nullable=False),
)
"""What a delegate chose in the bot over their YAML: their language, their time zone."""

nudges = Table(
    "nudges",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("delegate_id", ID, primary_key=True),
    Column("nudged_at", UtcDateTime, nullable=False),
)
"""When the secretariat last nudged a delegate who had not answered (at most once a day)."""

substitutions = Table(
    "substitutions",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("delegate_id", ID, primary_key=True),
    Column("substitute_id", ID, nullable=False),
    Column("named_by", String(120), nullable=False),
    Column("named_at", UtcDateTime, nullable=False),
)
"""A member replaced for one session by another of the same delegation, and who named them."""

broadcasts = Table(
    "broadcasts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", ID, nullable=False),
    Column("text", Text, nullable=False),
    Column("written_by", String(120), nullable=False),
    Column("written_at", UtcDateTime, nullable=False),
    Column("sent_by", String(120)),
    Column("sent_at", UtcDateTime),
    Column("recipients", Integer),
)
"""A message from the secretariat to everyone invited to a session: written, then confirmed and queued once."""

session_closures = Table(
    "session_closures",
    metadata,
    Column("session_id", ID, primary_key=True),
    Column("closed_at", UtcDateTime, nullable=False),
    Column("closed_by", String(120), nullable=False),
)
"""Sessions the secretariat closed (``/close``): over from then on, whatever their end in the YAML."""
