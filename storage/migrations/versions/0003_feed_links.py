"""Calendar feed links: the generation of each link (raised to revoke it) and the feed's last change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_links",
        sa.Column("scope", sa.String(20), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("rotated_at", UtcDateTime()),
        sa.Column("etag", sa.String(80)),
        sa.Column("changed_at", UtcDateTime()),
        sa.PrimaryKeyConstraint("scope", "subject", name="pk_feed_links"),
    )


def downgrade() -> None:
    op.drop_table("feed_links")
