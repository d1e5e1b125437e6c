"""The one builder of calendar events: a session or deadline as a VEVENT, for e-mail invitations and ICS feeds.

E-mail invitations (iMIP, RFC 6047, carrying iTIP REQUEST/CANCEL of RFC 5546) and ICS feeds (RFC 5545, RFC 7986)
both come from here, so a session has one UID and one SEQUENCE wherever a calendar meets it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from icalendar import (
    CUTYPE,
    PARTSTAT,
    ROLE,
    STATUS,
    TRANSP,
    Calendar,
    Component,
    Event,
    Timezone,
    vCalAddress,
    vDuration,
)

from domain.delivery import CalendarPart
from domain.deployment import Deployment
from domain.model import Deadline, Delegate, Presenter, Session, SessionFormat, SessionStatus
from domain.uids import deadline_uid, session_uid
from domain.values import localize, zone

PRODID = "-//Plenary//Plenary//EN"
"""The PRODID of every calendar Plenary writes."""

METHODS = frozenset({"PUBLISH", "REQUEST", "REPLY", "ADD", "CANCEL", "REFRESH", "COUNTER", "DECLINECOUNTER"})
"""The iTIP methods of RFC 5546 §1.4."""

DEADLINE_LENGTH = timedelta(minutes=30)
"""How long a deadline's event lasts, from the deadline itself (see `deadline_event`)."""

_STATUS = {
    SessionStatus.SCHEDULED: STATUS.CONFIRMED,
    SessionStatus.POSTPONED: STATUS.TENTATIVE,
    SessionStatus.CANCELLED: STATUS.CANCELLED,
}


def session_event(
    deployment: Deployment,
    session: Session,
    *,
    language: str,
    sequence: int,
    stamp: datetime,
    last_modified: datetime | None = None,
    attendee: Delegate | None = None,
    description_extra: str = "",
    join_url: str | None = None,
) -> Event:
    """Return the VEVENT of a session in one language; the join link appears only when `join_url` is given."""
    commission = deployment.commission
    fallback = commission.language
    title = localize(session.title, language, fallback)
    event = Event.new(
        uid=session_uid(commission.id, session.id),
        sequence=_sequence(sequence),
        stamp=_utc(stamp, "stamp"),
        last_modified=_utc(last_modified, "last_modified") if last_modified is not None else None,
        summary=title,
        start=session.start.replace(tzinfo=zone(session.timezone)),
        end=session.end.replace(tzinfo=zone(session.timezone)),
        status=_STATUS[session.status],
        location=_location(session, language, fallback, join_url) or None,
        description=_description(deployment, session, language, join_url, description_extra) or None,
        url=join_url or commission.website,
        organizer=_organizer(deployment, language),
        categories=[session.kind.value],
        attendees=[_attendee(attendee, language, fallback)] if attendee is not None else None,
    )
    return event


def deadline_event(
    deployment: Deployment,
    session: Session,
    deadline: Deadline,
    *,
    language: str,
    sequence: int,
    stamp: datetime,
    last_modified: datetime | None = None,
) -> Event:
    """Return the VEVENT of one of a session's deadlines: 30 minutes from the deadline, shown as free time."""
    commission = deployment.commission
    fallback = commission.language
    local_zone = zone(deadline.timezone or session.timezone)
    start = deadline.at.replace(tzinfo=local_zone)
    # Why 30 minutes from the deadline rather than zero length: Exchange/Outlook refuse a VEVENT with neither
    # DTEND nor DURATION ([MS-STANXICAL] 2.2.67), RFC 5545 §3.8.2.2 forbids DTEND == DTSTART, and a zero DURATION
    # draws as a hairline in Outlook's and Google's day views. Starting (not ending) at the deadline puts the
    # deadline's own time first in month and agenda views and phone notifications, and makes the clients' default
    # reminders count back from the deadline; TRANSP:TRANSPARENT keeps the half hour free in free/busy.
    return Event.new(
        uid=deadline_uid(commission.id, session.id, deadline.id),
        sequence=_sequence(sequence),
        stamp=_utc(stamp, "stamp"),
        last_modified=_utc(last_modified, "last_modified") if last_modified is not None else None,
        summary=localize(deadline.title, language, fallback),
        start=start,
        end=start + DEADLINE_LENGTH,
        transparency=TRANSP.TRANSPARENT,
        status=_STATUS[session.status],
        description=localize(session.title, language, fallback),
        url=commission.website,
        organizer=_organizer(deployment, language),
        categories=["deadline"],
        related_to=session_uid(commission.id, session.id),
    )


