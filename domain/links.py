"""Personal links: calendar-feed and Telegram tokens derived from a server secret, revocable by generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from enum import StrEnum


class LinkScope(StrEnum):
    """What a personal link opens: a delegate's or a delegation's calendar feed, or the bot for a delegate."""

    DELEGATE = "delegate"
    DELEGATION = "delegation"
    TELEGRAM = "telegram"
    """The deep link that binds a delegate's Telegram account: ``https://t.me/<bot>?start=<token>``."""


START_PREFIX = "b"
"""What a binding token starts with in a ``/start`` parameter (other start parameters use other letters)."""


def feed_token(secret: bytes, scope: LinkScope, subject: str, generation: int) -> str:
    """The token of a feed link: 130 bits of HMAC-SHA256 over scope, subject and generation, base32.

    Nothing that opens a feed is stored: the database keeps only the generation (raised to revoke),
    so a copy of the database without the server's secret reveals no live link.
    """
    message = f"{scope.value}\x1f{subject}\x1f{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:26]


def start_token(secret: bytes, delegate_id: str, generation: int) -> str:
    """The ``/start`` parameter that binds a delegate's Telegram account: ``b`` and 192 bits, base64url.

    Telegram takes 1–64 characters of ``A-Za-z0-9_-`` there; this is 33. Like a feed token it is derived,
    never stored, and revoked by raising the generation; a copy of the database opens nothing.
    """
    message = f"{LinkScope.TELEGRAM.value}\x1f{delegate_id}\x1f{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:24]
    return START_PREFIX + base64.urlsafe_b64encode(digest).decode("ascii")
