"""Retry budgets per channel: attempts on the current channel, and failures for a reason of ours.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("channel_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("internal_errors", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("internal_errors")
        batch.drop_column("channel_attempts")
