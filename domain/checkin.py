"""Check-in codes: the short code on the screen in the hall, changing every few minutes.

A code is a time-based one-time password in the manner of TOTP (RFC 6238): HMAC-SHA256 under the server's
secret over the session and the number of the current period, truncated to eight digits. Nothing is stored:
any process with the secret shows the same code and checks it the same way. A code is accepted during its
own period and the one after it (a delegate who scanned it just before it changed is not refused); an
older one is recognised as expired, so the delegate is told to scan the current one instead of being told
that the code is wrong.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

PERIOD = timedelta(minutes=3)
"""How long one code is shown."""
DIGITS = 8
PREFIX = "c"
"""What a check-in code starts with in a ``/start`` parameter (``?start=c12345678``)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def period(moment: datetime, length: timedelta = PERIOD) -> int:
    """The number of the period a moment falls in."""
    return int((moment - _EPOCH) // length)


def code(secret: bytes, session_id: str, step: int) -> str:
    """The code of a session for one period."""
    digest = hmac.new(secret, f"checkin\x1f{session_id}\x1f{step}".encode(), hashlib.sha256).digest()
    offset = digest[-1] & 0x0F  # dynamic truncation, as HOTP (RFC 4226) does
    number = int.from_bytes(digest[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**DIGITS).zfill(DIGITS)


@dataclass(frozen=True, slots=True)
class Shown:
    """The code to show now, and until when it is shown."""

    code: str
    until: datetime


def current(secret: bytes, session_id: str, now: datetime, length: timedelta = PERIOD) -> Shown:
    """The code to show in the hall now."""
    step = period(now, length)
    return Shown(code(secret, session_id, step), _EPOCH + (step + 1) * length)


class CodeCheck(StrEnum):
    """What a code typed or scanned is."""

    VALID = "valid"
    EXPIRED = "expired"
    """The code of this session, from an earlier period (up to a day back)."""
    UNKNOWN = "unknown"
    """No code of these sessions: mistyped, invented, or another session's."""


def normalise(typed: str) -> str:
    """A code as typed: digits only (spaces and dashes dropped, a leading ``c`` of a deep link too)."""
    text = typed.strip()
    if text[:1].lower() == PREFIX:
        text = text[1:]
    return "".join(ch for ch in text if ch.isdigit())


def check(
    secret: bytes,
    typed: str,
    session_ids: Iterable[str],
    now: datetime,
    length: timedelta = PERIOD,
    lookback: timedelta = timedelta(days=1),
) -> tuple[CodeCheck, str | None]:
    """Which of the sessions a code belongs to, and whether it is still valid."""
    digits = normalise(typed)
    if len(digits) != DIGITS:
        return CodeCheck.UNKNOWN, None
    step = period(now, length)
    sessions = tuple(session_ids)
    for session_id in sessions:
        for candidate in (step, step - 1):
            if hmac.compare_digest(code(secret, session_id, candidate), digits):
                return CodeCheck.VALID, session_id
    back = int(lookback / length)
    for session_id in sessions:
        for candidate in range(step - 2, step - back - 1, -1):
            if hmac.compare_digest(code(secret, session_id, candidate), digits):
                return CodeCheck.EXPIRED, session_id
    return CodeCheck.UNKNOWN, None
