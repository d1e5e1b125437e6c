"""The outbox: notices to send, claimed under a lease, settled by conditional updates; the ledger planning reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ledger import Ledger, SessionRecord
from domain.outbox import ClaimedItem, OutboxItem
from domain.records import SETTLED_STATUSES, OutboxEntry, OutboxStatus
from storage.engine import reader
from storage.repositories._sql import BATCH, insert
from storage.tables import outbox, session_records

_CLAIM_COLUMNS = (
    outbox.c.id,
    outbox.c.key,
    outbox.c.kind,
    outbox.c.session_id,
    outbox.c.delegate_id,
    outbox.c.channels,
    outbox.c.channel_index,
    outbox.c.attempts,
    outbox.c.due_at,
    outbox.c.payload,
    outbox.c.channel_attempts,
    outbox.c.internal_errors,
)


class OutboxRepository:
    """Implements ``domain.ports.Outbox``: every method is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def enqueue(self, entries: Iterable[OutboxItem], now: datetime) -> int:
        """Put notices in the outbox (stale ones as skipped); a key already there is left alone.

        Return how many were new.
        """
        added = 0
        batch: list[dict[str, Any]] = []

        async def flush() -> None:
            nonlocal added
            if not batch:
                return
            statement = insert(self.engine, outbox).values(batch).on_conflict_do_nothing(index_elements=["key"])
            async with self.engine.begin() as conn:
                result = await conn.execute(statement)
            added += max(result.rowcount, 0)
            batch.clear()

        for entry in entries:
            notice = entry.notice
            batch.append(
                {
                    "key": notice.key,
                    "kind": notice.kind.value,
                    "session_id": notice.session_id,
                    "delegate_id": notice.delegate_id,
                    "channels": ",".join(notice.channels),
                    "due_at": notice.due_at,
                    "status": (OutboxStatus.SKIPPED if entry.skipped else OutboxStatus.PENDING).value,
                    "attempts": 0,
                    "channel_index": 0,
                    "next_attempt_at": None if entry.skipped else notice.due_at,
                    "last_error": "stale: its time passed while it could not be sent" if entry.skipped else None,
                    "payload": entry.payload or None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) >= BATCH:
                await flush()
        await flush()
        return added

    async def ledger(self) -> Ledger:
        """Return the settled keys, who was sent each session's invitation, and what was announced."""
        settled_statuses = [s.value for s in SETTLED_STATUSES]
        async with self.reader.connect() as conn:
            keys = await conn.execute(select(outbox.c.key).where(outbox.c.status.in_(settled_statuses)))
            told_rows = await conn.execute(
                select(outbox.c.session_id, outbox.c.delegate_id).where(
                    (outbox.c.kind == "invitation") & (outbox.c.status == OutboxStatus.SENT.value)
                )
            )
            records = await conn.execute(select(session_records))
        told: dict[str, set[str]] = {}
        for session_id, delegate_id in told_rows:
            told.setdefault(session_id, set()).add(delegate_id)
        return Ledger(
            settled=frozenset(row[0] for row in keys),
            told=told,
            sessions={
                row.session_id: SessionRecord(
                    digest=row.digest, snapshot=row.snapshot, sequence=row.sequence, updated_at=row.updated_at
                )
                for row in records
            },
        )

    async def claim_due(
        self, now: datetime, worker: str, lease_seconds: float, limit: int, *, lease_now: datetime | None = None
    ) -> list[ClaimedItem]:
        """Take up to ``limit`` rows due by ``now``, or whose holder's lease ran out by ``lease_now`` (real time)."""
        lease_now = lease_now or now
        due = (
            select(outbox.c.id)
            .where(
                ((outbox.c.status == OutboxStatus.PENDING.value) & (outbox.c.next_attempt_at <= now))
                | ((outbox.c.status == OutboxStatus.CLAIMED.value) & (outbox.c.lease_until < lease_now))
            )
            .order_by(outbox.c.next_attempt_at, outbox.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        statement = (
            update(outbox)
            .where(outbox.c.id.in_(due.scalar_subquery()))
            .values(
                status=OutboxStatus.CLAIMED.value,
                claimed_by=worker,
                lease_until=lease_now + timedelta(seconds=lease_seconds),
                updated_at=now,
            )
            .returning(*_CLAIM_COLUMNS)
        )
        async with self.engine.begin() as conn:
            rows = (await conn.execute(statement)).all()
        items = [
            ClaimedItem(
                id=row.id,
                key=row.key,
                kind=row.kind,
                session_id=row.session_id,
                delegate_id=row.delegate_id,
                channels=tuple(c for c in row.channels.split(",") if c),
                channel_index=row.channel_index,
                attempts=row.attempts,
                due_at=row.due_at,
                payload=row.payload or {},
                worker=worker,
                channel_attempts=row.channel_attempts,
                internal_errors=row.internal_errors,
            )
            for row in rows
        ]
        items.sort(key=lambda item: (item.due_at, item.id))
        return items

    async def _finish(self, item: ClaimedItem, now: datetime, **values: Any) -> bool:
        statement = (
            update(outbox)
            .where(
                (outbox.c.id == item.id)
                & (outbox.c.status == OutboxStatus.CLAIMED.value)
                & (outbox.c.claimed_by == item.worker)
            )
            .values(updated_at=now, claimed_by=None, lease_until=None, **values)
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def mark_sent(self, item: ClaimedItem, channel: str, now: datetime, note: str | None = None) -> bool:
        """Record a delivery; False when the row is no longer this worker's."""
        return await self._finish(
            item,
            now,
            status=OutboxStatus.SENT.value,
            channel_used=channel,
            sent_at=now,
            attempts=item.attempts + 1,
            last_error=note,
        )

    async def mark_sent_many(self, items: Sequence[ClaimedItem], channel: str, now: datetime) -> int:
        """Record many deliveries through one channel in one statement; return how many were still ours."""
        if not items:
            return 0
        statement = (
            update(outbox)
            .where(
                outbox.c.id.in_([item.id for item in items])
                & (outbox.c.status == OutboxStatus.CLAIMED.value)
                & (outbox.c.claimed_by == items[0].worker)
            )
            .values(
                status=OutboxStatus.SENT.value,
                channel_used=channel,
                sent_at=now,
                attempts=outbox.c.attempts + 1,
                last_error=None,
                claimed_by=None,
                lease_until=None,
                updated_at=now,
            )
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def mark_retry(
        self,
        item: ClaimedItem,
        error: str,
        next_attempt_at: datetime,
        channel_index: int,
        now: datetime,
        *,
        channel_attempts: int = 0,
        internal_errors: int | None = None,
    ) -> bool:
        """Put the row back for a later attempt on ``channel_index``, with that channel's attempts so far."""
        return await self._finish(
            item,
            now,
            status=OutboxStatus.PENDING.value,
            attempts=item.attempts + 1,
            next_attempt_at=next_attempt_at,
            channel_index=channel_index,
            channel_attempts=channel_attempts,
            internal_errors=item.internal_errors if internal_errors is None else internal_errors,
            last_error=error[:2000],
        )

    async def mark_failed(self, item: ClaimedItem, error: str, now: datetime) -> bool:
        """Record that the notice can never be delivered."""
        return await self._finish(
            item, now, status=OutboxStatus.FAILED.value, attempts=item.attempts + 1, last_error=error[:2000]
        )

    async def release(self, worker: str, now: datetime) -> int:
        """Give back every row this worker holds; return how many."""
        statement = (
            update(outbox)
            .where((outbox.c.status == OutboxStatus.CLAIMED.value) & (outbox.c.claimed_by == worker))
            .values(status=OutboxStatus.PENDING.value, claimed_by=None, lease_until=None, updated_at=now)
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def release_all(self, now: datetime) -> int:
        """Give back every claimed row, whoever holds it (only for the one process of a SQLite database)."""
        statement = (
            update(outbox)
            .where(outbox.c.status == OutboxStatus.CLAIMED.value)
            .values(status=OutboxStatus.PENDING.value, claimed_by=None, lease_until=None, updated_at=now)
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def renew(self, worker: str, now: datetime, lease_seconds: float) -> int:
        """Extend the lease of every row this worker holds (sends in progress); return how many."""
        statement = (
            update(outbox)
            .where((outbox.c.status == OutboxStatus.CLAIMED.value) & (outbox.c.claimed_by == worker))
            .values(lease_until=now + timedelta(seconds=lease_seconds))
        )
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return int(result.rowcount)

    async def entry(self, key: str) -> OutboxEntry | None:
        """Return one outbox entry by its idempotency key."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.key == key))).first()
        if row is None:
            return None
        values = row._asdict()
        values["channels"] = tuple(c for c in values["channels"].split(",") if c)
        fields = OutboxEntry.model_fields
        return OutboxEntry.model_validate({k: v for k, v in values.items() if k in fields})

    async def breakdown(self, now: datetime) -> tuple[dict[tuple[str, str, str], int], int, float]:
        """Counts by (kind, channel, status); notices pending or in flight; age in seconds of the oldest due."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.kind, outbox.c.channel_used, outbox.c.status, func.count()).group_by(
                    outbox.c.kind, outbox.c.channel_used, outbox.c.status
                )
            )
            oldest = await conn.scalar(
                select(func.min(outbox.c.next_attempt_at)).where(
                    (outbox.c.status == OutboxStatus.PENDING.value) & (outbox.c.next_attempt_at <= now)
                )
            )
        counts = {(kind, channel or "none", status): n for kind, channel, status, n in rows}
        depth = sum(n for (_, _, status), n in counts.items() if status in ("pending", "claimed"))
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        age = (now - oldest).total_seconds() if oldest is not None else 0.0
        return counts, depth, max(age, 0.0)

    async def counts(self) -> dict[str, int]:
        """Return the number of outbox entries by status."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {status: count for status, count in rows}
