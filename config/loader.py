"""Loading the secretariat's YAML (one or many files) into a checked deployment, with every problem located."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from yaml.nodes import Node, ScalarNode

from config.schema_errors import clean_loc, data_at, drop_noise, schema_message, scrub, shows_value
from config.yamlsource import Path, YamlDocument, discover, key_node_at, node_at, read_yaml
from domain.deployment import Deployment, Draft, Problem, build_deployment, format_path
from domain.model import Commission, Delegation, SessionSpec, State
from domain.runtime import paused_gc
from domain.values import shown

_SECTIONS: dict[str, tuple[str, type[BaseModel], bool]] = {
    # YAML key: (section, model, holds a list)
    "commission": ("commission", Commission, False),
    "states": ("states", State, True),
    "delegations": ("delegations", Delegation, True),
    "delegation": ("delegations", Delegation, False),
    "sessions": ("sessions", SessionSpec, True),
    "session": ("sessions", SessionSpec, False),
}
_ID_FIELD = {"states": "code", "delegations": "state", "sessions": "id"}


@dataclass(frozen=True, slots=True)
class Located:
    """A problem with its place: ``FILE:LINE:COL: path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}: {where}{tag}{self.message}"


@dataclass
class LoadResult:
    """The outcome of loading: the deployment when it is valid, and every problem found."""

    deployment: Deployment | None
    problems: list[Located] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Located]:
        """The problems that make the configuration unusable."""
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Located]:
        """The problems worth a look that do not stop anything."""
        return [p for p in self.problems if p.severity == "warning"]


@dataclass(frozen=True, slots=True)
class _Origin:
    doc: YamlDocument
    prefix: Path


class _Assembler:
    def __init__(self) -> None:
        self.located: list[Located] = []
        self.draft = Draft()
        self.origins: dict[str, list[_Origin]] = {"commission": [], "states": [], "delegations": [], "sessions": []}
        self.raw: dict[str, list[object]] = {"states": [], "delegations": [], "sessions": []}

    def at(self, doc: YamlDocument, path: Path, message: str, severity: Literal["error", "warning"] = "error") -> None:
        node, _ = node_at(doc.root, path, doc.keys)
        self._emit(doc.file, node, path, message, severity)

    def _emit(
        self, file: str, node: Node | None, path: Path, message: str, severity: Literal["error", "warning"] = "error"
    ) -> None:
        line, col = (node.start_mark.line + 1, node.start_mark.column + 1) if node is not None else (1, 1)
        self.located.append(Located(file, line, col, format_path(path), message, severity))

    def add_document(self, doc: YamlDocument) -> None:
        for p in doc.problems:
            self.located.append(Located(p.file, p.line, p.column, format_path(p.path), p.message))
        if doc.root is None:
            if doc.problems:
                self.draft.incomplete = True
            else:
                self.located.append(Located(doc.file, 1, 1, "", "the file is empty", "warning"))
            return
        if not isinstance(doc.data, dict):
            self.at(
                doc,
                (),
                "a configuration file must be a mapping of sections (commission, states, delegations, sessions)",
            )
            return
        for key, value in doc.data.items():
            spec = _SECTIONS.get(key) if isinstance(key, str) else None
            if spec is None:
                close = get_close_matches(str(key), list(_SECTIONS), n=1, cutoff=0.6) if len(str(key)) <= 64 else []
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known sections: {', '.join(_SECTIONS)})"
                node = key_node_at(doc.root, (key,), doc.keys)
                self._emit(doc.file, node, (key,), f"unknown section {shown(key)}{hint}")
                self.draft.incomplete = True
                continue
            section, _, is_list = spec
            if section == "commission":
                if self.origins["commission"]:
                    first = self.origins["commission"][0].doc.file
                    node = key_node_at(doc.root, (key,), doc.keys)
                    self._emit(doc.file, node, (key,), f"`commission` is given a second time (first in {first})")
                    continue
                self.origins["commission"].append(_Origin(doc, (key,)))
                continue
            if is_list:
                if not isinstance(value, list):
                    self.at(doc, (key,), f"`{key}` must be a list (each item starting with '- ')")
                    continue
                for i, item in enumerate(value):
                    self.origins[section].append(_Origin(doc, (key, i)))
                    self.raw[section].append(item)
            else:
                self.origins[section].append(_Origin(doc, (key,)))
                self.raw[section].append(value)

    def validate(self) -> None:
        if self.origins["commission"]:
            origin = self.origins["commission"][0]
            data, _ = data_at(origin.doc.data, origin.prefix)
            model = self._validate(Commission, data, origin)
            if isinstance(model, Commission):
                self.draft.commission = model
        for section in ("states", "delegations", "sessions"):
            model_cls = _SECTIONS[section][1]
            target: list[tuple[int, Any]] = getattr(self.draft, section)
            for index, (item, origin) in enumerate(zip(self.raw[section], self.origins[section], strict=True)):
                model = self._validate(model_cls, item, origin)
                if model is not None:
                    target.append((index, model))
                elif isinstance(item, dict) and isinstance(item.get(_ID_FIELD[section]), str):
                    self.draft.broken_ids.add(item[_ID_FIELD[section]])
                    if section == "delegations":
                        self._collect_broken_delegates(item)

    def _collect_broken_delegates(self, item: dict[str, Any]) -> None:
        state = item.get("state")
        if not isinstance(state, str) or not re.fullmatch("[A-Z]{3}", state):
            self.draft.incomplete = True  # whose agencies these are cannot be told
        for key, id_key in (("delegates", "id"), ("agencies", "id")):
            entries = item.get(key)
            for entry in entries if isinstance(entries, list) else ():
                if isinstance(entry, dict) and isinstance(entry.get(id_key), str):
                    ident = entry[id_key]
                    self.draft.broken_ids.add(ident if key == "delegates" else f"{state}/{ident}")

    def _validate(self, model: type[BaseModel], data: object, origin: _Origin) -> BaseModel | None:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            self._report(model, exc, data, origin)
            return None

    def _report(self, model: type[BaseModel], exc: ValidationError, data: object, origin: _Origin) -> None:
        grouped: dict[Path, list[str]] = {}
        shape_errors: set[Path] = set()
        for error in exc.errors(include_url=False, include_input=False):
            loc, real = clean_loc(error["loc"], data)
            path = (*origin.prefix, *loc)
            if path in origin.doc.unresolved:
                continue
            message = schema_message(error, model, loc, real)
            if error["type"].endswith("_type"):
                shape_errors.add(path)
            messages = grouped.setdefault(path, [])
            if message not in messages:
                messages.append(message)
        drop_noise(grouped, shape_errors)
        for path, messages in grouped.items():
            message = messages[0] if len(messages) == 1 else " or ".join(messages)
            self._emit_error(origin.doc, path, message)

    def _emit_error(self, doc: YamlDocument, path: Path, message: str) -> None:
        key_node = key_node_at(doc.root, path, doc.keys) if message.startswith("unknown key") else None
        node, found = (key_node, True) if key_node is not None else node_at(doc.root, path, doc.keys)
        if path in doc.from_env and found and isinstance(node, ScalarNode) and not message.startswith("unknown key"):
            message = scrub(message, doc.from_env[path], node.value)
        elif found and isinstance(node, ScalarNode) and shows_value(message):
            raw = node.value if len(node.value) <= 40 else node.value[:37] + "..."
            message = f"{message} (got {raw!r})"
        self._emit(doc.file, node, path, message)

    def locate(self, problem: Problem) -> None:
        section, *rest = problem.path
        origins = self.origins.get(str(section), [])
        if section == "commission":
            if not origins:
                self.located.append(Located("<config>", 1, 1, "commission", problem.message, problem.severity))
                return
            origin = origins[0]
        else:
            index = rest.pop(0) if rest else 0
            if not isinstance(index, int) or index >= len(origins):  # pragma: no cover - internal paths
                self.located.append(
                    Located("<config>", 1, 1, format_path(problem.path), problem.message, problem.severity)
                )
                return
            origin = origins[index]
        path = (*origin.prefix, *rest)
        message = problem.message
        if problem.first is not None:
            message += f" (first at {self._where(problem.first)})"
        if path in origin.doc.from_env:
            node, _ = node_at(origin.doc.root, path, origin.doc.keys)
            message = scrub(message, origin.doc.from_env[path], node.value if isinstance(node, ScalarNode) else "${…}")
        self.at(origin.doc, path, message, problem.severity)

    def _where(self, path: Path) -> str:
        """Render a merged-configuration path as ``FILE:LINE``."""
        section, index, *rest = path
        origin = self.origins[str(section)][int(index)]
        node, _ = node_at(origin.doc.root, (*origin.prefix, *rest), origin.doc.keys)
        line = node.start_mark.line + 1 if node is not None else 1
        return f"{origin.doc.file}:{line}"


