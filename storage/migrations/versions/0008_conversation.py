"""What the bot keeps: where each answer came from and every answer ever given, the updates handled, the
delegates' own language and time zone, nudges and substitutions.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rsvps") as batch:
        batch.add_column(sa.Column("source", sa.String(20), nullable=False, server_default="telegram"))
    op.create_table(
        "rsvp_history",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("delegate_id", sa.String(80), nullable=False),
        sa.Column("answer", sa.String(20), nullable=False),
        sa.Column("substitute_id", sa.String(80)),
        sa.Column("comment", sa.Text()),
        sa.Column("answered_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rsvp_history"),
    )
    op.create_index("ix_rsvp_history_session_id_delegate_id", "rsvp_history", ["session_id", "delegate_id"])
    # The answers recorded so far are the first entries of their history.
    op.execute(
        "INSERT INTO rsvp_history (session_id, delegate_id, answer, substitute_id, comment, answered_at, source) "
        "SELECT session_id, delegate_id, answer, substitute_id, comment, answered_at, source FROM rsvps"
    )
    op.create_table(
        "telegram_updates",
        sa.Column("update_id", sa.BigInteger(), nullable=False, autoincrement=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("update_id", name="pk_telegram_updates"),
    )
    op.create_index("ix_telegram_updates_received_at", "telegram_updates", ["received_at"])
    op.create_table(
        "delegate_preferences",
        sa.Column("delegate_id", sa.String(80), nullable=False),
        sa.Column("language", sa.String(20)),
        sa.Column("timezone", sa.String(64)),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("delegate_id", name="pk_delegate_preferences"),
    )
    op.create_table(
        "nudges",
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("delegate_id", sa.String(80), nullable=False),
        sa.Column("nudged_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "delegate_id", name="pk_nudges"),
    )
    op.create_table(
        "substitutions",
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("delegate_id", sa.String(80), nullable=False),
        sa.Column("substitute_id", sa.String(80), nullable=False),
        sa.Column("named_by", sa.String(120), nullable=False),
        sa.Column("named_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "delegate_id", name="pk_substitutions"),
    )


def downgrade() -> None:
    for table in ("substitutions", "nudges", "delegate_preferences", "telegram_updates", "rsvp_history"):
        op.drop_table(table)
    with op.batch_alter_table("rsvps") as batch:
        batch.drop_column("source")
