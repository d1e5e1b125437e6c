"""Reading a file of corrections to a summary (``plenary summary SESSION CONFIG --edit FILE``), every problem with
its line and column, as the configuration's are::

    attendance:
      - delegate: kgz-asanov
        presence: remote          # in-person, remote or absent
        note: joined by phone
    decisions:
      - item: 2
        text: Approve the plan of joint research for 2023.
"""

from __future__ import annotations

from collections.abc import Sequence, Set

from pydantic import ValidationError

from config.loader import Located
from config.yamlsource import Path, YamlDocument, key_node_at, node_at, read_yaml
from domain.deployment import format_path
from domain.summary_edits import SummaryEdits


def read_edits(file: str) -> tuple[SummaryEdits | None, YamlDocument | None, list[Located]]:
    """The corrections in ``file``, its document (to place later problems), or what is wrong with it."""
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not UTF-8 text"
        return None, None, [Located(file, 1, 1, "", f"cannot read the file: {reason}")]
    doc = read_yaml(file, text, {})
    problems = [Located(p.file, p.line, p.column, format_path(p.path), p.message) for p in doc.problems]
    if problems:
        return None, doc, problems
    if doc.root is None:
        return None, doc, [Located(file, 1, 1, "", "the file is empty: give `attendance:` or `decisions:`")]
    try:
        edits = SummaryEdits.model_validate(doc.data)
    except ValidationError as exc:
        errors = [(tuple(error["loc"]), _message(error)) for error in exc.errors()]
        keys = {tuple(error["loc"]) for error in exc.errors() if error["type"] == "extra_forbidden"}
        return None, doc, locate(doc, errors, keys)
    return edits, doc, []


def locate(doc: YamlDocument, problems: Sequence[tuple[Path, str]], keys: Set[Path] = frozenset()) -> list[Located]:
    """Each problem at the place in the file its path names (the nearest one that is there; for a path in
    ``keys``, an unknown key, the key itself)."""
    found = []
    for path, message in problems:
        node = key_node_at(doc.root, path, doc.keys) if path in keys else node_at(doc.root, path, doc.keys)[0]
        line, column = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        found.append(Located(doc.file, line, column, format_path(path), message))
    return found


def _message(error: object) -> str:
    assert isinstance(error, dict)
    if error.get("type") == "extra_forbidden":
        return "unknown key: the file has `attendance:` (delegate, presence, note) and `decisions:` (item, text)"
    return str(error.get("msg", "not valid"))
