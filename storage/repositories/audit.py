"""The audit log: who did what, when."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import AuditEntry
from storage.engine import reader
from storage.tables import audit_log


class AuditRepository:
    """Implements ``domain.ports.Audit`` over the ``audit_log`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def append(self, entry: AuditEntry) -> None:
        """Append an entry to the audit log."""
        async with self.engine.begin() as conn:
            await conn.execute(audit_log.insert().values(**entry.model_dump()))

    async def trail(self, limit: int = 100, subject: str | None = None) -> Sequence[AuditEntry]:
        """Return the newest audit entries, newest first."""
        query = select(audit_log).order_by(audit_log.c.at.desc(), audit_log.c.id.desc()).limit(limit)
        if subject is not None:
            query = query.where(audit_log.c.subject == subject)
        async with self.reader.connect() as conn:
            rows = await conn.execute(query)
        return [AuditEntry.model_validate({k: v for k, v in row._asdict().items() if k != "id"}) for row in rows]
