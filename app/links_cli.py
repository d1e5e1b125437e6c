"""``plenary links``: every delegate's personal links (calendar feed, Telegram), as text, JSON, CSV or QR codes;
``--rotate`` revokes a delegate's (or a delegation's) and issues new ones."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_common import PathsArg, bot_username, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from domain.deployment import Deployment

Row = dict[str, str | None]


def links(
    paths: PathsArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    qr: Annotated[
        Path | None,
        typer.Option(
            "--qr", help="Write one PNG QR code per delegate of their Telegram link into this folder.", file_okay=False
        ),
    ] = None,
    rotate: Annotated[
        list[str] | None,
        typer.Option(help="Revoke this delegate's links (or delegation's STATE feed link) and issue new ones."),
    ] = None,
) -> None:
    """List every delegate's personal links: calendar feed (https and webcal) and Telegram; --rotate revokes."""
    import csv
    import json

    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    settings = Settings()
    for subject in rotate or ():
        if subject not in deployment.delegates and subject not in deployment.states:
            raise typer.BadParameter(f"unknown delegate or state {subject!r}", param_hint="--rotate")
    rows, username = asyncio.run(_gather(settings, deployment, rotate or []))
    if qr is not None:
        if username is None:
            raise typer.BadParameter("the Telegram links need the bot: set TELEGRAM_BOT_USERNAME", param_hint="--qr")
        _write_qr(qr, rows)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            label = f"{row['id']} ({row['state']}{', ' + row['role'] if row['role'] else ''})"
            typer.echo(f"{label:<36} {row['https']}" + (f"  {row['telegram']}" if row["telegram"] else ""))
    if username is None and not qr:
        typer.echo("no Telegram links: set TELEGRAM_BOT_USERNAME (or TELEGRAM_BOT_TOKEN) to list them", err=True)
    if rotate:
        typer.echo(
            f"rotated: {', '.join(rotate)}: their old links stop working at once here and within a second in a "
            "running service",
            err=True,
        )


async def _gather(settings: Settings, deployment: Deployment, rotate: list[str]) -> tuple[list[Row], str | None]:
    from app.bootstrap import bootstrap
    from app.clock import SystemClock
    from app.secrets import server_secret
    from domain.feeds import webcal
    from domain.links import LinkScope
    from storage.migrate import upgrade

    await upgrade(settings.resolved_database_url())
    services = bootstrap(settings, SystemClock(), channels={})
    try:
        for subject in rotate:
            if subject in deployment.delegates:
                if await services.links.rotate_delegate(subject):
                    typer.echo(
                        f"{subject}: the Telegram account connected through the old link is disconnected; they "
                        "connect again with the new link",
                        err=True,
                    )
            else:
                await services.links.rotate(LinkScope.DELEGATION, subject)
        generations = await services.store.links.generations()
        secret = await server_secret(settings, services.store, services.clock)
        services.feeds.secret = services.start_links.secret = secret
        services.configuration.put(deployment)
        telegram = await services.start_links.tokens()
    finally:
        await services.store.engine.dispose()
    username = settings.telegram_bot_username or await bot_username(settings)
    services.start_links.bot_username = username
    base = (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")
    rows: list[Row] = []
    for link in services.feeds.links(deployment, generations):
        path = ("/calendar/" if link.scope is LinkScope.DELEGATE else "/calendar/delegation/") + f"{link.token}.ics"
        delegate = deployment.delegates.get(link.subject)
        token = telegram.get(link.subject) if delegate else None
        rows.append(
            {
                "scope": link.scope.value,
                "id": link.subject,
                "state": delegate.state if delegate else link.subject,
                "agency": (delegate.agency or "") if delegate else "",
                "role": delegate.role.value if delegate else "",
                "https": base + path,
                "webcal": webcal(base + path),
                "telegram": services.start_links.url(token) if token else None,
            }
        )
    return rows, username


def _write_qr(folder: Path, rows: list[Row]) -> None:
    """One PNG per delegate, ``<id>.png``, encoding their Telegram deep link."""
    import segno

    folder.mkdir(parents=True, exist_ok=True)
    written = 0
    for row in rows:
        link = row["telegram"]
        if row["scope"] == "delegate" and link:
            segno.make(link, error="m").save(str(folder / f"{row['id']}.png"), scale=8, border=4)
            written += 1
    typer.echo(f"wrote {written} QR codes to {folder}", err=True)
