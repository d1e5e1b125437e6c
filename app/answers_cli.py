"""``plenary answers SESSION``: every invited delegate's answer on record, with where and when it was given."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_common import PathsArg, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from domain.deployment import Deployment
    from domain.records import Rsvp

Row = dict[str, str | None]


def answers(
    session: Annotated[str, typer.Argument(help="The session's id.")],
    paths: PathsArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the answers to a session's invitation: by state and agency, each with its source (telegram, web,
    calendar, secretariat) and time; those invited who have not answered are listed too."""
    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    if session not in deployment.sessions:
        raise typer.BadParameter(f"unknown session {session!r}: one of {', '.join(deployment.sessions)}")
    effective, recorded = asyncio.run(_read(Settings(), deployment, session))
    rows = _rows(effective, session, recorded)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        label = f"{row['state']} {row['agency'] or '-'} {row['delegate']}"
        given = (row["answer"] or "no answer") + (f" → {row['substitute']}" if row["substitute"] else "")
        when = f"{row['source']}, {row['answered_at']}" if row["answer"] else ""
        typer.echo(f"{label:<40} {given:<24} {when}".rstrip())
    counts = Counter(row["answer"] or "no answer" for row in rows)
    sources = Counter(row["source"] for row in rows if row["source"])
    typer.echo(
        f"{len(rows)} invited: "
        + ", ".join(f"{answer} {n}" for answer, n in sorted(counts.items()))
        + ("; by " + ", ".join(f"{source} {n}" for source, n in sorted(sources.items())) if sources else "")
    )


async def _read(settings: Settings, deployment: Deployment, session_id: str) -> tuple[Deployment, dict[str, Rsvp]]:
    """The configuration with the substitutions and delegates' own choices laid over it, and the answers."""
    from domain.roster import effective
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    url = settings.resolved_database_url()
    await upgrade(url)
    store = Store(create_engine(url))
    try:
        substitutions = await store.substitutions.for_session()
        preferences = await store.preferences.all()
        recorded = {r.delegate_id: r for r in await store.answers.for_session(session_id)}
    finally:
        await store.engine.dispose()
    return effective(deployment, substitutions, preferences), recorded


def _rows(deployment: Deployment, session_id: str, recorded: dict[str, Rsvp]) -> list[Row]:
    from domain.values import localize

    language = deployment.commission.language
    rows: list[Row] = []
    for delegate_id in deployment.invitations.get(session_id, ()):
        delegate = deployment.delegates[delegate_id]
        rsvp = recorded.get(delegate_id)
        rows.append(
            {
                "state": delegate.state,
                "agency": delegate.agency,
                "delegate": delegate_id,
                "name": localize(delegate.name, language, language),
                "answer": rsvp.answer.value if rsvp else None,
                "substitute": rsvp.substitute_id if rsvp else None,
                "source": rsvp.source.value if rsvp else None,
                "answered_at": rsvp.answered_at.isoformat() if rsvp else None,
            }
        )
    return sorted(rows, key=lambda r: (r["state"] or "", r["agency"] or "", r["delegate"] or ""))
