"""Leadership among replicas: the leader lease (one row, the database's clock), every term it was held for, and
the replicas seen campaigning (how many share Telegram's budget).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leader_lease",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("acquired_at", UtcDateTime(), nullable=False),
        sa.Column("renewed_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "leader_terms",
        sa.Column("term", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("ended_at", UtcDateTime()),
    )

    op.create_table(
        "replicas",
        sa.Column("holder", sa.String(200), primary_key=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replicas")
    op.drop_table("leader_terms")
    op.drop_table("leader_lease")
