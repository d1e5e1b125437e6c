"""Initial schema: Telegram bindings, RSVPs, attendance events, the delivery outbox and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.String(80)


def upgrade() -> None:
    op.create_table(
        "telegram_bindings",
        sa.Column("delegate_id", ID, nullable=False),
        sa.Column("telegram_user_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(64)),
        sa.Column("bound_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delegate_id", name="pk_telegram_bindings"),
        sa.UniqueConstraint("telegram_user_id", name="uq_telegram_bindings_telegram_user_id"),
    )
    op.create_table(
        "rsvps",
        sa.Column("session_id", ID, nullable=False),
        sa.Column("delegate_id", ID, nullable=False),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("substitute_id", ID),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "delegate_id", name="pk_rsvps"),
    )
    op.create_table(
        "attendance_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("delegate_id", ID),
        sa.Column("state", sa.String(3)),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("external_id", sa.String(200)),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_attendance_events"),
        sa.UniqueConstraint("source", "external_id", name="uq_attendance_events_source_external_id"),
    )
    op.create_index("ix_attendance_events_session_id", "attendance_events", ["session_id"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(400), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("session_id", ID, nullable=False),
        sa.Column("delegate_id", ID, nullable=False),
        sa.Column("channels", sa.String(100), nullable=False),
        sa.Column("due_at", UtcDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("claimed_by", sa.String(100)),
        sa.Column("lease_until", UtcDateTime()),
        sa.Column("channel_used", sa.String(20)),
        sa.Column("sent_at", UtcDateTime()),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("key", name="uq_outbox_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("subject", sa.String(400), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_log"),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_table("audit_log")
    op.drop_table("outbox")
    op.drop_table("attendance_events")
    op.drop_table("rsvps")
    op.drop_table("telegram_bindings")
