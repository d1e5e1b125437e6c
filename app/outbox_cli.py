"""``plenary outbox``: what is still to be delivered or was given up, and why; ``retry`` puts one back."""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from config.settings import Settings
from domain.records import OutboxEntry

if TYPE_CHECKING:
    from app.bootstrap import Services
    from services.outbox import OutboxService

outbox_cli = typer.Typer(
    help="Deliveries pending, in flight or failed, with their reasons; `retry KEY…` puts failed ones back.",
    invoke_without_command=True,
)


def _services() -> tuple[Services, OutboxService]:
    # Imported here: the command line starts without loading every adapter.
    from app.bootstrap import bootstrap
    from app.clock import SystemClock
    from services.outbox import OutboxService

    services = bootstrap(Settings(), SystemClock(), channels={})
    return services, OutboxService(services.store.outbox, services.store.audit, services.clock)


async def _migrated() -> None:
    from storage.migrate import upgrade

    await upgrade(Settings().resolved_database_url())


def _row(entry: OutboxEntry) -> dict[str, object]:
    return {
        "key": entry.key,
        "kind": entry.kind,
        "session": entry.session_id,
        "delegate": entry.delegate_id,
        "status": entry.status.value,
        "channels": list(entry.channels),
        "attempts": entry.attempts,
        "due": entry.due_at.isoformat(),
        "next_attempt": entry.next_attempt_at.isoformat() if entry.next_attempt_at else None,
        "reason": entry.last_error,
    }


@outbox_cli.callback()
def outbox(
    ctx: typer.Context,
    failed: Annotated[bool, typer.Option("--failed", help="Only the deliveries given up.")] = False,
    session: Annotated[str | None, typer.Option(help="Only this session's deliveries.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many rows.", min=1)] = 1000,
) -> None:
    """List pending and failed deliveries with the reason of their last failure."""
    if ctx.invoked_subcommand is not None:
        return

    async def gather() -> list[OutboxEntry]:
        await _migrated()
        services, use_case = _services()
        try:
            return await use_case.entries(failed_only=failed, session_id=session, limit=limit)
        finally:
            await services.store.engine.dispose()

    entries = asyncio.run(gather())
    if as_json:
        typer.echo(json.dumps([_row(e) for e in entries], ensure_ascii=False, indent=2))
        return
    console = Console(soft_wrap=False)
    if not entries:
        console.print("Nothing failed." if failed else "Nothing pending or failed: every notice due was delivered.")
        return
    table = Table(title=f"{len(entries)} deliveries {'failed' if failed else 'pending or failed'}", expand=False)
    for column in ("key", "status", "attempts", "next attempt (UTC)", "reason"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        next_at = entry.next_attempt_at.strftime("%Y-%m-%d %H:%M") if entry.next_attempt_at else ""
        table.add_row(entry.key, entry.status.value, str(entry.attempts), next_at, entry.last_error or "")
    console.print(table)


@outbox_cli.command("retry")
def retry(
    keys: Annotated[list[str], typer.Argument(help="Keys of failed deliveries (see `plenary outbox --failed`).")],
) -> None:
    """Put failed deliveries back: due now, on their first channel, with fresh retry budgets."""

    async def run() -> tuple[list[str], list[str]]:
        await _migrated()
        services, use_case = _services()
        try:
            return await use_case.retry(keys)
        finally:
            await services.store.engine.dispose()

    retried, refused = asyncio.run(run())
    for key in retried:
        typer.echo(f"retrying {key}: a running service sends it within seconds")
    for key in refused:
        typer.echo(f"error: {key} is not a failed delivery (see `plenary outbox --failed`)", err=True)
    if refused:
        raise typer.Exit(1)
