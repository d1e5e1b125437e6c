"""Reading YAML files into plain data while keeping where every node came from."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath

import yaml
from yaml.cyaml import CParser as _Parser  # type: ignore[attr-defined]  # libyaml: PyYAML's wheels ship it
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import BaseResolver

from config.yamlbounds import MAX_DEPTH, check_expansion
from domain.values import shown

Path = tuple[str | int, ...]
Keys = dict[int, dict[str, tuple[Node, Node]]]
"""The keys of mappings by node identity, each key with its own node and its value's."""

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


class _CoreResolver(BaseResolver):
    """YAML 1.2 core schema: no sexagesimal numbers, no yes/no booleans, timestamps stay text."""


for _tag, _regex, _first in (
    (_BOOL, r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_NULL, r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_INT, r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        _FLOAT,
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    (_MERGE, r"^<<$", ["<"]),
):
    _CoreResolver.add_implicit_resolver(_tag, re.compile(_regex), _first)


_PLAIN_MAY_BE_TYPED = frozenset("-+0123456789.tTfFnN~<")


class _Composer(_Parser, _CoreResolver):
    def __init__(self, stream: str) -> None:
        _Parser.__init__(self, stream)
        _CoreResolver.__init__(self)

    # The composer asks for every node; most plain scalars are words, which need no pattern matching.
    def resolve(self, kind: type[Node], value: str | None, implicit: tuple[bool, bool]) -> str:
        if kind is ScalarNode:
            if implicit[0] and value is not None:
                if value == "":
                    return _NULL
                if value[0] in _PLAIN_MAY_BE_TYPED:
                    for tag, regexp in self.yaml_implicit_resolvers.get(value[0], ()):
                        if regexp.match(value):
                            return str(tag)
            return _STR
        return _SEQ if kind is SequenceNode else _MAP

    def descend_resolver(self, current_node: Node | None, current_index: object) -> None:
        return None

    def ascend_resolver(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class SourceProblem:
    """A problem found while reading a file, at a known position (1-based line and column)."""

    file: str
    line: int
    column: int
    path: Path
    message: str


@dataclass
class YamlDocument:
    """One YAML file: its data, its node tree (for positions) and the problems met reading it."""

    file: str
    data: object
    root: Node | None
    problems: list[SourceProblem] = field(default_factory=list)
    unresolved: set[Path] = field(default_factory=set)
    """Paths whose ``${ENV}`` reference could not be resolved: later errors there are not reported again."""
    from_env: dict[Path, str] = field(default_factory=dict)
    """Paths whose value came (in part) from the environment, with the value: never shown in messages."""
    keys: Keys = field(default_factory=dict)
    """The keys of each mapping looked into, by node identity: finding a place is then one look-up per step."""


_MAX_INT = 2**63 - 1
"""The largest number read: what a database column of integers holds."""

_ENV = re.compile(r"\$(\$)?\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _Converter:
    def __init__(self, doc: YamlDocument, environ: Mapping[str, str]) -> None:
        self.doc = doc
        self.environ = environ
        self.active: set[int] = set()
        self.depth = 0
        self.too_deep = False

    def problem(self, node: Node, path: Path, message: str) -> None:
        mark = node.start_mark
        self.doc.problems.append(SourceProblem(self.doc.file, mark.line + 1, mark.column + 1, path, message))

    def convert(self, node: Node, path: Path) -> object:
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        if id(node) in self.active:
            return None  # an alias inside its own anchor: reported, at the alias, before conversion
        if self.depth == MAX_DEPTH:
            self.problem(
                node, path, f"the data is nested more than {MAX_DEPTH} levels deep: at most {MAX_DEPTH} are allowed"
            )
            self.too_deep = True
            return None
        self.active.add(id(node))
        self.depth += 1
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    self.problem(node, path, f"unsupported tag {node.tag!r}")
                return [self.convert(item, (*path, i)) for i, item in enumerate(node.value)]
            if isinstance(node, MappingNode):
                return self.mapping(node, path)
        finally:
            self.active.discard(id(node))
            self.depth -= 1
        self.problem(node, path, "unsupported YAML node")  # pragma: no cover
        return None

    def mapping(self, node: MappingNode, path: Path) -> dict[object, object]:
        if node.tag != _MAP:
            self.problem(node, path, f"unsupported tag {node.tag!r}")
        out: dict[object, object] = {}
        merged: dict[object, object] = {}
        seen: dict[object, Node] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE:
                merged.update(self._merge(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(key_node, path, "a key must be a plain word, not a list or mapping")
                continue
            key = self.scalar(key_node, path, resolve_env=False)
            if not isinstance(key, str | int):
                self.problem(key_node, path, f"a key must be a word, not {key!r}")
                continue
            if key in seen:
                line = seen[key].start_mark.line + 1
                self.problem(key_node, (*path, key), f"duplicate key {shown(key)} (first given at line {line})")
                continue
            seen[key] = key_node
            out[key] = self.convert(value_node, (*path, key))
        if merged:
            return merged | out
        return out

    def _merge(self, node: Node, path: Path) -> dict[object, object]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        result: dict[object, object] = {}
        for source in reversed(sources):
            value = self.convert(source, path)
            if not isinstance(value, dict):
                self.problem(source, path, "`<<` merges mappings only")
                continue
            result.update(value)
        return result

    def scalar(self, node: ScalarNode, path: Path, resolve_env: bool = True) -> object:
        tag, value = node.tag, node.value
        if tag == _STR:
            return self.env(node, path, value) if resolve_env and "${" in value else value
        if tag == _INT:
            return self.integer(node, path, value.replace("_", ""))
        if tag == _BOOL:
            return value.lower() == "true"
        if tag == _NULL:
            return None
        if tag == _FLOAT:
            low = value.lower()
            if low.endswith(".inf"):
                return -math.inf if low.startswith("-") else math.inf
            if low == ".nan":
                return math.nan
            return float(value)
        self.problem(node, path, f"unsupported tag {tag!r}: write the value as plain text")
        return value

    def integer(self, node: ScalarNode, path: Path, text: str) -> int | None:
        # Checked on the text first: Python refuses to convert more than 4,300 digits at all.
        number = int(text, 0) if text.startswith(("0o", "0x")) and len(text) <= 24 else None
        if number is None and len(text.lstrip("+-")) <= 19 and not text.startswith(("0o", "0x")):
            number = int(text)
        if number is not None and abs(number) <= _MAX_INT:
            return number
        self.problem(node, path, f"the number is too large (at most {_MAX_INT:,}): quote it if it is meant as text")
        self.doc.unresolved.add(path)
        return None

    def env(self, node: ScalarNode, path: Path, value: str) -> str:
        def substitute(match: re.Match[str]) -> str:
            if match.group(1):
                return "${" + match.group(2) + "}"
            name, has_default, default = match.group(2).partition(":-")
            if not _ENV_NAME.fullmatch(name):
                self.problem(node, path, f"${{{name}}} is not a valid environment variable reference")
                self.doc.unresolved.add(path)
                return ""
            if name not in self.environ:
                if has_default:
                    return default
                self.problem(node, path, f"environment variable {name} is not set (referenced as ${{{name}}})")
                self.doc.unresolved.add(path)
                return ""
            return self.environ[name]

        result = _ENV.sub(substitute, value)
        if result != value.replace("$${", "${"):
            self.doc.from_env[path] = result
        return result


def read_yaml(file: str, text: str, environ: Mapping[str, str]) -> YamlDocument:
    """Parse one YAML text into data, keeping its node tree and every problem with its position."""
    doc = YamlDocument(file=file, data=None, root=None)
    composer = _Composer(text)
    try:
        root = composer.get_single_node()
    except yaml.MarkedYAMLError as exc:
        doc.problems.append(_syntax_problem(file, text, exc))
        return doc
    except yaml.YAMLError as exc:
        doc.problems.append(SourceProblem(file, 1, 1, (), f"YAML error: {exc}"))
        return doc
    finally:
        composer.dispose()
    if root is None:
        return doc
    # Without an alias the graph is a tree as deep as libyaml allows: the converter bounds its depth itself.
    for excess in check_expansion(root, text) if "*" in text else ():
        doc.problems.append(SourceProblem(file, excess.line, excess.column, excess.path, excess.message))
        if excess.fatal:
            return doc
    converter = _Converter(doc, environ)
    data = converter.convert(root, ())
    if not converter.too_deep:  # else what was read is partial: nothing more is said about it than its depth
        doc.root, doc.data = root, data
    return doc


def _syntax_problem(file: str, text: str, exc: yaml.MarkedYAMLError) -> SourceProblem:
    """Locate a syntax error where the fix is: where an unclosed construct starts, or at the bad character."""
    problem, context = exc.problem or "", exc.context or ""
    mark = exc.problem_mark or exc.context_mark
    if exc.context_mark is not None and "end of stream" in problem:
        mark = exc.context_mark
        problem = f"{problem} (it is never closed)"
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    if mark is not None and 0 <= mark.index < len(text) and text[mark.index] == "\t":
        message = "a tab character: YAML indents with spaces only"
    else:
        message = ": ".join(part for part in (context, problem) if part)
    return SourceProblem(file, line, col, (), f"YAML syntax error: {message}")


def _keys_of(node: MappingNode, keys: Keys) -> dict[str, tuple[Node, Node]]:
    found = keys.get(id(node))
    if found is None:
        found = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                found.setdefault(key_node.value, (key_node, value_node))  # a duplicate key: the first one counts
        keys[id(node)] = found
    return found


def node_at(root: Node | None, path: Iterable[str | int], keys: Keys | None = None) -> tuple[Node | None, bool]:
    """Find the node at a path; return it and whether the whole path was found (else its deepest parent).

    ``keys`` (a document's own) keeps each mapping's keys once read, so that finding many places is linear.
    """
    keys = {} if keys is None else keys
    node = root
    for part in path:
        if node is None:
            return None, False
        child: Node | None = None
        if isinstance(node, MappingNode):
            pair = _keys_of(node, keys).get(str(part))
            child = pair[1] if pair else None
        elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        if child is None:
            return node, False
        node = child
    return node, True


def key_node_at(root: Node | None, path: Path, keys: Keys | None = None) -> Node | None:
    """Find the key node of the last element of a path in a mapping (to point at an unknown key)."""
    keys = {} if keys is None else keys
    parent, found = node_at(root, path[:-1], keys)
    if not found or not isinstance(parent, MappingNode):
        return None
    pair = _keys_of(parent, keys).get(str(path[-1]))
    return pair[0] if pair else None


def discover(paths: Iterable[str]) -> tuple[list[FsPath], list[str]]:
    """Expand files and directories into the sorted YAML files they hold; return also what was not found."""
    files: list[FsPath] = []
    missing: list[str] = []
    for name in paths:
        path = FsPath(name)
        if path.is_dir():
            found = sorted(
                p
                for p in path.rglob("*")
                if p.suffix in (".yaml", ".yml")
                and p.is_file()
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
            if not found:
                missing.append(f"{name}: no .yaml or .yml files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            missing.append(f"{name}: no such file or directory")
    unique = list(dict.fromkeys(files))
    return unique, missing