def calendar(
    events: Iterable[Event],
    *,
    method: str | None,
    name: str | None = None,
    description: str | None = None,
    refresh_interval: timedelta | None = None,
    url: str | None = None,
) -> Calendar:
    """Return a VCALENDAR holding the events and one VTIMEZONE for every TZID they use."""
    if method is not None and method.upper() not in METHODS:
        raise ValueError(f"unknown iTIP method {method!r}: use one of {', '.join(sorted(METHODS))}")
    events = list(events)
    cal = Calendar.new(
        prodid=PRODID,
        calscale="GREGORIAN",
        method=method.upper() if method is not None else None,
        name=name,
        description=description,
        refresh_interval=refresh_interval,
        url=url,
        subcomponents=events,
    )
    del cal["UID"]  # Calendar.new adds a random one: a feed's bytes must not change unless its events do
    if refresh_interval is not None:
        # RFC 7986 requires the VALUE=DURATION parameter, which icalendar leaves out.
        del cal["REFRESH-INTERVAL"]
        cal.add("REFRESH-INTERVAL", vDuration(refresh_interval), parameters={"VALUE": "DURATION"})
        # Outlook reads this instead of RFC 7986's REFRESH-INTERVAL.
        cal.add("X-PUBLISHED-TTL", vDuration(refresh_interval))
    years = _years_by_tzid(events)
    zones = [_cached_timezone(tzid, *years[tzid]) for tzid in sorted(cal.get_missing_tzids()) if tzid in years]
    cal.subcomponents[:0] = zones
    # Whatever the scan above could not date (a TZID on a property it does not read) gets the library's default
    # range, 1970–2038, uncached; none of our events has such a property.
    cal.add_missing_timezones()
    missing = cal.get_missing_tzids()
    if missing:
        raise ValueError(f"no VTIMEZONE can be built for {', '.join(sorted(missing))}")
    return cal


def invitation_part(
    deployment: Deployment,
    session: Session,
    delegate: Delegate,
    *,
    sequence: int,
    stamp: datetime,
    cancel: bool = False,
    join_url: str | None = None,
) -> CalendarPart:
    """Return the iMIP part inviting a delegate to a session (METHOD:REQUEST), or cancelling it (METHOD:CANCEL);
    the event's location and link are the delegate's own ``join_url`` where the platform gives one each."""
    if delegate.email is None:
        raise ValueError(f"delegate {delegate.id!r} has no e-mail address to invite")
    cancelled = cancel or session.status is SessionStatus.CANCELLED
    method = "CANCEL" if cancelled else "REQUEST"
    join_url = (join_url if session.is_remote else None) or session.shared_join_url
    event = session_event(
        deployment,
        session,
        language=delegate.language,
        sequence=sequence,
        stamp=stamp,
        attendee=delegate,
        join_url=join_url,
    )
    if cancelled:
        event.status = STATUS.CANCELLED
    return CalendarPart(method=method, data=to_bytes(calendar([event], method=method)))


def to_bytes(cal: Calendar) -> bytes:
    """Serialise a calendar: UTF-8, CRLF line ends, lines folded at 75 octets between whole characters."""
    data: bytes = cal.to_ical()
    return data


