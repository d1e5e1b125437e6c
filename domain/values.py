"""Value types of the commission's world: texts in several languages, durations, zones, codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from difflib import get_close_matches
from functools import lru_cache
from importlib import resources
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from babel import Locale, UnknownLocaleError
from pydantic import AfterValidator, BeforeValidator, PlainSerializer

ANY_LANGUAGE = "*"
"""Key under which a text given as a plain string (the same in every language) is stored."""

_SHOWN = 40


def shown(value: object) -> str:
    """Quote a value for a message, cut to a few dozen characters so that a huge value cannot flood the output."""
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 4] + "…" + text[-3:]


def _check_language(code: str) -> str:
    if not isinstance(code, str) or not _known_locale(code):
        raise ValueError(
            f"unknown language code {shown(code)}: use a language code such as 'ru', 'en', 'kk', 'ky', 'hy', 'tg', 'be'"
        )
    canonical = _canonical_locale(code)
    if canonical != code:
        raise ValueError(
            f"write {code!r} as {canonical!r}: the case of BCP 47's {canonical.replace('_', '-')}, "
            "with the parts joined by '_'"
        )
    return code


@lru_cache(maxsize=256)
def _known_locale(code: str) -> bool:
    if len(code) > 20 or not re.fullmatch(r"[a-z]{2,3}(_[A-Za-z0-9]{2,8})*", code):
        return False
    try:
        locale = Locale.parse(code)
    except (UnknownLocaleError, ValueError):
        return False
    return locale.language == code.split("_", 1)[0]


@lru_cache(maxsize=256)
def _canonical_locale(code: str) -> str:
    """The code with BCP 47's case for a script and a territory: ``pt_BR``, ``sr_Latn_RS``, ``es_419``."""
    language, *rest = code.split("_")
    cased = (part.title() if len(part) == 4 else part.upper() if len(part) < 4 else part for part in rest)
    return "_".join([language, *cased])


Language = Annotated[str, AfterValidator(_check_language)]
"""A language code Babel knows (``ru``, ``en``, ``kk`` …)."""


def _to_text(value: object) -> object:
    if isinstance(value, str):
        if not value.strip():
            raise ValueError("must not be empty")
        return {ANY_LANGUAGE: value}
    if isinstance(value, dict):
        for code, text in value.items():
            if code != ANY_LANGUAGE:  # ``*``: a text given in no language, as a plain string is read
                _check_language(code)
            if not isinstance(text, str):
                raise ValueError(f"the {code!r} text must be a string")
            if not text.strip():
                raise ValueError(f"the {code!r} text must not be empty")
        if not value:
            raise ValueError("give at least one language, e.g. {ru: ..., en: ...}")
        return value
    raise ValueError("must be a string or a mapping of language code to string, e.g. {ru: ..., en: ...}")


Text = Annotated[dict[str, str], BeforeValidator(_to_text)]
"""A text in one or several languages: a plain string, or ``{ru: ..., en: ...}``."""


def localize(text: dict[str, str] | None, language: str, fallback: str | None = None) -> str:
    """Return the text in the language asked for, else the fallback language, else any language."""
    if not text:
        return ""
    if language in text:
        return text[language]
    base = language.split("_", 1)[0]
    if base in text:
        return text[base]
    if ANY_LANGUAGE in text:
        return text[ANY_LANGUAGE]
    if fallback is not None and fallback in text:
        return text[fallback]
    return next(iter(text.values()))


_DURATION_PART = re.compile(r"(\d+)\s*(min|w|d|h|m|s)")
_ISO_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")
_UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}
_ISO_SECONDS = (604800, 86400, 3600, 60, 1)

MAX_DURATION = timedelta(days=3 * 365)
"""The longest duration accepted (three years): every notice time then stays within the calendar."""

_TOO_LONG = f"must be at most 3 years ({MAX_DURATION.days}d)"


