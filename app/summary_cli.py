"""``plenary summary SESSION``: a session's summary from its facts, printed in a form (Markdown, HTML, JSON, the
PDF annex, the chart), kept in the archive under the data directory (``--keep``), checked against the
stored attendance (``--verify``), corrected (``--edit FILE``) or sent again corrected (``--reissue``)."""

from __future__ import annotations

import asyncio
import getpass
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli_common import PathsArg, load_or_exit
from config.settings import Settings

if TYPE_CHECKING:
    from domain.deployment import Deployment
    from domain.summary_changes import Correction
    from domain.summary_edits import SummaryEdits
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
    edit: Annotated[
        Path | None,
        typer.Option(
            "--edit",
            help="Record the corrections in this YAML file (attendance:, decisions:), then send the new draft to "
            "review, or the corrected summary once published.",
        ),
    ] = None,
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
    if binary and output is None and sys.stdout.isatty() and not (keep or verify or reissue or edit):
        raise typer.BadParameter(f"--format {form} is binary: give --output FILE, or redirect the output")
    edits = _edits(str(edit), deployment, session) if edit is not None else None
    request = _Request(session, form, public_variant, language, keep, verify, reissue, edits)
    code, data = asyncio.run(_run(Settings(), deployment, request))
    if data.startswith(b"error: "):
        sys.stderr.buffer.write(data)
    elif output is not None:
        output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    raise typer.Exit(code)


@dataclass(frozen=True, slots=True)
class _Request:
    session_id: str
    form: str
    public_variant: bool
    language: str | None
    keep: bool
    verify: bool
    reissue: bool
    edits: SummaryEdits | None


def _edits(file: str, deployment: Deployment, session_id: str) -> SummaryEdits:
    """The corrections in the file, checked against the session; every problem printed, and exit 1 (nothing
    recorded) when there is one."""
    from config.edits import locate, read_edits

    edits, doc, problems = read_edits(file)
    if edits is not None and doc is not None:
        session = deployment.sessions[session_id]
        invited = set(deployment.invitations.get(session_id, ()))
        problems = locate(doc, edits.problems(invited, len(session.agenda)))
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems or edits is None:
        typer.echo(f"{len(problems)} error(s) in {file}: nothing was recorded.", err=True)
        raise typer.Exit(1)
    return edits


async def _run(settings: Settings, base: Deployment, request: _Request) -> tuple[int, bytes]:
    from app.offline import offline
    from services.summaries import SummaryRefused

    async with offline(settings, base, f"cli:{getpass.getuser()}") as parts:
        service, session_id = parts.summaries, request.session_id
        try:
            if request.edits is not None:
                return await _edit(service, session_id, request.edits)
            if request.reissue:
                done = await service.reissue(session_id)
                if done is None:
                    return 0, b"nothing changed since the summary was published: nothing was sent\n"
                return 0, _corrected(*done)
        except SummaryRefused as exc:
            return 1, f"error: {exc}\n".encode()
        if request.verify:
            same, kept, now = await service.verify(session_id)
            verdict = "the stored attendance is the one summarised" if same else "the attendance changed since"
            return (0 if same else 1), f"kept   {kept}\nstored {now}\n{verdict}\n".encode()
        if request.keep:
            kept_files = await service.keep(session_id)
            return 0, "".join(f"{name:<24} {path}\n" for name, path in kept_files.files.items()).encode()
        summary = await service.compose(session_id, public_variant=request.public_variant)
        return 0, service.render(summary, request.form, request.language)


async def _edit(service: SummaryService, session_id: str, edits: SummaryEdits) -> tuple[int, bytes]:
    from services.summary_review import SummaryReview

    done = await SummaryReview(service).edit(session_id, edits, f"cli:{getpass.getuser()}")
    said = {
        "draft": "a new draft goes to the secretariat's accounts to review and publish",
        "unchanged": "the published summary says the same: nothing was sent",
        "recorded": "the summary, when it is published, will say so",
    }
    head = f"{done.recorded} correction(s) recorded"
    if done.outcome == "corrected" and done.correction is not None:
        return 0, f"{head}; ".encode() + _corrected(done.version, done.correction)
    return 0, f"{head}; {said[done.outcome]}\n".encode()


def _corrected(version: int, correction: Correction) -> bytes:
    lines = [f"version {version} published and queued for the readers of the summary; what changed:"]
    lines += [f"  {d.kind} {d.subject}: {d.before or '-'} -> {d.after or '-'}" for d in correction.differences]
    return ("\n".join(lines) + "\n").encode()
