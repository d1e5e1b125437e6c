"""Telegram's HTML parse mode: its length limit, and cutting a message down without breaking its markup."""

from __future__ import annotations

import re

TELEGRAM_LIMIT = 4096
"""The most characters a Telegram text message may have."""

TELEGRAM_TAGS = frozenset({"b", "i", "u", "s", "a", "code", "pre", "blockquote"})
"""The tags our Telegram messages use (all of them in Telegram's HTML parse mode)."""

_TOKEN = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);|[^<&]+|[<&]")
_TAG_NAME = re.compile(r"</?\s*([a-zA-Z0-9-]+)")


def telegram_length(text: str) -> int:
    """Count characters as Telegram does, in UTF-16 code units (an emoji outside the BMP counts two)."""
    return len(text.encode("utf-16-le")) // 2


def truncate_html(markup: str, limit: int = TELEGRAM_LIMIT, ellipsis: str = "…") -> str:
    """Cut Telegram HTML to at most ``limit`` characters between whole tags and entities, closing open tags."""
    if telegram_length(markup) <= limit:
        return markup
    out: list[str] = []
    open_tags: list[str] = []
    used = 0
    budget = limit - telegram_length(ellipsis)

    def closing() -> int:
        return sum(len(name) + 3 for name in open_tags)

    for match in _TOKEN.finditer(markup):
        token = match.group()
        size = telegram_length(token)
        if token.startswith("<") and len(token) > 1:
            name_match = _TAG_NAME.match(token)
            name = name_match.group(1).lower() if name_match else ""
            if token.startswith("</"):
                if open_tags and open_tags[-1] == name:
                    open_tags.pop()
                    out.append(token)
                    used += size
                continue
            # An opening tag is worth keeping only with room for some of its text and its closing tag.
            if used + size + closing() + len(name) + 3 + 1 > budget:
                break
            out.append(token)
            used += size
            if not token.endswith("/>"):
                open_tags.append(name)
            continue
        room = budget - used - closing()
        if size <= room:
            out.append(token)
            used += size
            continue
        if not token.startswith("&") and room > 0:
            piece = _cut_text(token, room)
            out.append(piece)
            used += telegram_length(piece)
        break
    out.append(ellipsis)
    out.extend(f"</{name}>" for name in reversed(open_tags))
    return "".join(out)


def _cut_text(text: str, room: int) -> str:
    """The longest prefix of plain text that fits, ending at a space when one is near."""
    piece = text[:room]
    while piece and telegram_length(piece) > room:
        piece = piece[:-1]
    space = piece.rfind(" ")
    if space >= len(piece) * 2 // 3:
        piece = piece[:space]
    return piece.rstrip()
