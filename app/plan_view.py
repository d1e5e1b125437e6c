"""How a plan is shown: grouped by day for a terminal, or as documented JSON for other tools."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from itertools import islice
from typing import Any, TextIO

from babel.dates import format_date, format_datetime
from rich.console import Console, ConsoleOptions, RenderResult
from rich.segment import Segment
from rich.style import Style

from domain.changes import changes as changes_between
from domain.delivery import Change
from domain.deployment import Deployment
from domain.ledger import Ledger
from domain.notices import Notice, NoticeKind, NoticeStatus
from domain.values import to_utc, zone
from scheduler.plan import Announced

PLAN_FORMAT = "plenary.plan/1"

_JSON_CHUNK = 16_384
"""Encoder pieces joined per write: the pure-Python encoder yields one piece per token."""
_TEXT_CHUNK = 2_000
"""Lines per call to rich's ``print``: printing each line on its own costs rich about 80 µs a line."""
_STYLES = {"": None, "bold": Style(bold=True), "dim": Style(dim=True)}
_CONTROLS = dict.fromkeys([*range(32), 127], " ")
"""Control characters (escape sequences, line breaks) in configured texts become spaces on a line of their own."""


def update_changes(ledger: Ledger | None, announced: Announced, notices: Sequence[Notice]) -> dict[str, list[Change]]:
    """What each session's pending update will list: its last announced facts against the configuration's."""
    wanted = {n.session_id for n in notices if n.kind is NoticeKind.UPDATE}
    out: dict[str, list[Change]] = {}
    for session_id in sorted(wanted):
        record = ledger.sessions.get(session_id) if ledger else None
        if record is not None:
            out[session_id] = changes_between(dict(record.snapshot), announced.snapshots[session_id])
    return out


def _iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _notice_objects(
    deployment: Deployment, notices: Sequence[Notice], changes: Mapping[str, Sequence[Change]]
) -> list[dict[str, Any]]:
    delegates = deployment.delegates
    # Notices come by the thousand per due time and zone: each instant is formatted once.
    utc_text: dict[datetime, str] = {}
    local_text: dict[tuple[datetime, str], str] = {}
    change_objects = {
        session_id: [{"field": c.field, "old": c.old, "new": c.new} for c in listed]
        for session_id, listed in changes.items()
    }
    out: list[dict[str, Any]] = []
    for n in notices:
        d = delegates.get(n.delegate_id)  # None for a chat (a summary's draft to the secretariat)
        timezone = d.timezone if d is not None else deployment.commission.timezone
        due = utc_text.get(n.due_at)
        if due is None:
            due = utc_text[n.due_at] = _iso_utc(n.due_at)
        local = local_text.get((n.due_at, timezone))
        if local is None:
            local = local_text[(n.due_at, timezone)] = n.due_at.astimezone(zone(timezone)).isoformat()
        item: dict[str, Any] = {
            "key": n.key,
            "kind": n.kind.value,
            "status": n.status.value,
            "due": due,
            "local": local,
            "timezone": timezone,
            "session": n.session_id,
            "delegate": n.delegate_id,
            "state": d.state if d is not None else None,
            "agency": d.agency if d is not None else None,
            "role": d.role.value if d is not None else None,
            "language": d.language if d is not None else deployment.commission.language,
            "channels": n.channels,
            "detail": n.detail,
        }
        if n.sequence is not None:
            item["sequence"] = n.sequence
        if n.kind is NoticeKind.UPDATE:
            item["changes"] = change_objects.get(n.session_id, [])
        out.append(item)
    return out


def plan_document(
    deployment: Deployment,
    notices: Sequence[Notice],
    now: datetime,
    changes: Mapping[str, Sequence[Change]] | None = None,
) -> dict[str, Any]:
    """The plan as plain data, the ``plenary.plan/1`` document of docs/plan-json.md."""
    by_kind = Counter(n.kind.value for n in notices)
    by_status = Counter(n.status.value for n in notices)
    return {
        "format": PLAN_FORMAT,
        "commission": deployment.commission.id,
        "now": _iso_utc(now),
        "counts": {
            "notices": len(notices),
            "by_kind": dict(sorted(by_kind.items())),
            "by_status": dict(sorted(by_status.items())),
        },
        "notices": _notice_objects(deployment, notices, changes or {}),
    }


def plan_json(
    deployment: Deployment,
    notices: Sequence[Notice],
    now: datetime,
    changes: Mapping[str, Sequence[Change]] | None = None,
) -> Iterator[str]:
    """Yield the JSON document of a plan in chunks (format ``plenary.plan/1``, see docs/plan-json.md)."""
    document = plan_document(deployment, notices, now, changes)
    pieces = json.JSONEncoder(ensure_ascii=False, indent=2).iterencode(document)
    while chunk := "".join(islice(pieces, _JSON_CHUNK)):
        yield chunk
    yield "\n"


def plan_console(file: TextIO) -> Console:
    """A console for the plan: styles only on a terminal without NO_COLOR, long lines never wrapped."""
    plain = bool(os.environ.get("NO_COLOR"))
    return Console(
        file=file,
        color_system=None if plain else "auto",
        soft_wrap=True,
        highlight=False,
        markup=False,
        emoji=False,
    )


