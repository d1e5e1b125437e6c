"""The outbox: notices to send, claimed under a lease, settled by conditional updates; the ledger planning reads."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.ledger import Ledger, SessionRecord
from domain.notices import CALENDAR_KINDS
from domain.outbox import ClaimedItem, OutboxItem
from domain.records import SETTLED_STATUSES, OutboxEntry, OutboxStatus
from storage.engine import reader
from storage.repositories._sql import BATCH, insert
from storage.repositories.announcements import read_recipients
from storage.tables import outbox, recipients, session_records

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
        self._upsert_holdings: Any = None

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
        """Return the settled keys, what every delegate holds of every session, and what was announced."""
        settled_statuses = [s.value for s in SETTLED_STATUSES]
        async with self.reader.connect() as conn:
            keys = await conn.execute(select(outbox.c.key).where(outbox.c.status.in_(settled_statuses)))
            records = await conn.execute(select(session_records))
            held = await read_recipients(conn)
        told = {session_id: {d for d, r in people.items() if r.holds} for session_id, people in held.items()}
        return Ledger(
            settled=frozenset(row[0] for row in keys),
            told=told,
            sessions={
                row.session_id: SessionRecord(
                    digest=row.digest, snapshot=row.snapshot, sequence=row.sequence, updated_at=row.updated_at
                )
                for row in records
            },
            recipients=held,
        )

    async def claim_due(
        self,
        now: datetime,
        worker: str,
        lease_seconds: float,
        limit: int,
        *,
        lease_now: datetime | None = None,
    ) -> list[ClaimedItem]:
        """Take up to ``limit`` rows due by ``now``, or whose holder's lease ran out by ``lease_now`` (real time)."""
        lease_now = lease_now or now
        wanted = ((outbox.c.status == OutboxStatus.PENDING.value) & (outbox.c.next_attempt_at <= now)) | (
            (outbox.c.status == OutboxStatus.CLAIMED.value) & (outbox.c.lease_until < lease_now)
        )
        due = (
            select(outbox.c.id)
            .where(wanted)
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
            if result.rowcount and values.get("status") == OutboxStatus.SENT.value:
                await self._holdings(conn, [item], now)
        return bool(result.rowcount)

    async def _holdings(self, conn: AsyncConnection, items: Sequence[ClaimedItem], now: datetime) -> None:
        """What the delegates now hold, for the calendar messages just recorded (never a lower SEQUENCE)."""
        rows = [
            {
                "session_id": item.session_id,
                "delegate_id": item.delegate_id,
                "invited": item.kind != "cancellation",
                "revision": 0,
                "holds": item.kind != "cancellation",
                "sequence": int(item.payload.get("sequence") or 0),
                "updated_at": now,
            }
            for item in items
            if item.kind in CALENDAR_KINDS
        ]
        if not rows:
            return
        # One statement with many parameter sets: compiled once and cached, not once per batch of rows.
        await conn.execute(self._holdings_statement(), rows)

    def _holdings_statement(self) -> Any:
        if self._upsert_holdings is None:
            statement = insert(self.engine, recipients)
            newer = (recipients.c.sequence.is_(None)) | (statement.excluded.sequence >= recipients.c.sequence)
            self._upsert_holdings = statement.on_conflict_do_update(
                index_elements=["session_id", "delegate_id"],
                set_={
                    "holds": case((newer, statement.excluded.holds), else_=recipients.c.holds),
                    "sequence": case((newer, statement.excluded.sequence), else_=recipients.c.sequence),
                    "updated_at": statement.excluded.updated_at,
                },
            )
        return self._upsert_holdings

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
        """Record many deliveries through one channel in one transaction; return how many were still ours."""
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
            .returning(outbox.c.id)
        )
        async with self.engine.begin() as conn:
            ours = {row[0] for row in await conn.execute(statement)}
            await self._holdings(conn, [item for item in items if item.id in ours], now)
        return len(ours)

    async def mark_skipped(self, item: ClaimedItem, reason: str, now: datetime) -> bool:
        """Record that the notice is no longer worth sending (superseded, or its delegate no longer invited)."""
        return await self._finish(item, now, status=OutboxStatus.SKIPPED.value, last_error=reason[:2000])

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

    async def unsettled(self, *, failed_only: bool, session_id: str | None, limit: int) -> list[OutboxEntry]:
        """Pending, claimed and failed entries (or failed only), oldest due first."""
        wanted = [OutboxStatus.FAILED.value]
        if not failed_only:
            wanted += [OutboxStatus.PENDING.value, OutboxStatus.CLAIMED.value]
        query = select(outbox).where(outbox.c.status.in_(wanted)).order_by(outbox.c.due_at, outbox.c.id).limit(limit)
        if session_id is not None:
            query = query.where(outbox.c.session_id == session_id)
        async with self.reader.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_entry(row._asdict()) for row in rows]

    async def retry_failed(self, keys: Sequence[str], now: datetime) -> list[str]:
        """Put failed entries back, due now on their first channel with fresh budgets; return their keys."""
        if not keys:
            return []
        statement = (
            update(outbox)
            .where(outbox.c.key.in_(list(keys)) & (outbox.c.status == OutboxStatus.FAILED.value))
            .values(
                status=OutboxStatus.PENDING.value,
                next_attempt_at=now,
                channel_index=0,
                channel_attempts=0,
                internal_errors=0,
                updated_at=now,
            )
            .returning(outbox.c.key)
        )
        async with self.engine.begin() as conn:
            return [row[0] for row in await conn.execute(statement)]

    async def entry(self, key: str) -> OutboxEntry | None:
        """Return one outbox entry by its idempotency key."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.key == key))).first()
        return _entry(row._asdict()) if row is not None else None

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


def _entry(values: dict[str, Any]) -> OutboxEntry:
    values["channels"] = tuple(c for c in values["channels"].split(",") if c)
    fields = OutboxEntry.model_fields
    return OutboxEntry.model_validate({k: v for k, v in values.items() if k in fields})
