"""Personal links: calendar-feed and Telegram tokens derived from a server secret, revocable by generation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from enum import StrEnum


class LinkScope(StrEnum):
    """What a personal link opens: a delegate's or a delegation's calendar feed, or the bot for a delegate."""

    DELEGATE = "delegate"
    DELEGATION = "delegation"
    TELEGRAM = "telegram"
    """The deep link that binds a delegate's Telegram account: ``https://t.me/<bot>?start=<token>``."""
    ANSWERS = "answers"
    """A delegate's answer pages, one per session they are invited to (``/answer/<token>``)."""
    JOIN = "join"
    """A delegate's way into a session's video meeting (``/join/<token>``), made when it is opened."""


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


ANSWER_SIGNATURE = 16
"""Bytes of HMAC-SHA256 in an answer page's token: 128 bits."""
_ANSWER_TOKEN = re.compile(r"([A-Za-z0-9_-]{4,200})\.([A-Za-z0-9_-]{22})")


def answer_token(
    secret: bytes, delegate_id: str, session_id: str, generation: int, scope: LinkScope = LinkScope.ANSWERS
) -> str:
    """The token of a delegate's answer page (or, with ``scope=JOIN``, join link) for a session: who and which
    session, base64url, then 128 bits of HMAC-SHA256 over them, the scope and the generation of the delegate's
    links of that scope (raised to revoke them all)."""
    subject = base64.urlsafe_b64encode(f"{delegate_id}\x1f{session_id}".encode()).decode("ascii").rstrip("=")
    return f"{subject}.{_answer_signature(secret, delegate_id, session_id, generation, scope)}"


def answer_subject(token: str) -> tuple[str, str] | None:
    """The (delegate, session) an answer token names, unchecked; None for anything not shaped like one."""
    match = _ANSWER_TOKEN.fullmatch(token)
    if match is None:
        return None
    subject = match.group(1)
    try:
        delegate_id, separator, session_id = (
            base64.urlsafe_b64decode(subject + "=" * (-len(subject) % 4)).decode().partition("\x1f")
        )
    except (ValueError, UnicodeDecodeError):
        return None
    return (delegate_id, session_id) if separator and delegate_id and session_id else None


def answer_token_valid(secret: bytes, token: str, generation: int, scope: LinkScope = LinkScope.ANSWERS) -> bool:
    """Whether the token is the live one of the delegate and session it names (compared in constant time)."""
    named = answer_subject(token)
    if named is None:
        return False
    expected = _answer_signature(secret, *named, generation, scope)
    return hmac.compare_digest(token.rpartition(".")[2], expected)


def _answer_signature(secret: bytes, delegate_id: str, session_id: str, generation: int, scope: LinkScope) -> str:
    message = f"{scope.value}\x1f{delegate_id}\x1f{session_id}\x1f{generation}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()[:ANSWER_SIGNATURE]
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")