_STATUS_MARK = {NoticeStatus.SCHEDULED: " ", NoticeStatus.DUE: "!", NoticeStatus.STALE: "-"}


def print_plan(
    console: Console,
    deployment: Deployment,
    notices: Sequence[Notice],
    now: datetime,
    changes: Mapping[str, Sequence[Change]] | None = None,
) -> None:
    """Print the plan grouped by day (UTC), with each recipient's local time and what each update will say."""
    lines = _plan_lines(deployment, notices, now, changes or {})
    while batch := list(islice(lines, _TEXT_CHUNK)):
        console.print(_Lines(batch))


class _Lines:
    """Lines laid out already, each with its style: rich styles and writes them, without measuring or wrapping."""

    def __init__(self, lines: Iterable[tuple[str, str]]) -> None:
        self.lines = lines

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        """Yield each line as one segment and a line break."""
        newline = Segment.line()
        for line, style in self.lines:
            yield Segment(line, _STYLES[style])
            yield newline


def _plan_lines(
    deployment: Deployment, notices: Sequence[Notice], now: datetime, changes: Mapping[str, Sequence[Change]]
) -> Iterator[tuple[str, str]]:
    """The lines of the plan, each with its rich style ('' for none)."""
    commission = deployment.commission
    yield f"Plan for {commission.id}: {len(notices)} notices, as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC", "bold"
    yield "  time UTC   ! = due now (late, still useful)   - = stale (recorded, not sent)", ""
    if not notices:
        yield "", ""
        yield "Nothing left to send.", ""
        return
    width_session = max(len(s) for s in deployment.sessions)
    width_delegate = max(len(deployment.delegate_label(n.delegate_id)) for n in notices[:2000])
    day: date | None = None
    told: set[str] = set()
    for index, n in enumerate(notices):
        utc = n.due_at.astimezone(UTC)
        if utc.date() != day:
            day = utc.date()
            yield "", ""
            yield format_date(day, format="full", locale="en"), "bold"
        d = deployment.delegates.get(n.delegate_id)
        timezone = d.timezone if d is not None else commission.timezone
        local = n.due_at.astimezone(zone(timezone))
        local_text = f"{local:%H:%M}" if local.date() == day else f"{local:%d %b %H:%M}"
        line = (
            f"  {utc:%H:%M} {_STATUS_MARK[n.status]} {n.kind.value:<12} {n.session_id:<{width_session}}  "
            f"{deployment.delegate_label(n.delegate_id):<{width_delegate}}  {local_text:>12} {timezone:<15} "
            f"{', '.join(n.channels) or 'no channel'}"
        )
        yield line, "dim" if n.status is NoticeStatus.STALE else ""
        if n.kind is NoticeKind.UPDATE and n.session_id not in told and _last_update(notices, index):
            told.add(n.session_id)
            zone_name = deployment.sessions[n.session_id].timezone
            for change_line in change_lines(changes.get(n.session_id, []), zone_name):
                yield change_line.translate(_CONTROLS), ""
    counts = Counter(n.kind.value for n in notices)
    statuses = Counter(n.status.value for n in notices)
    yield "", ""
    yield "By kind: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), ""
    yield "By status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())), ""


def _last_update(notices: Sequence[Notice], index: int) -> bool:
    """True when the next notice is not an update of the same session (its changes go under the last one)."""
    if index + 1 == len(notices):
        return True
    here, after = notices[index], notices[index + 1]
    return after.kind is not NoticeKind.UPDATE or after.session_id != here.session_id


def change_lines(changes: Sequence[Change], zone_name: str) -> list[str]:
    """What an update lists, one change a line (``start: … → …``), times in the session's zone."""
    if not changes:
        return ["    (what changed since the last announcement is not on record)"]
    zones = {c.field: c for c in changes}.get("timezone")
    old_zone = zones.old if zones else zone_name
    new_zone = zones.new if zones else zone_name
    out: list[str] = []
    for c in changes:
        if c.field == "agenda":
            before = [line for line in c.old.split("\n") if line.strip()]
            after = [line for line in c.new.split("\n") if line.strip()]
            out.append(f"    agenda: {_items(len(before))} → {_items(len(after))}")
            out.extend(f"      + {line}" for line in after if line not in before)
            out.extend(f"      - {line}" for line in before if line not in after)
        elif c.field in ("start", "end"):
            out.append(f"    {c.field}: {_wall_time(c.old, old_zone)} → {_wall_time(c.new, new_zone)}")
        else:
            out.append(f"    {c.field}: {c.old or '(none)'} → {c.new or '(none)'}")
    return out


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def _wall_time(value: str, zone_name: str) -> str:
    """A session's local time as the secretariat wrote it, with its weekday and zone (the raw value if odd)."""
    try:
        local = datetime.fromisoformat(value)
        at = to_utc(local, zone_name).astimezone(zone(zone_name)) if local.tzinfo is None else local
    except (ValueError, KeyError):
        return value or "(none)"
    return f"{format_datetime(at, 'EEE d MMM y HH:mm', locale='en')} {zone_name}"
