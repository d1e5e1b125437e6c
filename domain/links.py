"""Personal links: calendar-feed tokens derived from a server secret, revocable by generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum


class LinkScope(StrEnum):
    """Whose calendar a feed link opens."""

    DELEGATE = "delegate"
    DELEGATION = "delegation"


def feed_token(secret: bytes, scope: LinkScope, subject: str, generation: int) -> str:
    """The token of a feed link: 130 bits of HMAC-SHA256 over scope, subject and generation, base32.

    Nothing that opens a feed is stored: the database keeps only the generation (raised to revoke),
    so a copy of the database without the server's secret reveals no live link.
    """
    message = f"{scope.value}\x1f{subject}\x1f{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:26]