def parse_duration(value: object) -> timedelta:
    """Parse ``21d``, ``1h 30m``, ``2w`` or ISO 8601 ``P21D``/``PT1H30M`` into a timedelta (at most 3 years)."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("must be a duration with a unit, e.g. 21d, 2h, 30m or P21D")
    text = value.strip()
    iso = _ISO_DURATION.fullmatch(text.upper())
    if iso and text.upper() not in ("P", "PT") and any(iso.groups()):
        return _bounded([(g, unit) for g, unit in zip(iso.groups(), _ISO_SECONDS, strict=True) if g is not None])
    pos = 0
    parts: list[tuple[str, int]] = []
    units: set[int] = set()
    for match in _DURATION_PART.finditer(text.lower()):
        if text[pos : match.start()].strip():
            break
        unit = _UNIT_SECONDS[match.group(2)]
        if unit in units:
            raise ValueError(f"{shown(value)} gives the unit {match.group(2)!r} twice: add them up, e.g. 2d for 1d 1d")
        units.add(unit)
        parts.append((match.group(1), unit))
        pos = match.end()
    else:
        if pos and not text[pos:].strip():
            return _bounded(parts)
    raise ValueError(f"{shown(value)} is not a duration: write e.g. 21d, 2h, 30m, 1d 12h or P21D")


def _bounded(parts: list[tuple[str, int]]) -> timedelta:
    """Add up (digits, seconds per unit) parts, refusing what is longer than the longest duration accepted."""
    limit = int(MAX_DURATION.total_seconds())
    total = 0
    for digits, unit in parts:
        # Compared on the digits first: a number of thousands of digits cannot even be converted.
        if len(digits.lstrip("0")) > 12:
            raise ValueError(_TOO_LONG)
        total += int(digits) * unit
    if total > limit:
        raise ValueError(_TOO_LONG)
    return timedelta(seconds=total)


def format_duration(delta: timedelta) -> str:
    """Format a timedelta as a canonical ISO 8601 duration (``P1DT2H``)."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    out = f"{sign}P" + (f"{days}D" if days else "")
    clock = (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + (f"{secs}S" if secs else "")
    if clock:
        out += "T" + clock
    return out if out not in ("P", "-P") else "PT0S"


def _nonnegative(delta: timedelta) -> timedelta:
    if delta < timedelta(0):
        raise ValueError("must not be negative")
    return delta


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_nonnegative),
    PlainSerializer(format_duration, return_type=str),
]
"""A non-negative duration written ``21d``, ``2h``, ``30m`` or ISO 8601."""


