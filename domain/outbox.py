"""Rows of the outbox as the dispatcher sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.notices import Notice, NoticeKind, NoticeStatus, notice_key


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notice to put in the outbox, with what it must carry (the changes of an update)."""

    notice: Notice
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def skipped(self) -> bool:
        """A stale notice is recorded as skipped, never sent."""
        return self.notice.status is NoticeStatus.STALE


def due_now(
    kind: NoticeKind,
    session_id: str,
    delegate_id: str,
    channels: tuple[str, ...],
    now: datetime,
    detail: str = "",
    payload: dict[str, Any] | None = None,
    *,
    key: str | None = None,
) -> OutboxItem:
    """A notice that no plan made (the chat asked for it): due at once, keyed by what it is about unless ``key``
    says otherwise, so that asking twice queues it once."""
    notice = Notice(
        key=key or notice_key(session_id, kind, delegate_id, detail),
        kind=kind,
        session_id=session_id,
        delegate_id=delegate_id,
        due_at=now,
        channels=channels,
        status=NoticeStatus.DUE,
        detail=detail,
    )
    return OutboxItem(notice, payload or {})


@dataclass(frozen=True, slots=True)
class ClaimedItem:
    """A due row this worker holds under a lease."""

    id: int
    key: str
    kind: str
    session_id: str
    delegate_id: str
    channels: tuple[str, ...]
    channel_index: int
    attempts: int
    due_at: datetime
    payload: dict[str, Any]
    worker: str
    channel_attempts: int = 0
    """Attempts on the current channel (each channel has its own budget)."""
    internal_errors: int = 0
    """Failures for a reason of ours (a rendering bug, a template that fails on one delegate's data)."""


@dataclass(frozen=True)
class OutboxStats:
    """A snapshot of the outbox for metrics."""

    notices: dict[tuple[str, str, str], int]
    """(kind, channel, status) → count; channel is ``none`` until a notice was sent."""
    depth: int
    oldest_due_seconds: float
