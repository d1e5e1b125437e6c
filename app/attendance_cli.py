"""``plenary attendance SESSION``: who took part, by member state and agency, with the quorum; and the
secretariat's corrections (``--set DELEGATE=in-person|remote|absent``, ``--assign GUEST=DELEGATE``)."""

from __future__ import annotations

import asyncio
import dataclasses
import getpass
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli_common import PathsArg, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from domain.attendance import AttendanceTable
    from domain.deployment import Deployment

PRESENCE_WORDS = {"in_person": "in person", "remote": "remote", "briefly": "joined briefly", "absent": "absent"}


def attendance_command(
    session: Annotated[str, typer.Argument(help="The session's id.")],
    paths: PathsArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="DELEGATE=in-person|remote|absent", help="Correct a delegate's attendance."),
    ] = None,
    assign: Annotated[
        list[str] | None,
        typer.Option("--assign", metavar="GUEST=DELEGATE", help="Say which delegate a guest on the call was."),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (kept with the correction).")] = None,
    at: Annotated[str | None, typer.Option("--at", help="The table as of this ISO 8601 time (default: now).")] = None,
) -> None:
    """Print a session's attendance: by state and agency, each delegate in person, remote (minutes on the call),
    joined briefly or absent; video guests apart; the quorum and when it was first met. Corrections are recorded
    (with who and why, also in the audit log) before the table is printed."""
    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    if session not in deployment.sessions:
        raise typer.BadParameter(f"unknown session {session!r}: one of {', '.join(deployment.sessions)}")
    corrections = [_pair(item, "--set") for item in set_ or []]
    assignments = [_pair(item, "--assign") for item in assign or []]
    moment = _moment(at)
    table = asyncio.run(_run(Settings(), deployment, session, corrections, assignments, note, moment))
    if as_json:
        typer.echo(json.dumps(table_json(table), ensure_ascii=False, indent=2))
    else:
        for line in table_lines(table, deployment):
            typer.echo(line)


def _pair(item: str, option: str) -> tuple[str, str]:
    left, sign, right = item.partition("=")
    if not sign or not left.strip() or not right.strip():
        raise typer.BadParameter(f"{option} {item!r}: write it as NAME=VALUE")
    return left.strip(), right.strip()


def _moment(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"--at {value!r} is not an ISO 8601 time, e.g. 2020-11-27T10:00:00Z") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"--at {value!r} has no offset: add Z for UTC or +03:00")
    return moment.astimezone(UTC)


async def _run(
    settings: Settings,
    base: Deployment,
    session_id: str,
    corrections: list[tuple[str, str]],
    assignments: list[tuple[str, str]],
    note: str | None,
    moment: datetime | None,
) -> AttendanceTable:
    from app.offline import offline
    from services.attendance import AttendanceRefused

    async with offline(settings, base, f"cli:{getpass.getuser()}") as parts:
        service = parts.attendance
        by = f"cli:{getpass.getuser()}"
        try:
            for delegate_id, presence in corrections:
                await service.correct(session_id, delegate_id, presence, by, note)
            for guest, delegate_id in assignments:
                await service.assign(session_id, guest, delegate_id, by, note)
        except AttendanceRefused as exc:
            typer.echo(f"error: {exc}; nothing more was recorded", err=True)
            raise typer.Exit(1) from None
        table = await service.table(session_id, moment)
        assert table is not None
        return table


def table_json(table: AttendanceTable) -> dict[str, Any]:
    """The table as JSON-able values (times in ISO 8601, UTC)."""

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    out: dict[str, Any] = plain(dataclasses.asdict(table))
    return out


def table_lines(table: AttendanceTable, deployment: Deployment) -> list[str]:
    """The table as the secretariat reads it in a terminal."""
    session = deployment.sessions[table.session_id]
    when = "live" if table.live else ("over" if table.at >= session.ends_at else "not started")
    lines = [f"{table.session_id}: attendance as of {table.at:%Y-%m-%d %H:%M} UTC ({when})"]
    for state in table.states:
        t = state.tally
        mark = "represented" if state.represented else "NOT represented"
        lines.append(
            f"{state.state}  {mark}: in person {t.in_person}, remote {t.remote}, briefly {t.briefly}, absent {t.absent}"
        )
        for agency in state.agencies:
            lines.append(f"  {agency.agency or '-'}")
            for d in agency.delegates:
                minutes = f" {d.minutes:g} min" if d.minutes else ""
                extra = f" (substitute for {d.replaces})" if d.replaces else ""
                fixed = f" [corrected by {d.correction.recorded_by}]" if d.correction is not None else ""
                lines.append(f"    {d.delegate_id:<24} {PRESENCE_WORDS[d.presence.value]}{minutes}{extra}{fixed}")
    totals = table.totals
    lines.append(
        f"total: in person {totals.in_person}, remote {totals.remote}, briefly {totals.briefly}, "
        f"absent {totals.absent}, substitutes {totals.substitutes}"
    )
    q = table.quorum
    if q is None:
        lines.append("quorum: no rule set")
    else:
        first = f", first met {q.first_met_at:%H:%M} UTC" if q.first_met_at else ""
        lines.append(
            f"quorum ({q.rule}): {q.represented} of {q.states} states represented, {q.required} needed: "
            f"{'met' if q.met else 'NOT met'}{first}"
        )
    if table.guests:
        lines.append(f"guests on the call, not counted ({len(table.guests)}):")
        lines.extend(f"  {g.participant_id}  {g.name or '(no name)'}  {g.minutes:g} min" for g in table.guests)
    return lines
