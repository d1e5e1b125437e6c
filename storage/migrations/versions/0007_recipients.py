"""What each delegate holds of each session: invited or not (and how often that changed), and the calendar
SEQUENCE they last received; filled from the deliveries already recorded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from storage.tables import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "recipients",
        sa.Column("session_id", sa.String(80), nullable=False),
        sa.Column("delegate_id", sa.String(80), nullable=False),
        sa.Column("invited", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("holds", sa.Boolean(), nullable=False),
        sa.Column("sequence", sa.Integer()),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("session_id", "delegate_id", name="pk_recipients"),
    )
    assert table is not None
    # Whoever was sent an invitation holds it at the session's SEQUENCE, unless a cancellation reached them
    # since: then they hold nothing, and, unless the whole session was cancelled, they were uninvited.
    conn = op.get_bind()
    outbox = sa.table(
        "outbox", sa.column("session_id"), sa.column("delegate_id"), sa.column("kind"), sa.column("status")
    )
    records = sa.table(
        "session_records", sa.column("session_id"), sa.column("sequence"), sa.column("snapshot", sa.JSON)
    )
    sent = conn.execute(
        sa.select(outbox.c.session_id, outbox.c.delegate_id, outbox.c.kind)
        .where(outbox.c.status == "sent")
        .where(outbox.c.kind.in_(["invitation", "cancellation"]))
    ).all()
    known = {row.session_id: row for row in conn.execute(sa.select(records))}
    invited = {(s, d) for s, d, kind in sent if kind == "invitation"}
    cancelled = {(s, d) for s, d, kind in sent if kind == "cancellation"}
    now = datetime.now(UTC)
    rows = []
    for session_id, delegate_id in sorted(invited):
        record = known.get(session_id)
        sequence = record.sequence if record is not None else 0
        session_cancelled = record is not None and (record.snapshot or {}).get("status") == "cancelled"
        got_cancel = (session_id, delegate_id) in cancelled
        rows.append(
            {
                "session_id": session_id,
                "delegate_id": delegate_id,
                "invited": not got_cancel or session_cancelled,
                "revision": 1 if got_cancel and not session_cancelled else 0,
                "holds": not got_cancel,
                "sequence": sequence + (1 if got_cancel and not session_cancelled else 0),
                "updated_at": now,
            }
        )
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("recipients")
