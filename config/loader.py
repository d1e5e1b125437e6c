"""Loading the secretariat's YAML (one or many files) into a checked deployment, with every problem located."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from difflib import get_close_matches
from typing import Any, Literal

from pydantic import BaseModel, ValidationError
from yaml.nodes import Node, ScalarNode

from config.yamlsource import Path, YamlDocument, discover, key_node_at, node_at, read_yaml
from domain.deployment import Deployment, Draft, Problem, build_deployment
from domain.model import Commission, Delegation, SessionSpec, State
from domain.runtime import paused_gc

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


def format_path(path: Path) -> str:
    """Render a path as ``sessions[2].invited.agencies[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class _Assembler:
    def __init__(self) -> None:
        self.located: list[Located] = []
        self.draft = Draft()
        self.origins: dict[str, list[_Origin]] = {"commission": [], "states": [], "delegations": [], "sessions": []}
        self.raw: dict[str, list[object]] = {"states": [], "delegations": [], "sessions": []}

    def at(self, doc: YamlDocument, path: Path, message: str, severity: Literal["error", "warning"] = "error") -> None:
        node, _ = node_at(doc.root, path)
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
                close = get_close_matches(str(key), list(_SECTIONS), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (known sections: {', '.join(_SECTIONS)})"
                node = key_node_at(doc.root, (key,))
                self._emit(doc.file, node, (key,), f"unknown section {key!r}{hint}")
                self.draft.incomplete = True
                continue
            section, _, is_list = spec
            if section == "commission":
                if self.origins["commission"]:
                    first = self.origins["commission"][0].doc.file
                    node = key_node_at(doc.root, (key,))
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
            data, _ = _data_at(origin.doc.data, origin.prefix)
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
            loc, real = _clean_loc(error["loc"], data)
            path = (*origin.prefix, *loc)
            if path in origin.doc.unresolved:
                continue
            message = _message(error, model, loc, real)
            if error["type"].endswith("_type"):
                shape_errors.add(path)
            messages = grouped.setdefault(path, [])
            if message not in messages:
                messages.append(message)
        _drop_noise(grouped, shape_errors)
        for path, messages in grouped.items():
            message = messages[0] if len(messages) == 1 else " or ".join(messages)
            self._emit_error(origin.doc, path, message)

    def _emit_error(self, doc: YamlDocument, path: Path, message: str) -> None:
        key_node = key_node_at(doc.root, path) if message.startswith("unknown key") else None
        node, found = (key_node, True) if key_node is not None else node_at(doc.root, path)
        if path in doc.from_env and found and isinstance(node, ScalarNode) and not message.startswith("unknown key"):
            message = _scrub(message, doc.from_env[path], node.value)
        elif found and isinstance(node, ScalarNode) and _shows_value(message):
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
            node, _ = node_at(origin.doc.root, path)
            message = _scrub(message, origin.doc.from_env[path], node.value if isinstance(node, ScalarNode) else "${…}")
        self.at(origin.doc, path, message, problem.severity)

    def _where(self, path: Path) -> str:
        """Render a merged-configuration path as ``FILE:LINE``."""
        section, index, *rest = path
        origin = self.origins[str(section)][int(index)]
        node, _ = node_at(origin.doc.root, (*origin.prefix, *rest))
        line = node.start_mark.line + 1 if node is not None else 1
        return f"{origin.doc.file}:{line}"


_VALUE_SHOWN = ("Input should be", "should be a valid", "not a valid", "Input should")


def _shows_value(message: str) -> bool:
    return message.startswith(_VALUE_SHOWN)


def _scrub(message: str, secret: str, reference: str) -> str:
    """Keep a value that came from the environment (it may be a secret) out of a message."""
    message = message.replace(repr(secret), reference)
    message = re.sub(r" \(did you mean [^)]*\)", "", message)
    if secret and secret in message:
        return f"the value of {reference} is not valid here (it is not shown, as it may be secret)"
    return message


def _drop_noise(grouped: dict[Path, list[str]], shape_errors: set[Path]) -> None:
    """Keep the errors that say what to fix; drop those another error already explains.

    - A value of a union type (an id or a mapping) that has errors inside it had the right shape for one
      member: the other member's "should be a string" is noise.
    - A missing key that an unknown key's "did you mean" names is the same typo, said once.
    """
    for path in shape_errors:
        if any(other[: len(path)] == path and len(other) > len(path) for other in grouped):
            del grouped[path]
    suggested = {
        (*path[:-1], match.group(1))
        for path, messages in grouped.items()
        for message in messages
        if (match := re.search(r"did you mean '([^']+)'\?", message)) and message.startswith("unknown key")
    }
    for path in suggested:
        if path in grouped and all(m.startswith("missing required key") for m in grouped[path]):
            del grouped[path]


def _has(data: object, part: str | int) -> bool:
    if isinstance(data, dict):
        return part in data
    return isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)


def _data_at(data: object, path: Path) -> tuple[object, bool]:
    for part in path:
        if not _has(data, part):
            return data, False
        data = data[part]  # type: ignore[index]
    return data, True


def _is_tag(part: str) -> bool:
    """Whether a location part names a pydantic union member or validator rather than a key."""
    return "[" in part or "(" in part or part[:1].isupper()


def _clean_loc(loc: tuple[int | str, ...], data: object) -> tuple[Path, bool]:
    """Drop the parts of pydantic's location that name union members or validators, not data."""
    out: list[str | int] = []
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            out.append(part)
            current = current[part]  # type: ignore[index]
        elif isinstance(current, dict) and isinstance(part, str) and i == len(loc) - 1 and not _is_tag(part):
            out.append(part)  # a missing or unknown key
            return tuple(out), False
        # else: a union member's name ('list[...]', 'Presenter') or a function-validator tag
    return tuple(out), True


def _message(error: Any, model: type[BaseModel], loc: Path, present: bool) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        known = _fields_at(model, loc[:-1])
        close = get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else (f" (known keys: {', '.join(known)})" if known else "")
        return f"unknown key {key!r}{hint}"
    if kind == "missing":
        return f"missing required key {str(loc[-1])!r}" if loc else "missing value"
    message: str = error["msg"]
    if kind in ("value_error", "assertion_error"):
        message = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    elif kind.startswith(("datetime_", "date_")):
        message = "should be a date and time like 2022-10-19T14:00 (local time, no offset)"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        message = "should be a mapping of keys to values"
    elif kind in ("list_type", "tuple_type"):
        message = "should be a list"
    return message


def _fields_at(model: type[BaseModel], path: Path) -> list[str]:
    """Return the keys the model accepts at a path, for 'did you mean' hints."""
    current: Any = model
    for part in path:
        current = _step(current, part)
        if current is None:
            return []
    models = [m for m in _unwrap(current) if isinstance(m, type) and issubclass(m, BaseModel)]
    return [name for m in models for name in m.model_fields]


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [x for arg in typing.get_args(annotation) for x in _unwrap(arg)]
    return [annotation]


def _step(annotation: Any, part: str | int) -> Any:
    for candidate in _unwrap(annotation):
        if isinstance(part, int):
            origin = typing.get_origin(candidate)
            if origin in (list, tuple):
                return typing.get_args(candidate)[0]
        elif isinstance(candidate, type) and issubclass(candidate, BaseModel) and part in candidate.model_fields:
            return candidate.model_fields[part].annotation
    return None


def load(paths: Iterable[str], environ: Mapping[str, str]) -> LoadResult:
    """Read, validate and check the configuration in these files and directories."""
    with paused_gc():
        return _load(paths, environ)


def _load(paths: Iterable[str], environ: Mapping[str, str]) -> LoadResult:
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
    return _finish(assembler, [str(f) for f in files])


def load_texts(texts: Mapping[str, str], environ: Mapping[str, str]) -> LoadResult:
    """Validate configuration given as texts keyed by a file name (for tests and tools)."""
    assembler = _Assembler()
    for name, text in texts.items():
        assembler.add_document(read_yaml(name, text, environ))
    return _finish(assembler, list(texts))


def _finish(assembler: _Assembler, files: list[str]) -> LoadResult:
    assembler.validate()
    deployment, problems = build_deployment(assembler.draft)
    structural_errors = any(p.severity == "error" for p in assembler.located)
    for problem in problems:
        if problem.path == ("commission",) and structural_errors and assembler.origins["commission"]:
            continue  # the commission was given but is invalid: that error is already reported
        assembler.locate(problem)
    if structural_errors:
        deployment = None
    located = sorted(assembler.located, key=lambda p: (p.severity != "error", p.file, p.line, p.column))
    return LoadResult(deployment=deployment, problems=located, files=files)
