"""When things happen, in words: "19 October 2022, 14:00–17:00 Moscow time (17:00–20:00 your time, Bishkek)".

Every notice says when its session starts and ends, often more than once and in every output; the phrase
depends only on the instants as read in the two zones and on the reader's language. Written here once per
combination (cached) from the catalogue's messages, rather than by template macros on every render: the
catalogues made rendering slower, and this was a fifth of a notice's rendering time
(``python -m benchmarks.render``).
"""

from __future__ import annotations

from functools import lru_cache

from messages import catalogues, words
from messages.views import Clock, Moment, Span


def _zone(language: str, clock: Clock) -> str:
    return zone_phrase(language, clock.zone, clock.city)


def zone_phrase(language: str, zone: str, city: str) -> str:
    """A zone as the notices name it: "Moscow time", else "local time (City)"."""
    phrase = words.table(language)["zone_phrases"].get(zone)
    if phrase is not None:
        return str(phrase)
    return str(catalogues.catalogue(language).translations.gettext("local time (%(city)s)")) % {"city": city}


def _range(language: str, a: Clock, b: Clock, one_day: bool) -> str:
    t = catalogues.catalogue(language).translations
    if one_day:
        return str(t.gettext("%(date)s, %(start)s–%(end)s")) % {"date": a.date, "start": a.time, "end": b.time}
    return str(t.gettext("%(start_date)s, %(start)s to %(end_date)s, %(end)s")) % {
        "start_date": a.date,
        "start": a.time,
        "end_date": b.date,
        "end": b.time,
    }


@lru_cache(maxsize=4096)
def when(language: str, moment: Moment) -> str:
    """One instant: its date, time and zone, and the reader's time beside it when their zone differs."""
    t = catalogues.catalogue(language).translations
    here, yours = moment.here, moment.yours
    text = str(t.gettext("%(date)s, %(time)s %(zone)s")) % {
        "date": here.date,
        "time": here.time,
        "zone": _zone(language, here),
    }
    if not moment.differs:
        return text
    if yours.date != here.date:
        mine = str(t.gettext("%(date)s, %(time)s your time, %(city)s")) % {
            "date": yours.date,
            "time": yours.time,
            "city": yours.city,
        }
    else:
        mine = str(t.gettext("%(time)s your time, %(city)s")) % {"time": yours.time, "city": yours.city}
    return f"{text} ({mine})"


@lru_cache(maxsize=4096)
def span(language: str, s: Span) -> str:
    """A session's start and end, with the reader's times beside them when their zone differs."""
    t = catalogues.catalogue(language).translations
    a, b = s.start.here, s.end.here
    text = str(t.gettext("%(times)s %(zone)s")) % {
        "times": _range(language, a, b, s.one_day),
        "zone": _zone(language, a),
    }
    if not s.start.differs:
        return text
    c, d = s.start.yours, s.end.yours
    if c.date == a.date and s.one_day and d.date == c.date:
        yours = str(t.gettext("%(start)s–%(end)s")) % {"start": c.time, "end": d.time}
    else:
        yours = _range(language, c, d, d.date == c.date)
    mine = str(t.gettext("%(times)s your time, %(city)s")) % {"times": yours, "city": c.city}
    return f"{text} ({mine})"
