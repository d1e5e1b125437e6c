"""Video attendance: who a video participant was by the platform's account of them, corrections with who made
them and why, and what each provider keeps about a session's meeting.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("attendance_events") as batch:
        batch.add_column(sa.Column("participant_id", sa.String(200)))
        batch.add_column(sa.Column("participant_name", sa.String(200)))
        batch.add_column(sa.Column("room", sa.String(200)))
        batch.add_column(sa.Column("recorded_by", sa.String(120)))
        batch.add_column(sa.Column("note", sa.Text()))
    op.create_table(
        "video_state",
        sa.Column("provider", sa.String(20), nullable=False),
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "session_id", name="pk_video_state"),
    )


def downgrade() -> None:
    op.drop_table("video_state")
    with op.batch_alter_table("attendance_events") as batch:
        for name in ("note", "recorded_by", "room", "participant_name", "participant_id"):
            batch.drop_column(name)