def load(paths: Iterable[str], environ: Mapping[str, str], catalogues: Collection[str] | None = None) -> LoadResult:
    """Read, validate and check the configuration in these files and directories.

    ``catalogues``: the languages notices can be written in; a language named that is not one is an error.
    """
    with paused_gc():
        return _load(paths, environ, catalogues)


def _load(paths: Iterable[str], environ: Mapping[str, str], catalogues: Collection[str] | None) -> LoadResult:
    files, missing = discover(paths)
    assembler = _Assembler()
    for name in missing:
        assembler.located.append(Located(name.split(":", 1)[0], 1, 1, "", name.split(": ", 1)[1]))
    for file in files:
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            assembler.located.append(Located(str(file), 1, 1, "", f"the file is not UTF-8 text ({exc.reason})"))
            continue
        except OSError as exc:
            assembler.located.append(Located(str(file), 1, 1, "", f"cannot read the file: {exc.strerror}"))
            continue
        assembler.add_document(read_yaml(str(file), text, environ))
    return _finish(assembler, [str(f) for f in files], catalogues)


def load_texts(
    texts: Mapping[str, str], environ: Mapping[str, str], catalogues: Collection[str] | None = None
) -> LoadResult:
    """Validate configuration given as texts keyed by a file name (for tests and tools)."""
    assembler = _Assembler()
    for name, text in texts.items():
        assembler.add_document(read_yaml(name, text, environ))
    return _finish(assembler, list(texts), catalogues)


def _finish(assembler: _Assembler, files: list[str], catalogues: Collection[str] | None) -> LoadResult:
    assembler.validate()
    deployment, problems = build_deployment(assembler.draft, catalogues)
    structural_errors = any(p.severity == "error" for p in assembler.located)
    for problem in problems:
        if problem.path == ("commission",) and structural_errors and assembler.origins["commission"]:
            continue  # the commission was given but is invalid: that error is already reported
        assembler.locate(problem)
    if structural_errors:
        deployment = None
    located = sorted(assembler.located, key=lambda p: (p.severity != "error", p.file, p.line, p.column))
    return LoadResult(deployment=deployment, problems=located, files=files)
