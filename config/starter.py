"""A commented starter configuration whose sessions lie in the coming weeks."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from importlib import resources
from pathlib import Path

from jinja2 import Environment, StrictUndefined


class StarterExistsError(Exception):
    """The target directory already holds files the starter would overwrite."""


def _templates() -> list[tuple[str, str]]:
    root = resources.files("config") / "starter"
    found: list[tuple[str, str]] = []
    for sub in ("", "delegations", "sessions"):
        folder = root / sub if sub else root
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".yaml.j2"):
                found.append((f"{sub}/{entry.name}" if sub else entry.name, entry.read_text(encoding="utf-8")))
    return found


def write_starter(target: Path, today: date, force: bool = False) -> list[Path]:
    """Write the starter files under ``target`` for sessions after ``today``; return the files written."""

    def at(days: int, hour: int) -> str:
        return datetime.combine(today + timedelta(days=days), time(hour)).strftime("%Y-%m-%dT%H:%M")

    values = {
        "dir": str(target),
        "wg_start": at(4, 10),
        "wg_end": at(4, 13),
        "plenary_start": at(23, 14),
        "plenary_end": at(23, 17),
        "deadline": at(18, 18),
    }
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    planned = [(target / name.removesuffix(".j2"), env.from_string(text).render(values)) for name, text in _templates()]
    existing = [path for path, _ in planned if path.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise StarterExistsError(f"{names} already exist(s); use --force to overwrite")
    for path, text in planned:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return [path for path, _ in planned]
