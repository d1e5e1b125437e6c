"""``plenary summary SESSION``: a session's summary from its facts, printed in a form (Markdown, HTML, JSON, the
PDF annex, the chart), kept in the archive under the data directory (``--keep``), or checked against the
stored attendance (``--verify``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_common import PathsArg, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from domain.deployment import Deployment
    from services.summaries import SummaryService


def summary_command(
    session: Annotated[str, typer.Argument(help="The session's id.")],
    paths: PathsArg,
    form: Annotated[str, typer.Option("--format", help="md, html, json, pdf (the annex) or png (the chart).")] = "md",
    public_variant: Annotated[bool, typer.Option("--public", help="The press's variant: no names, no links.")] = False,
    language: Annotated[
        str | None, typer.Option("--language", help="The reader's language (default: the commission's).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write to this file instead.")] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep every form in the archive; print the files.")] = False,
    verify: Annotated[
        bool, typer.Option("--verify", help="Check the kept summary's SHA-256 against the stored attendance.")
    ] = False,
    reissue: Annotated[
        bool,
        typer.Option("--reissue", help="Publish and send a corrected summary, if anything changed since."),
    ] = False,
) -> None:
    """Print a session's summary: attendance by member state, agency and delegate (from check-ins, the video
    platform and the secretariat's corrections, never from the answers), the quorum, the agenda with its
    outcomes, deadlines, the next related session, the corrections, and the SHA-256 of the attendance events
    it was computed from."""
    from services.summaries import FORMATS

    result = load_or_exit(paths)
    deployment = result.deployment
    assert deployment is not None
    if session not in deployment.sessions:
        raise typer.BadParameter(f"unknown session {session!r}: one of {', '.join(deployment.sessions)}")
    if form not in FORMATS:
        raise typer.BadParameter(f"--format {form!r}: one of {', '.join(FORMATS)}")
    binary = form in ("pdf", "png")
    if binary and output is None and sys.stdout.isatty() and not (keep or verify or reissue):
        raise typer.BadParameter(f"--format {form} is binary: give --output FILE, or redirect the output")
    actions = (keep, verify, reissue)
    code, data = asyncio.run(_run(Settings(), deployment, session, form, public_variant, language, actions))
    if data.startswith(b"error: "):
        sys.stderr.buffer.write(data)
    elif output is not None:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    raise typer.Exit(code)


async def _run(
    settings: Settings,
    base: Deployment,
    session_id: str,
    form: str,
    public_variant: bool,
    language: str | None,
    actions: tuple[bool, bool, bool],
) -> tuple[int, bytes]:
    from services.summaries import SummaryRefused
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    url = settings.resolved_database_url()
    await upgrade(url)
    store = Store(create_engine(url))
    try:
        service = await _service(settings, store, base)
        keep, verify, reissue = actions
        if reissue:
            try:
                done = await service.reissue(session_id)
            except SummaryRefused as exc:
                return 1, f"error: {exc}\n".encode()
            if done is None:
                return 0, b"nothing changed since the summary was published: nothing was sent\n"
            version, correction = done
            lines = [f"version {version} published and queued for the readers of the summary; what changed:"]
            lines += [f"  {d.kind} {d.subject}: {d.before or '-'} -> {d.after or '-'}" for d in correction.differences]
            return 0, ("\n".join(lines) + "\n").encode()
        if verify:
            same, kept, now = await service.verify(session_id)
            verdict = "the stored attendance is the one summarised" if same else "the attendance changed since"
            return (0 if same else 1), f"kept   {kept}\nstored {now}\n{verdict}\n".encode()
        if keep:
            kept_files = await service.keep(session_id)
            return 0, "".join(f"{name:<24} {path}\n" for name, path in kept_files.files.items()).encode()
        summary = await service.compose(session_id, public_variant=public_variant)
        return 0, service.render(summary, form, language)
    finally:
        await store.close()


async def _service(settings: Settings, store: object, base: Deployment) -> SummaryService:
    from app.clock import SystemClock
    from domain.roster import effective
    from messages.summary import SummaryDocuments
    from services.attendance import AttendanceService
    from services.events import EventBus
    from services.summaries import SummaryService
    from storage.archive import FileArchive
    from storage.repositories import Store

    assert isinstance(store, Store)
    deployment = effective(base, await store.substitutions.for_session(), await store.preferences.all())
    clock = SystemClock()
    events = EventBus(store.changes, clock, "cli:summary")
    attendance = AttendanceService(
        store.attendance, events, clock, lambda: deployment, store.substitutions, store.closures
    )
    archive = FileArchive(Path(settings.data_dir) / "summaries")
    return SummaryService(
        attendance, SummaryDocuments(), clock, lambda: deployment, archive, store.summaries, store.outbox
    )