def _utc(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime (UTC), not {value!r}")
    return value.astimezone(UTC)


def _sequence(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"SEQUENCE must be a non-negative integer, not {value!r}")
    return value


def _organizer(deployment: Deployment, language: str) -> vCalAddress:
    commission = deployment.commission
    secretariat = commission.secretariat
    name = localize(secretariat.name or commission.short_name or commission.name, language, commission.language)
    return vCalAddress.new(secretariat.email, cn=name)


def _attendee(delegate: Delegate, language: str, fallback: str) -> vCalAddress:
    if delegate.email is None:
        raise ValueError(f"delegate {delegate.id!r} has no e-mail address to be an ATTENDEE")
    return vCalAddress.new(
        delegate.email,
        cn=localize(delegate.name, language, fallback),
        role=ROLE.REQ_PARTICIPANT,
        partstat=PARTSTAT.NEEDS_ACTION,
        rsvp=True,
        cutype=CUTYPE.INDIVIDUAL,
    )


def _location(session: Session, language: str, fallback: str, join_url: str | None) -> str:
    venue = session.venue
    if venue is None or session.format is SessionFormat.VIDEO:
        return join_url or ""
    parts: list[str] = []
    for text in (venue.name, venue.room, venue.address, venue.city):
        part = localize(text, language, fallback).strip()
        # The address often already names the city ("Москва, Международная ул., 16"): say it once.
        if part and not any(_contains_words(earlier, part) for earlier in parts):
            parts.append(part)
    return ", ".join(parts)


def _contains_words(text: str, words: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text, re.IGNORECASE) is not None


def _description(deployment: Deployment, session: Session, language: str, join_url: str | None, extra: str) -> str:
    fallback = deployment.commission.language
    blocks: list[str] = []
    if session.description:
        blocks.append(localize(session.description, language, fallback))
    # No labels ("Agenda", "Join"): those words belong to the message catalogue, which this package may not
    # import; numbering, layout and the links speak for themselves, and callers add catalogue text as `extra`.
    agenda: list[str] = []
    for number, item in enumerate(session.agenda, start=1):
        line = f"{number}. {localize(item.title, language, fallback)}"
        names = [_presenter_name(deployment, p, language, fallback) for p in item.presenters]
        if names:
            line += f" — {', '.join(names)}"
        agenda.append(line)
        for document in item.documents:
            title = localize(document.title, language, fallback)
            agenda.append(f"   • {title}: {document.url}" if document.url else f"   • {title}")
    if agenda:
        blocks.append("\n".join(agenda))
    if join_url is not None:
        video = [join_url]
        if session.video is not None:
            if session.video.dial_in:
                video.append(session.video.dial_in)
            if session.video.notes:
                video.append(localize(session.video.notes, language, fallback))
        blocks.append("\n".join(video))
    if extra.strip():
        blocks.append(extra.strip())
    return "\n\n".join(blocks)


def _presenter_name(deployment: Deployment, presenter: str | Presenter, language: str, fallback: str) -> str:
    if isinstance(presenter, Presenter):
        return localize(presenter.name, language, fallback)
    delegate = deployment.delegates.get(presenter)
    return localize(delegate.name, language, fallback) if delegate is not None else presenter


def _years_by_tzid(components: Sequence[Component]) -> dict[str, tuple[int, int]]:
    """Map each TZID the components use to the first and last local year it is used in."""
    years: dict[str, tuple[int, int]] = {}
    for component in components:
        for _name, value in component.property_items(sorted=False):
            params = getattr(value, "params", None)
            tzid = params.get("TZID") if params is not None else None
            moment = getattr(value, "dt", None)
            if tzid is None or not isinstance(moment, date):
                continue
            first, last = years.get(tzid, (moment.year, moment.year))
            years[tzid] = (min(first, moment.year), max(last, moment.year))
    return years


def _cached_timezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    # A copy, so that a caller changing one calendar's VTIMEZONE cannot change every later calendar's.
    return _timezone(tzid, first_year, last_year).copy(recursive=True)


@lru_cache(maxsize=256)
def _timezone(tzid: str, first_year: int, last_year: int) -> Timezone:
    # The call `Calendar.add_missing_timezones()` makes for each missing TZID, cached: it takes 12–20 ms per zone
    # (for a zone without future transitions it steps through the tz rules up to year 9999). The range covers
    # the years the calendar uses and no more, which keeps a VTIMEZONE at ~220 bytes instead of ~1.7 kB
    # (Europe/Moscow over the default 1970–2038) and keeps Outlook, which reads the rules rather than the name,
    # from meeting historical offsets it does not need.
    return Timezone.from_tzid(tzid, first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1))
