"""How a plan is shown: grouped by day for a terminal, or as documented JSON for other tools."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

from babel.dates import format_date

from domain.deployment import Deployment
from domain.notices import Notice, NoticeStatus
from domain.values import zone

PLAN_FORMAT = "plenary.plan/1"


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_json(deployment: Deployment, notices: list[Notice], now: datetime) -> Iterator[str]:
    """Yield the JSON document of a plan in chunks (format ``plenary.plan/1``, see docs/plan-json.md)."""
    by_kind = Counter(n.kind.value for n in notices)
    by_status = Counter(n.status.value for n in notices)
    head = {
        "format": PLAN_FORMAT,
        "commission": deployment.commission.id,
        "now": _iso_utc(now),
        "counts": {
            "notices": len(notices),
            "by_kind": dict(sorted(by_kind.items())),
            "by_status": dict(sorted(by_status.items())),
        },
    }
    yield json.dumps(head, ensure_ascii=False, indent=2)[:-2] + ',\n  "notices": ['
    delegates = deployment.delegates
    for i, n in enumerate(notices):
        d = delegates[n.delegate_id]
        local = n.due_at.astimezone(zone(d.timezone))
        item = {
            "key": n.key,
            "kind": n.kind.value,
            "status": n.status.value,
            "due": _iso_utc(n.due_at),
            "local": local.isoformat(),
            "timezone": d.timezone,
            "session": n.session_id,
            "delegate": d.id,
            "state": d.state,
            "agency": d.agency,
            "role": d.role.value,
            "language": d.language,
            "channels": list(n.channels),
            "detail": n.detail,
        }
        yield ("\n    " if i == 0 else ",\n    ") + json.dumps(item, ensure_ascii=False)
    yield "\n  ]\n}\n"


_STATUS_MARK = {NoticeStatus.SCHEDULED: " ", NoticeStatus.DUE: "!", NoticeStatus.STALE: "-"}


def plan_text(deployment: Deployment, notices: list[Notice], now: datetime, color: bool = False) -> Iterator[str]:
    """Yield the plan as lines for a terminal, grouped by day (UTC), with each recipient's local time."""

    def bold(text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if color else text

    def dim(text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if color else text

    commission = deployment.commission
    yield bold(f"Plan for {commission.id}: {len(notices)} notices, as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
    yield "  time UTC   ! = due now (late, still useful)   - = stale (recorded, not sent)"
    if not notices:
        yield ""
        yield "Nothing left to send."
        return
    width_session = max(len(s) for s in deployment.sessions)
    width_delegate = max(len(deployment.delegate_label(n.delegate_id)) for n in notices[:2000])
    day = None
    for n in notices:
        utc = n.due_at.astimezone(UTC)
        if utc.date() != day:
            day = utc.date()
            yield ""
            yield bold(format_date(day, format="full", locale="en"))
        d = deployment.delegates[n.delegate_id]
        local = n.due_at.astimezone(zone(d.timezone))
        local_text = f"{local:%H:%M}" if local.date() == day else f"{local:%d %b %H:%M}"
        line = (
            f"  {utc:%H:%M} {_STATUS_MARK[n.status]} {n.kind.value:<12} {n.session_id:<{width_session}}  "
            f"{deployment.delegate_label(d.id):<{width_delegate}}  {local_text:>12} {d.timezone:<15} "
            f"{', '.join(n.channels) or 'no channel'}"
        )
        yield dim(line) if n.status is NoticeStatus.STALE else line
    counts = Counter(n.kind.value for n in notices)
    statuses = Counter(n.status.value for n in notices)
    yield ""
    yield "By kind: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    yield "By status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
