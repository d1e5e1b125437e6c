"""Turning pydantic's validation errors into what the secretariat should fix, at the right place."""

from __future__ import annotations

import re
import types
import typing
from difflib import get_close_matches
from typing import Any

from pydantic import BaseModel

from config.yamlsource import Path
from domain.values import shown

_VALUE_SHOWN = ("Input should be", "should be a valid", "not a valid", "Input should")


def shows_value(message: str) -> bool:
    """Whether a message is about a scalar's type or form, so that the value as written helps."""
    return message.startswith(_VALUE_SHOWN)


def scrub(message: str, secret: str, reference: str) -> str:
    """Keep a value that came from the environment (it may be a secret) out of a message."""
    message = message.replace(repr(secret), reference)
    message = re.sub(r" \(did you mean [^)]*\)", "", message)
    if secret and secret in message:
        return f"the value of {reference} is not valid here (it is not shown, as it may be secret)"
    return message


def drop_noise(grouped: dict[Path, list[str]], shape_errors: set[Path]) -> None:
    """Keep the errors that say what to fix; drop those another error already explains.

    - A value of a union type (an id or a mapping) that has errors inside it had the right shape for one
      member: the other member's "should be a string" is noise.
    - A missing key that an unknown key's "did you mean" names is the same typo, said once.
    """
    parents = {other[:n] for other in grouped for n in range(len(other))}
    for path in shape_errors & parents:
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


def data_at(data: object, path: Path) -> tuple[object, bool]:
    """Follow a path into converted data; return what is there (or the deepest part found) and whether found."""
    for part in path:
        if not _has(data, part):
            return data, False
        data = data[part]  # type: ignore[index]
    return data, True


def _is_tag(part: str) -> bool:
    """Whether a location part names a pydantic union member or validator rather than a key."""
    return "[" in part or "(" in part or part[:1].isupper()


def clean_loc(loc: tuple[int | str, ...], data: object) -> tuple[Path, bool]:
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


def schema_message(error: Any, model: type[BaseModel], loc: Path, present: bool) -> str:
    """The message for one pydantic error: unknown and missing keys named, types said in the YAML's words."""
    kind = error["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        known = _fields_at(model, loc[:-1])
        close = get_close_matches(key, known, n=1, cutoff=0.6) if len(key) <= 64 else []
        hint = f" (did you mean {close[0]!r}?)" if close else (f" (known keys: {', '.join(known)})" if known else "")
        return f"unknown key {shown(key)}{hint}"
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
