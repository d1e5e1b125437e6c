"""Template filters for what must read well on a narrow screen: calendar subscriptions and phone numbers."""

from __future__ import annotations

import re

from domain.feeds import webcal

__all__ = ["tel", "unbreakable", "webcal"]

_DIALLABLE = re.compile(r"\+?[0-9][0-9 ()\u00a0.\-]*[0-9]")
_BREAKS = str.maketrans({" ": "\u00a0", "-": "\u2011"})
"""A space becomes a no-break space, a hyphen a non-breaking hyphen."""


def unbreakable(text: str) -> str:
    """The text with its spaces and hyphens made non-breaking, so a phone number stays on one line."""
    return " ".join(text.split()).translate(_BREAKS)


def tel(phone: str) -> str:
    """The ``tel:`` URI of a phone number written with digits, spaces, dots, hyphens and brackets, else ``""``."""
    if _DIALLABLE.fullmatch(phone.strip()) is None:
        return ""
    digits = re.sub(r"[^0-9]", "", phone)
    return f"tel:{'+' if phone.strip().startswith('+') else ''}{digits}"
