"""Bounds on what a YAML node graph may expand to, checked before any of it is turned into data.

Aliases make the composed graph a DAG (or, for an alias inside its own anchor, a cycle): a few hundred
bytes of nested ``&a [*b, *b, …]`` expand to billions of values. The check walks every distinct node once,
without recursion, and counts what the expansion would hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Path = tuple[str | int, ...]

MAX_DEPTH = 64
"""How deeply collections may nest, aliases expanded (a configuration needs about ten levels)."""

MAX_ALIAS_VALUES = 100_000
"""How many values (scalars, lists and mappings) the aliases of one file may repeat in all."""

_MERGE = "tag:yaml.org,2002:merge"


@dataclass(frozen=True, slots=True)
class Excess:
    """A place where the graph goes beyond a bound (or loops), with the message to show there."""

    line: int
    column: int
    path: Path
    message: str
    fatal: bool
    """Whether the document must not be converted at all (a cycle is cut by the converter instead)."""


@dataclass(slots=True)
class _Frame:
    node: Node
    path: Path
    kids: list[tuple[Node, Path, int]]
    """Each child with its path and its slot (its index among the parent's nodes in text order)."""
    next: int = 0
    size: int = 1
    depth: int = 1


def _kids(node: Node, path: Path) -> list[tuple[Node, Path, int]]:
    if isinstance(node, SequenceNode):
        return [(item, (*path, i), i) for i, item in enumerate(node.value)]
    kids: list[tuple[Node, Path, int]] = []
    for i, (key, value) in enumerate(node.value):
        # A key that is not a scalar is refused by the converter without being expanded: it counts as one value.
        if not isinstance(key, ScalarNode):
            continue
        kids.append((key, path, 2 * i))
        kids.append((value, path if key.tag == _MERGE else (*path, key.value), 2 * i + 1))
    return kids


def check_expansion(root: Node, text: str) -> list[Excess]:
    """Say where the graph nests too deeply, repeats too much through aliases, or contains itself."""
    sizes: dict[int, tuple[int, int]] = {}
    """Size (values) and depth (levels) of each collection met, by node identity."""
    found: list[Excess] = []
    if not isinstance(root, MappingNode | SequenceNode):
        return found
    stack = [_Frame(root, (), _kids(root, ()))]
    active = {id(root)}
    repeated = 0
    while stack:
        frame = stack[-1]
        if frame.next == len(frame.kids):
            stack.pop()
            active.discard(id(frame.node))
            sizes[id(frame.node)] = (frame.size, frame.depth)
            if stack:
                stack[-1].size += frame.size
                stack[-1].depth = max(stack[-1].depth, frame.depth + 1)
            continue
        child, path, slot = frame.kids[frame.next]
        frame.next += 1
        if isinstance(child, ScalarNode):
            frame.size += 1  # a scalar met again through an alias adds one value too, as it does here
            continue
        ident = id(child)
        if ident in active:
            line, column, name = alias_position(text, frame.node, slot)
            found.append(Excess(line, column, path, f"the alias *{name} refers to a node that contains it", False))
            continue
        if ident in sizes:
            size, depth = sizes[ident]
            repeated += size
            frame.size += size
            frame.depth = max(frame.depth, depth + 1)
            if repeated > MAX_ALIAS_VALUES or len(stack) + depth > MAX_DEPTH:
                found.append(_too_much(text, frame.node, slot, path, size, len(stack) + depth))
                return found
            continue
        if len(stack) + 1 > MAX_DEPTH:
            mark = child.start_mark
            message = f"the data is nested more than {MAX_DEPTH} levels deep: at most {MAX_DEPTH} are allowed"
            found.append(Excess(mark.line + 1, mark.column + 1, path, message, True))
            return found
        stack.append(_Frame(child, path, _kids(child, path)))
        active.add(ident)
    return found


def _too_much(text: str, parent: Node, slot: int, path: Path, size: int, depth: int) -> Excess:
    line, column, name = alias_position(text, parent, slot)
    if depth > MAX_DEPTH:
        message = f"the alias *{name} nests the data {depth:,} levels deep: at most {MAX_DEPTH} are allowed"
    else:
        message = (
            f"the alias *{name} repeats {size:,} values, and with it the aliases of this file repeat more than "
            f"{MAX_ALIAS_VALUES:,}: at most {MAX_ALIAS_VALUES:,} are allowed"
        )
    return Excess(line, column, path, message, True)


def alias_position(text: str, parent: Node, slot: int) -> tuple[int, int, str]:
    """Find where the alias at a slot of a collection is written: 1-based line and column, and its name.

    An alias shares the node of its anchor, and so the anchor's position: the alias itself is found in the
    text, after the sibling written before it (a node that starts before that point is an alias too).
    """
    nodes: list[Node] = (
        [n for pair in parent.value for n in pair] if isinstance(parent, MappingNode) else list(parent.value)
    )
    cursor = parent.start_mark.index
    for index, node in enumerate(nodes[: slot + 1]):
        if node.start_mark.index >= cursor:
            cursor = node.end_mark.index
            continue
        star = _next_star(text, cursor)
        if star < 0:
            break
        end = star + 1
        while end < len(text) and text[end] not in " \t\r\n,[]{}":
            end += 1
        if index == slot:
            line = text.count("\n", 0, star) + 1
            return line, star - text.rfind("\n", 0, star), text[star + 1 : end]
        cursor = end
    mark = nodes[slot].start_mark if slot < len(nodes) else parent.start_mark
    anchor = getattr(nodes[slot], "anchor", None) if slot < len(nodes) else None
    return mark.line + 1, mark.column + 1, str(anchor or "…")


def _next_star(text: str, start: int) -> int:
    """The index of the next ``*`` at or after start that is not in a comment, or -1."""
    index = start
    while index < len(text):
        char = text[index]
        if char == "*":
            return index
        if char == "#" and (index == 0 or text[index - 1] in " \t\r\n"):
            newline = text.find("\n", index)
            if newline < 0:
                return -1
            index = newline
        index += 1
    return -1
