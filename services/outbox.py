"""What the secretariat sees of the outbox: what is pending or failed, and why; putting a failed notice back."""

from __future__ import annotations

from collections.abc import Sequence

from domain.ports import Audit, Clock, Outbox
from domain.records import AuditEntry, OutboxEntry


class OutboxService:
    """Lists deliveries still to make or given up, and retries those the operator has fixed."""

    def __init__(self, outbox: Outbox, audit: Audit, clock: Clock) -> None:
        self.outbox, self.audit, self.clock = outbox, audit, clock

    async def entries(
        self, *, failed_only: bool = False, session_id: str | None = None, limit: int = 1000
    ) -> list[OutboxEntry]:
        """Pending, in-flight and failed deliveries (only failed ones with ``failed_only``), oldest due first."""
        return await self.outbox.unsettled(failed_only=failed_only, session_id=session_id, limit=limit)

    async def retry(self, keys: Sequence[str], actor: str = "command line") -> tuple[list[str], list[str]]:
        """Put these failed notices back on their first channel with fresh budgets; return (retried, refused)."""
        now = self.clock.now()
        retried = await self.outbox.retry_failed(keys, now)
        for key in retried:
            await self.audit.append(AuditEntry(at=now, actor=actor, action="outbox.retry", subject=key))
        return retried, [k for k in keys if k not in retried]
