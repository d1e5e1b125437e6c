"""``plenary links``: every delegate's personal links, and revoking one (``--rotate``)."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from app.cli_common import PathsArg, load_or_exit
from config.settings import Settings


def links(
    paths: PathsArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    rotate: Annotated[
        list[str] | None, typer.Option(help="Revoke this delegate's (or delegation's STATE) link and issue a new one.")
    ] = None,
) -> None:
    """List every delegate's calendar-feed links (https and webcal); --rotate revokes and reissues one."""
    import csv
    import json

    from app.bootstrap import bootstrap
    from app.clock import SystemClock
    from app.secrets import server_secret
    from domain.links import LinkScope
    from storage.migrate import upgrade

    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    settings = Settings()
    for subject in rotate or ():
        if subject not in deployment.delegates and subject not in deployment.states:
            raise typer.BadParameter(f"unknown delegate or state {subject!r}", param_hint="--rotate")

    async def gather() -> list[dict[str, str]]:
        await upgrade(settings.resolved_database_url())
        services = bootstrap(settings, SystemClock(), channels={})
        try:
            for subject in rotate or ():
                scope = LinkScope.DELEGATE if subject in deployment.delegates else LinkScope.DELEGATION
                await services.links.rotate(scope, subject)
            generations = await services.store.links.generations()
            services.feeds.secret = await server_secret(settings, services.store, services.clock)
        finally:
            await services.store.engine.dispose()
        service = services.feeds
        base = (settings.public_url or f"http://{settings.http_host}:{settings.http_port}").rstrip("/")
        rows = []
        for link in service.links(deployment, generations):
            path = ("/calendar/" if link.scope is LinkScope.DELEGATE else "/calendar/delegation/") + f"{link.token}.ics"
            delegate = deployment.delegates.get(link.subject)
            rows.append(
                {
                    "scope": link.scope.value,
                    "id": link.subject,
                    "state": delegate.state if delegate else link.subject,
                    "agency": (delegate.agency or "") if delegate else "",
                    "role": delegate.role.value if delegate else "",
                    "https": base + path,
                    "webcal": "webcal://" + (base + path).split("://", 1)[1],
                }
            )
        return rows

    rows = asyncio.run(gather())
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]) if rows else ["id"])
        writer.writeheader()
        writer.writerows(rows)
    else:
        for row in rows:
            label = f"{row['id']} ({row['state']}{', ' + row['role'] if row['role'] else ''})"
            typer.echo(f"{label:<36} {row['https']}")
    if rotate:
        typer.echo(
            f"rotated: {', '.join(rotate)}: their old links answer 404 at once here and within a second in a "
            "running service",
            err=True,
        )
