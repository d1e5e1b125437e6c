"""``plenary checkin-code SESSION``: the code for the hall now, and its QR code, for a screen at the entrance."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_common import PathsArg, bot_username, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from services.bindings import StartLinks


def checkin_code(
    session: Annotated[str, typer.Argument(help="The session's id.")],
    paths: PathsArg,
    qr: Annotated[
        Path | None, typer.Option("--qr", help="Write the QR code (a deep link to the bot) to this PNG file.")
    ] = None,
    follow: Annotated[bool, typer.Option("--follow", help="Print each new code as it changes, until Ctrl+C.")] = False,
) -> None:
    """Show the check-in code for a session held in person or hybrid; it changes every few minutes."""
    from domain import checkin
    from services.checkins import at_venue

    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    found = deployment.sessions.get(session)
    if found is None:
        raise typer.BadParameter(f"unknown session {session!r}: one of {', '.join(deployment.sessions)}")
    if not at_venue(found):
        raise typer.BadParameter(f"session {session!r} is not held at a venue: there is no check-in")
    secret, links = asyncio.run(_secret_and_links(Settings()))
    while True:
        shown = checkin.current(secret, session, datetime.now(UTC))
        link = links.url(checkin.PREFIX + shown.code)
        typer.echo(f"{shown.code}  valid until {shown.until:%H:%M:%S} UTC" + (f"  {link}" if link else ""))
        if qr is not None:
            if link is None:
                raise typer.BadParameter("the QR code needs the bot: set TELEGRAM_BOT_USERNAME", param_hint="--qr")
            import segno

            segno.make(link, error="m").save(str(qr), scale=10, border=4)
        if not follow:
            return
        time.sleep(max(1.0, (shown.until - datetime.now(UTC)).total_seconds()))


async def _secret_and_links(settings: Settings) -> tuple[bytes, StartLinks]:
    """The server's secret, and the bot's deep links (no links without the bot's username)."""
    from app.bootstrap import bootstrap
    from app.clock import SystemClock
    from app.secrets import server_secret
    from storage.migrate import upgrade

    await upgrade(settings.resolved_database_url())
    services = bootstrap(settings, SystemClock(), channels={})
    try:
        secret = await server_secret(settings, services.store, services.clock)
    finally:
        await services.store.engine.dispose()
    services.start_links.bot_username = settings.telegram_bot_username or await bot_username(settings)
    return secret, services.start_links
