"""The ``plenary`` command line."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from app.answers_cli import answers
from app.attendance_cli import attendance_command
from app.checkin_cli import checkin_code
from app.cli_common import PathsArg, load_or_exit
from app.links_cli import links
from app.outbox_cli import outbox_cli
from app.plan_view import plan_console, plan_json, print_plan, update_changes
from app.summary_cli import summary_command
from config.settings import Settings
from config.starter import StarterExistsError, write_starter
from domain.ledger import Ledger
from domain.notices import NoticeKind
from scheduler.plan import announce
from scheduler.plan import plan as plan_notices

cli = typer.Typer(
    name="plenary",
    help="Plenary runs the sessions of an intergovernmental commission from the secretariat's YAML.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(
    help="Manage the database (SQLite by default, PostgreSQL by PLENARY_DATABASE_URL).", no_args_is_help=True
)
cli.add_typer(db_cli, name="db")
cli.add_typer(outbox_cli, name="outbox")
cli.command()(links)
cli.command("checkin-code")(checkin_code)
cli.command()(answers)
cli.command("attendance")(attendance_command)
cli.command("summary")(summary_command)


def _parse_now(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an ISO 8601 time, e.g. 2022-10-01T00:00:00Z") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"{value!r} has no offset: add Z for UTC or +03:00, e.g. 2022-10-01T00:00:00Z")
    return moment.astimezone(UTC)


async def _read_ledger(settings: Settings) -> Ledger | None:
    """The delivery record of the service's database, if there is one; never creates a database."""
    from storage.engine import create_engine
    from storage.migrate import current_revision
    from storage.repositories import Store

    url = settings.resolved_database_url()
    if settings.database_url is None and not (settings.data_dir / "plenary.db").exists():
        return None
    if await current_revision(url) is None:
        return None
    engine = create_engine(url)
    try:
        return await Store(engine).outbox.ledger()
    finally:
        await engine.dispose()


@cli.command()
def validate(paths: PathsArg) -> None:
    """Check the configuration; print every problem as FILE:LINE:COL: path: message."""
    result = load_or_exit(paths)
    d = result.deployment
    assert d is not None
    invitations = sum(len(v) for v in d.invitations.values())
    typer.echo(
        f"OK: {d.commission.id}: {len(d.states)} states, {len(d.agencies)} agencies, {len(d.delegates)} delegates, "
        f"{len(d.sessions)} sessions, {invitations} invitations; {len(result.warnings)} warning(s) "
        f"in {len(result.files)} file(s)"
    )


@cli.command()
def plan(
    paths: PathsArg,
    now: Annotated[
        str | None, typer.Option(help="Plan as of this instant (ISO 8601 with offset, e.g. 2022-10-01T00:00:00Z).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the documented JSON form (docs/plan-json.md).")
    ] = False,
    session: Annotated[list[str] | None, typer.Option(help="Only this session (repeatable).")] = None,
    delegate: Annotated[list[str] | None, typer.Option(help="Only this delegate (repeatable).")] = None,
    kind: Annotated[list[NoticeKind] | None, typer.Option(help="Only this kind of notice (repeatable).")] = None,
    hide_stale: Annotated[bool, typer.Option(help="Leave out notices too late to be worth sending.")] = False,
    ledger: Annotated[
        bool,
        typer.Option(help="Leave out what the service's database says was already delivered (when it has one)."),
    ] = True,
) -> None:
    """Print every notice the configuration implies: when, to whom, about what, through which channels."""
    moment = _parse_now(now)
    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    record = asyncio.run(_read_ledger(Settings())) if ledger else None
    for name, wanted, known in (
        ("session", session, deployment.sessions),
        ("delegate", delegate, deployment.delegates),
    ):
        for value in wanted or ():
            if value not in known:
                raise typer.BadParameter(f"unknown {name} {value!r}", param_hint=f"--{name}")
    announced = announce(deployment, record or Ledger(), moment)
    notices = plan_notices(deployment, moment, record, announced)
    if session:
        notices = [n for n in notices if n.session_id in session]
    if delegate:
        notices = [n for n in notices if n.delegate_id in delegate]
    if kind:
        notices = [n for n in notices if n.kind in kind]
    if hide_stale:
        notices = [n for n in notices if n.status.value != "stale"]
    changes = update_changes(record, announced, notices)
    if as_json:
        sys.stdout.writelines(plan_json(deployment, notices, moment, changes))
    else:
        print_plan(plan_console(sys.stdout), deployment, notices, moment, changes)


@cli.command()
def run(
    paths: PathsArg,
    clock_start: Annotated[
        str | None,
        typer.Option(help="Run on a simulated clock starting at this instant (ISO 8601 with offset)."),
    ] = None,
    clock_speed: Annotated[
        float, typer.Option(help="How many times faster the simulated clock runs.", min=0.001)
    ] = 1.0,
    until: Annotated[
        str | None, typer.Option(help="Stop when the service's clock passes this instant (ISO 8601 with offset).")
    ] = None,
    watch: Annotated[bool, typer.Option(help="Reload when a configuration file changes (SIGHUP always does).")] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
) -> None:
    """Run the service: send every notice on time through Telegram and e-mail until stopped."""
    from app import logs
    from app.clock import SimulatedClock, SystemClock
    from app.service import Service, serve

    settings = Settings()
    logs.configure(getattr(logging, log_level.upper(), logging.INFO), settings.log_format, sys.stderr)
    start = _parse_now(clock_start) if clock_start else None
    if clock_speed != 1.0 and start is None:
        raise typer.BadParameter("--clock-speed needs --clock-start", param_hint="--clock-speed")
    clock = SimulatedClock(start, clock_speed) if start else SystemClock()
    stop_at = _parse_now(until) if until else None
    service = Service(settings=settings, paths=paths, clock=clock, environ=dict(os.environ))
    raise typer.Exit(asyncio.run(serve(service, watch=watch, until=stop_at)))


@cli.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the starter configuration.")],
    force: Annotated[bool, typer.Option(help="Overwrite files that already exist.")] = False,
) -> None:
    """Write a commented starter configuration whose sessions lie in the coming weeks."""
    try:
        written = write_starter(directory, datetime.now(UTC).date(), force=force)
    except StarterExistsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(f"Next: plenary validate {directory} && plenary plan {directory}")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every database migration (creates the SQLite file when needed)."""
    from storage.migrate import upgrade

    settings = Settings()
    asyncio.run(upgrade(settings.resolved_database_url()))
    typer.echo("database is up to date")


@db_cli.command("current")
def db_current() -> None:
    """Print the migration revision the database is at."""
    from storage.migrate import current_revision

    settings = Settings()
    revision = asyncio.run(current_revision(settings.resolved_database_url()))
    typer.echo(revision or "empty database: run `plenary db upgrade`")


def main() -> None:
    """Run the ``plenary`` command line."""
    cli()
