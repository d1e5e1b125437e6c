"""What the commands of the command line share: the configuration's paths, read and checked once."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from config.loader import LoadResult, load
from messages import catalogues

PathsArg = Annotated[
    list[str],
    typer.Argument(help="YAML files or directories (read recursively); together they form one configuration."),
]


def load_or_exit(paths: list[str]) -> LoadResult:
    """Load and check the configuration, printing every problem; exit 1 (changing nothing) on an error."""
    result = load(paths, os.environ, catalogues.languages())
    for problem in result.problems:
        typer.echo(str(problem), err=problem.severity == "warning" and result.deployment is not None)
    if result.deployment is None:
        errors, warnings = len(result.errors), len(result.warnings)
        typer.echo(
            f"{errors} error(s), {warnings} warning(s) in {len(result.files)} file(s): nothing was changed.", err=True
        )
        raise typer.Exit(1)
    return result
