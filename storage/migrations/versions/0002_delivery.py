"""Delivery: the channel an outbox row is on, its payload, and what was announced about each session.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("channel_index", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("payload", sa.JSON()))
    op.create_table(
        "session_records",
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_session_records"),
    )


def downgrade() -> None:
    op.drop_table("session_records")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("payload")
        batch.drop_column("channel_index")
