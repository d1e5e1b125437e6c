"""Repositories over the tables: bindings, RSVPs, attendance, the outbox and the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.notices import Notice
from domain.records import (
    SETTLED_STATUSES,
    AttendanceEvent,
    AuditEntry,
    OutboxEntry,
    OutboxStatus,
    Rsvp,
    TelegramBinding,
)
from storage.tables import attendance_events, audit_log, outbox, rsvps, telegram_bindings


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
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(select(telegram_bindings).where(telegram_bindings.c.delegate_id == delegate_id))
            ).first()
        return TelegramBinding.model_validate(row._asdict()) if row else None

    async def delegate_for_telegram_user(self, telegram_user_id: int) -> str | None:
        """Return the delegate a Telegram account is bound to, if any."""
        async with self.engine.connect() as conn:
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

    async def rsvps(self, session_id: str) -> list[Rsvp]:
        """Return the answers recorded for a session, by delegate id."""
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(attendance_events)
                .where(attendance_events.c.session_id == session_id)
                .order_by(attendance_events.c.occurred_at, attendance_events.c.id)
            )
        fields = AttendanceEvent.model_fields
        return [AttendanceEvent.model_validate({k: v for k, v in row._asdict().items() if k in fields}) for row in rows]

    # Outbox

    async def enqueue(self, notices: Iterable[Notice], now: datetime) -> int:
        """Put notices in the outbox; a key already there is left alone. Return how many were new."""
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

        for notice in notices:
            batch.append(
                {
                    "key": notice.key,
                    "kind": notice.kind.value,
                    "session_id": notice.session_id,
                    "delegate_id": notice.delegate_id,
                    "channels": ",".join(notice.channels),
                    "due_at": notice.due_at,
                    "status": OutboxStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": notice.due_at,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(batch) >= _BATCH:
                await flush()
        await flush()
        return added

    async def outbox_entry(self, key: str) -> OutboxEntry | None:
        """Return one outbox entry by its idempotency key."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(outbox).where(outbox.c.key == key))).first()
        if row is None:
            return None
        values = row._asdict()
        values["channels"] = tuple(c for c in values["channels"].split(",") if c)
        fields = OutboxEntry.model_fields
        return OutboxEntry.model_validate({k: v for k, v in values.items() if k in fields})

    async def settled_keys(self) -> set[str]:
        """Return the keys of every notice sent, failed for good, or recorded as stale."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                select(outbox.c.key).where(outbox.c.status.in_([s.value for s in SETTLED_STATUSES]))
            )
        return {row[0] for row in rows}

    async def outbox_counts(self) -> dict[str, int]:
        """Return the number of outbox entries by status."""
        async with self.engine.connect() as conn:
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
        async with self.engine.connect() as conn:
            rows = await conn.execute(query)
        return [AuditEntry.model_validate({k: v for k, v in row._asdict().items() if k != "id"}) for row in rows]
