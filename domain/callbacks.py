"""Callback data of the bot's buttons: short, signed, and read back only when the signature holds.

Telegram carries at most 64 bytes of ``callback_data`` per button and gives them back verbatim when the
button is pressed, from any client: a user can send any bytes in their place. So every button's data is
``<action>:<arg>:<arg>…:<signature>``, the signature being 12 bytes of HMAC-SHA256 (base64url, 16
characters) under the server's secret over the action and the arguments. Forged or altered data are
refused as a whole; nothing is kept in memory, so a button pressed after a restart, or handled by another
process, works the same. python-telegram-bot's ``arbitrary_callback_data`` is not used: it lives in one
process's memory.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain.records import RsvpAnswer

LIMIT = 64
"""Telegram's limit on a button's callback data, in bytes."""

_SIGNATURE_BYTES = 12
_SIGNATURE_CHARS = 16
_PART = re.compile(r"[A-Za-z0-9_.@-]*")
"""What an action or an argument may hold: ids and short words, never the separator."""


class CallbackTooLong(ValueError):
    """The data would not fit in Telegram's 64 bytes."""


@dataclass(frozen=True, slots=True)
class Callback:
    """A button's action and its arguments, read back from signed data."""

    action: str
    args: tuple[str, ...] = ()


def _signature(secret: bytes, body: str) -> str:
    digest = hmac.new(secret, b"callback\x1f" + body.encode(), hashlib.sha256).digest()[:_SIGNATURE_BYTES]
    return base64.urlsafe_b64encode(digest).decode("ascii")


def sign(secret: bytes, action: str, *args: str) -> str:
    """The callback data for a button; raises ``CallbackTooLong`` past 64 bytes and ``ValueError`` for a part
    that is not an id (ids are short: an action and a session id and a delegate id fit)."""
    parts = (action, *args)
    for part in parts:
        if not _PART.fullmatch(part):
            raise ValueError(f"a callback part must be an id, not {part!r}")
    if not action:
        raise ValueError("a callback needs an action")
    body = ":".join(parts)
    data = f"{body}:{_signature(secret, body)}"
    if len(data.encode()) > LIMIT:
        raise CallbackTooLong(f"callback data of {len(data.encode())} bytes: Telegram takes {LIMIT}")
    return data


def verify(secret: bytes, data: object) -> Callback | None:
    """The action and arguments of signed callback data; None for anything else (forged, altered, too long)."""
    if not isinstance(data, str) or len(data.encode()) > LIMIT:
        return None
    body, sep, signature = data.rpartition(":")
    if not sep or len(signature) != _SIGNATURE_CHARS:
        return None
    if not hmac.compare_digest(signature, _signature(secret, body)):
        return None
    action, *args = body.split(":")
    return Callback(action, tuple(args))


def short(identifier: str) -> str:
    """A 6-character stand-in for an id in callback data (session and delegate ids can be long): read back by
    ``find`` among the ids it may be. A collision within one list is a chance of one in a billion."""
    digest = hashlib.sha256(identifier.encode()).digest()[:5]
    return base64.b32encode(digest).decode("ascii")[:6].lower()


def find(stand_in: str, identifiers: Iterable[str]) -> str | None:
    """The id among ``identifiers`` whose ``short`` form is ``stand_in``."""
    return next((i for i in identifiers if short(i) == stand_in), None)


ANSWER_CODES = {
    RsvpAnswer.IN_PERSON: "i",
    RsvpAnswer.REMOTE: "r",
    RsvpAnswer.NOT_ATTENDING: "n",
    RsvpAnswer.SUBSTITUTE: "s",
}
"""An answer's letter in an answer button's data (``a:<session>:<letter>``)."""
ANSWERS_BY_CODE = {code: answer for answer, code in ANSWER_CODES.items()}
