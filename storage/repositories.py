"""Repositories over the tables: bindings, RSVPs, attendance, the outbox and the audit log."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ledger import Ledger, SessionRecord
from domain.outbox import ClaimedItem, OutboxItem
from domain.records import (
    SETTLED_STATUSES,
    AttendanceEvent,
    AuditEntry,
    OutboxEntry,
    OutboxStatus,
    Rsvp,
    TelegramBinding,
)
from storage.engine import reader
from storage.tables import attendance_events, audit_log, feed_links, outbox, rsvps, session_records, telegram_bindings

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
)


def _insert(engine: AsyncEngine, table: Any) -> Any:
    """A dialect-specific INSERT that supports ON CONFLICT."""
    if engine.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_BATCH = 500


class Store:
    """All repositories over one engine; every method is one short transaction."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    # Telegram bindings

    async def bind_telegram(self, binding: TelegramBinding) -> None:
        """Bind (or re-bind) a delegate's Telegram account; an account moves to the delegate binding it last."""
        async with self.engine.begin() as conn:
            await conn.execute(
                telegram_bindings.delete().where(
                    (telegram_bindings.c.telegram_user_id == binding.telegram_user_id)
                    | (telegram_bindings.c.delegate_id == binding.delegate_id)
                )
            )
            await conn.execute(telegram_bindings.insert().values(**binding.model_dump()))

    async def telegram_binding(self, delegate_id: str) -> TelegramBinding | None:
        """Return a delegate's binding, if any."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(telegram_bindings).where(telegram_bindings.c.delegate_id == delegate_id))
            ).first()
        return TelegramBinding.model_validate(row._asdict()) if row else None

    async def delegate_for_telegram_user(self, telegram_user_id: int) -> str | None:
        """Return the delegate a Telegram account is bound to, if any."""
        async with self.reader.connect() as conn:
            return await conn.scalar(
                select(telegram_bindings.c.delegate_id).where(telegram_bindings.c.telegram_user_id == telegram_user_id)
            )

    async def unbind_telegram(self, delegate_id: str) -> bool:
        """Remove a delegate's binding; return whether there was one."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                telegram_bindings.delete().where(telegram_bindings.c.delegate_id == delegate_id)
            )
        return bool(result.rowcount)

    # RSVPs

    async def record_rsvp(self, rsvp: Rsvp) -> None:
        """Record a delegate's answer, replacing an earlier one for the same session."""
        values = rsvp.model_dump()
        statement = _insert(self.engine, rsvps).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["session_id", "delegate_id"],
            set_={k: statement.excluded[k] for k in ("answer", "substitute_id", "comment", "answered_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def all_rsvps(self) -> dict[tuple[str, str], Rsvp]:
        """Every recorded answer, by (session, delegate)."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(rsvps))
        return {(row.session_id, row.delegate_id): Rsvp.model_validate(row._asdict()) for row in rows}

    async def rsvps(self, session_id: str) -> list[Rsvp]:
        """Return the answers recorded for a session, by delegate id."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(rsvps).where(rsvps.c.session_id == session_id).order_by(rsvps.c.delegate_id)
            )
        return [Rsvp.model_validate(row._asdict()) for row in rows]

    # Attendance

    async def add_attendance(self, event: AttendanceEvent, recorded_at: datetime) -> bool:
        """Record an attendance event; return False when the source already reported it (same external id)."""
        statement = _insert(self.engine, attendance_events).values(**event.model_dump(), recorded_at=recorded_at)
        if event.external_id is not None:
            statement = statement.on_conflict_do_nothing(index_elements=["source", "external_id"])
        async with self.engine.begin() as conn:
            result = await conn.execute(statement)
        return bool(result.rowcount)

    async def attendance(self, session_id: str) -> list[AttendanceEvent]:
        """Return a session's attendance events in the order they happened."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(attendance_events)
                .where(attendance_events.c.session_id == session_id)
                .order_by(attendance_events.c.occurred_at, attendance_events.c.id)
            )
        fields = AttendanceEvent.model_fields
        return [AttendanceEvent.model_validate({k: v for k, v in row._asdict().items() if k in fields}) for row in rows]

    # Outbox

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
            statement = _insert(self.engine, outbox).values(batch).on_conflict_do_nothing(index_elements=["key"])
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
            if len(batch) >= _BATCH:
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

    async def session_records(self) -> dict[str, SessionRecord]:
        """What was last announced about every session."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(session_records))
        return {row.session_id: SessionRecord(row.digest, row.snapshot, row.sequence, row.updated_at) for row in rows}

    async def ledger_session(self, session_id: str) -> SessionRecord | None:
        """Return what was last announced about one session."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(session_records).where(session_records.c.session_id == session_id))
            ).first()
        if row is None:
            return None
        return SessionRecord(digest=row.digest, snapshot=row.snapshot, sequence=row.sequence, updated_at=row.updated_at)

    async def save_session_records(self, records: Mapping[str, SessionRecord]) -> None:
        """Remember what was announced about these sessions (replacing what was there)."""
        if not records:
            return
        rows = [
            {
                "session_id": session_id,
                "digest": r.digest,
                "snapshot": dict(r.snapshot),
                "sequence": r.sequence,
                "updated_at": r.updated_at,
            }
            for session_id, r in records.items()
        ]
        statement = _insert(self.engine, session_records).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=["session_id"],
            set_={k: statement.excluded[k] for k in ("digest", "snapshot", "sequence", "updated_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def claim_due(self, now: datetime, worker: str, lease_seconds: float, limit: int) -> list[ClaimedItem]:
        """Take up to ``limit`` due rows, or rows whose holder's lease ran out, for this worker."""
        due = (
            select(outbox.c.id)
            .where(
                ((outbox.c.status == OutboxStatus.PENDING.value) & (outbox.c.next_attempt_at <= now))
                | ((outbox.c.status == OutboxStatus.CLAIMED.value) & (outbox.c.lease_until < now))
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
                lease_until=now + timedelta(seconds=lease_seconds),
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
        self, item: ClaimedItem, error: str, next_attempt_at: datetime, channel_index: int, now: datetime
    ) -> bool:
        """Put the row back for a later attempt, possibly on another channel."""
        return await self._finish(
            item,
            now,
            status=OutboxStatus.PENDING.value,
            attempts=item.attempts + 1,
            next_attempt_at=next_attempt_at,
            channel_index=channel_index,
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

    async def outbox_entry(self, key: str) -> OutboxEntry | None:
        """Return one outbox entry by its idempotency key."""
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.key == key))).first()
        if row is None:
            return None
        values = row._asdict()
        values["channels"] = tuple(c for c in values["channels"].split(",") if c)
        fields = OutboxEntry.model_fields
        return OutboxEntry.model_validate({k: v for k, v in values.items() if k in fields})

    async def link_generations(self) -> dict[tuple[str, str], int]:
        """The generation of every feed link that was ever rotated (others are at 0)."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(feed_links.c.scope, feed_links.c.subject, feed_links.c.generation))
        return {(scope, subject): generation for scope, subject, generation in rows}

    async def rotate_link(self, scope: str, subject: str, now: datetime) -> int:
        """Revoke a feed link by raising its generation; return the new generation."""
        async with self.engine.begin() as conn:
            current = await conn.scalar(
                select(feed_links.c.generation).where((feed_links.c.scope == scope) & (feed_links.c.subject == subject))
            )
            generation = (current or 0) + 1
            if current is None:
                await conn.execute(
                    feed_links.insert().values(scope=scope, subject=subject, generation=generation, rotated_at=now)
                )
            else:
                await conn.execute(
                    update(feed_links)
                    .where((feed_links.c.scope == scope) & (feed_links.c.subject == subject))
                    .values(generation=generation, rotated_at=now, etag=None, changed_at=None)
                )
        return generation

    async def feed_changed_at(self, scope: str, subject: str, etag: str, now: datetime) -> datetime:
        """When this feed last changed: ``now`` if its ETag differs from the one recorded, else the recorded time."""
        where = (feed_links.c.scope == scope) & (feed_links.c.subject == subject)
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(feed_links.c.etag, feed_links.c.changed_at).where(where))).first()
        if row is not None and row.etag == etag and row.changed_at is not None:
            changed: datetime = row.changed_at
            return changed
        stamp = now.replace(microsecond=0)
        async with self.engine.begin() as conn:
            if row is None:
                statement = _insert(self.engine, feed_links).values(
                    scope=scope, subject=subject, generation=0, etag=etag, changed_at=stamp
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["scope", "subject"], set_={"etag": etag, "changed_at": stamp}
                    )
                )
            else:
                await conn.execute(update(feed_links).where(where).values(etag=etag, changed_at=stamp))
        return stamp

    async def ping(self, within: float = 2.0) -> bool:
        """Whether the database answers a trivial query within ``within`` seconds."""
        try:
            async with asyncio.timeout(within), self.reader.connect() as conn:
                await conn.execute(select(1))
        except (TimeoutError, OSError, SQLAlchemyError):
            return False
        return True

    async def outbox_breakdown(self, now: datetime) -> tuple[dict[tuple[str, str, str], int], int, float]:
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

    async def outbox_counts(self) -> dict[str, int]:
        """Return the number of outbox entries by status."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(outbox.c.status, func.count()).group_by(outbox.c.status))
        return {status: count for status, count in rows}

    # Audit log

    async def audit(self, entry: AuditEntry) -> None:
        """Append an entry to the audit log."""
        async with self.engine.begin() as conn:
            await conn.execute(audit_log.insert().values(**entry.model_dump()))

    async def audit_trail(self, limit: int = 100, subject: str | None = None) -> Sequence[AuditEntry]:
        """Return the newest audit entries, newest first."""
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        async with self.reader.connect() as conn:
            rows = await conn.execute(query)
        return [AuditEntry.model_validate({k: v for k, v in row._asdict().items() if k != "id"}) for row in rows]