_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@lru_cache(maxsize=1)
def _all_zones() -> frozenset[str]:
    """The IANA names of tzdata's list, without the files that are not zones of their own (``localtime`` …)."""
    try:
        names = set(resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8").split())
    except (ModuleNotFoundError, OSError):  # pragma: no cover - tzdata is a dependency
        names = set(available_timezones())
    return frozenset(n for n in names if n not in _NOT_ZONES and not n.startswith(("posix/", "right/")))


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """Return the IANA zone of that name (cached)."""
    return ZoneInfo(name)


def _check_zone(name: str) -> str:
    if re.fullmatch(r"(?i)(UTC|GMT)?\s*[+-]\d{1,2}(:?\d{2})?", name.strip()):
        raise ValueError(
            f"{shown(name)} is a fixed offset: use an IANA zone name such as Europe/Moscow or Asia/Bishkek, "
            "so that the zone's own rules (and their changes) apply"
        )
    if name not in _all_zones():
        close = get_close_matches(name, sorted(_all_zones()), n=1, cutoff=0.75) if len(name) <= 64 else []
        hint = f" (did you mean {close[0]}?)" if close else " (use an IANA name such as Europe/Moscow)"
        raise ValueError(f"unknown time zone {shown(name)}{hint}")
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # pragma: no cover - a zone file tzdata lacks
        raise ValueError(f"the time zone {name!r} cannot be read: update the tzdata package") from exc
    return name


ZoneName = Annotated[str, AfterValidator(_check_zone)]
"""An IANA time zone name such as ``Europe/Moscow``."""


def _naive_local(value: datetime) -> datetime:
    if value.tzinfo is not None:
        raise ValueError(
            "give the local time without an offset (e.g. 2022-10-19T14:00) and the zone in `timezone`: "
            "an offset or Z fixes an instant but hides which zone's rules apply"
        )
    return value


def _datetime_text(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("should be a date and time like 2022-10-19T14:00 (local time, no offset), not a number")
    return value


FIRST_YEAR = 1970
LAST_YEAR = 2200


def _in_calendar(value: datetime) -> datetime:
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be a date between {FIRST_YEAR} and {LAST_YEAR} (got the year {value.year})")
    return value


LocalDateTime = Annotated[
    datetime, BeforeValidator(_datetime_text), AfterValidator(_naive_local), AfterValidator(_in_calendar)
]
"""A wall-clock date and time without offset, read in a named time zone, in the years 1970 to 2200."""


def to_utc(local: datetime, zone_name: str) -> datetime:
    """Return the UTC instant of a wall-clock time in an IANA zone."""
    return local.replace(tzinfo=zone(zone_name)).astimezone(UTC)


def local_time_problem(local: datetime, zone_name: str) -> str | None:
    """Say why a wall-clock time is not a single instant in that zone (skipped or repeated), or None."""
    tz = zone(zone_name)
    first = local.replace(tzinfo=tz, fold=0)
    second = local.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    round_trip = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if round_trip != local:
        return f"{local:%Y-%m-%d %H:%M} does not exist in {zone_name}: the clocks skip it"
    return f"{local:%Y-%m-%d %H:%M} happens twice in {zone_name} (the clocks go back): choose another time"


class _Shown(str):
    """A value that a message quotes with ``!r``: shown cut short."""

    __slots__ = ()

    def __repr__(self) -> str:
        return shown(str(self))


def _pattern(regex: str, message: str, strip: bool = False) -> AfterValidator:
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if strip:
            value = value.strip()
        if not compiled.fullmatch(value):
            raise ValueError(message.format(value=_Shown(value)))
        return value

    return AfterValidator(check)


Slug = Annotated[
    str,
    _pattern(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}",
        "{value!r} is not a valid id: use letters, digits, '-', '_' and '.', starting with a letter or digit",
    ),
]
"""An identifier: letters, digits, ``-``, ``_`` and ``.``, starting with a letter or digit."""

StateCode = Annotated[
    str, _pattern(r"[A-Z]{3}", "{value!r} is not an ISO 3166-1 alpha-3 code: write three capitals, e.g. KGZ")
]
"""An ISO 3166-1 alpha-3 country code in capitals (``KGZ``)."""

AgencyRef = Annotated[
    str,
    _pattern(
        r"[A-Z]{3}/[A-Za-z0-9][A-Za-z0-9_.-]*",
        "{value!r} is not an agency reference: write STATE/agency-id, e.g. KGZ/mfa",
    ),
]
"""A reference to an agency of a delegation: ``STATE/agency-id`` (``KGZ/mfa``)."""

Email = Annotated[
    str,
    _pattern(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[A-Za-z]{2,}", "{value!r} is not an e-mail address", strip=True),
]
"""An e-mail address (``name@example.org``)."""


def needs_smtputf8(address: str) -> bool:
    """Whether an address's local part (before the ``@``) is not ASCII: only SMTPUTF8 servers can deliver to it."""
    return not address.rpartition("@")[0].isascii()


def _username(value: object) -> object:
    if isinstance(value, str):
        value = value.strip().removeprefix("@")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{4,31}", value):
            raise ValueError("a Telegram username has 5–32 letters, digits or _, starting with a letter (e.g. @ivanov)")
    return value


TelegramUsername = Annotated[str, BeforeValidator(_username)]
"""A Telegram username, stored without the leading ``@``."""

Url = Annotated[
    str, _pattern(r"https?://\S+", "{value!r} is not a URL: write it in full, starting with https://", strip=True)
]
"""An http(s) URL."""
