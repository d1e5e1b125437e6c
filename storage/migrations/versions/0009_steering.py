"""What the secretariat does from the chat: messages to everyone invited (kept with who confirmed them and how
many they went to), and sessions closed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "broadcasts",
        sa.Column("id", sa.Integer(), nullable=False, autoincrement=True),
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_by", sa.String(120), nullable=False),
        sa.Column("written_at", UtcDateTime(), nullable=False),
        sa.Column("sent_by", sa.String(120)),
        sa.Column("sent_at", UtcDateTime()),
        sa.Column("recipients", sa.Integer()),
        sa.PrimaryKeyConstraint("id", name="pk_broadcasts"),
    )
    op.create_table(
        "session_closures",
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("closed_at", UtcDateTime(), nullable=False),
        sa.Column("closed_by", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("session_id", name="pk_session_closures"),
    )


def downgrade() -> None:
    op.drop_table("session_closures")
    op.drop_table("broadcasts")
