"""What the templates see: one delegate's view of a session, localized, with times read in two zones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale
from babel.dates import format_date, format_time, get_timezone_location

from domain.delivery import Change
from domain.deployment import Deployment
from domain.model import Chair, Contact, Deadline, Delegate, Presenter, Role, Session, Venue, Video
from domain.values import localize, parse_duration, to_utc, zone

UTC_NAMES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "Etc/Universal", "Etc/Zulu", "Etc/GMT", "GMT", "Universal", "Zulu"})


@dataclass(frozen=True, slots=True)
class Clock:
    """An instant read in one zone: its date and time formatted for the locale, and the zone's city."""

    date: str
    time: str
    zone: str
    """The IANA name (``Europe/Moscow``): the catalogues may name well-known zones in their own words."""
    city: str
    """The zone's exemplar city in the locale's language (``Бишкек``), or ``UTC``."""


@dataclass(frozen=True, slots=True)
class Moment:
    """An instant in its own zone (the session's or the deadline's) and in the recipient's."""

    here: Clock
    yours: Clock
    differs: bool
    """True when the two zones' offsets differ at that instant: then both times are shown."""


@dataclass(frozen=True, slots=True)
class Span:
    """When a session runs, from start to end."""

    start: Moment
    end: Moment

    @property
    def one_day(self) -> bool:
        """True when it starts and ends on the same date in its own zone."""
        return self.start.here.date == self.end.here.date


@dataclass(frozen=True, slots=True)
class Countdown:
    """How far away something is, from the moment the message is read."""

    delta: timedelta
    days: int
    """Calendar days between now and then in the recipient's zone: 0 today, 1 tomorrow."""


@dataclass(frozen=True, slots=True)
class Person:
    """Someone to name: a chair, a presenter, a contact."""

    name: str
    position: str = ""
    state: str = ""
    email: str = ""
    phone: str = ""
    telegram: str = ""
    """A Telegram username without ``@``."""


@dataclass(frozen=True, slots=True)
class Document:
    """A document of an agenda item."""

    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Item:
    """An agenda item."""

    number: int
    title: str
    presenters: tuple[Person, ...]
    documents: tuple[Document, ...]
    duration: timedelta | None


@dataclass(frozen=True, slots=True)
class Place:
    """A venue."""

    name: str
    room: str
    address: str
    city: str
    map_url: str


@dataclass(frozen=True, slots=True)
class Join:
    """How to join by video; the passcode only in the message that reveals it."""

    url: str
    meeting_id: str
    dial_in: str
    notes: str
    has_passcode: bool
    passcode: str
    """Empty unless revealed."""


@dataclass(frozen=True, slots=True)
class DeadlineView:
    """A deadline of a session."""

    id: str
    title: str
    at: Moment
    countdown: Countdown | None = None


@dataclass(frozen=True, slots=True)
class SessionView:
    """A session as one delegate reads it."""

    id: str
    title: str
    number: int | None
    kind: str
    format: str
    status: str
    description: str
    span: Span
    venue: Place | None
    video: Join | None
    chair: Person | None
    agenda: tuple[Item, ...]
    deadlines: tuple[DeadlineView, ...]
    """The deadlines that concern this delegate."""
    join_ahead: timedelta | None
    """How long before the start the join link is sent, when it is."""


@dataclass(frozen=True, slots=True)
class CommissionView:
    """The commission and how to reach its secretariat."""

    name: str
    short_name: str
    website: str
    secretariat: Person
    contacts: tuple[Person, ...]


@dataclass(frozen=True, slots=True)
class DelegateView:
    """The recipient."""

    name: str
    position: str
    role: str
    state: str
    has_email: bool
    has_telegram: bool


@dataclass(frozen=True, slots=True)
class ChangeView:
    """One change, as before and after: times become moments, zones their city, the agenda what came and went."""

    field: str
    old: str
    new: str
    old_at: Moment | None
    new_at: Moment | None
    added: tuple[str, ...] = ()
    """For the agenda: the items (one a line in the change) that are new."""
    removed: tuple[str, ...] = ()
    """For the agenda: the items that were dropped."""


@lru_cache(maxsize=4096)
def _clock(at: datetime, zone_name: str, locale: Locale) -> Clock:
    # A fan-out reads the same few instants (a session's start and end, its deadlines) in the same zones and
    # locales for every delegate; Babel's formatting was a tenth of a notice's rendering time.
    tz = zone(zone_name)
    return Clock(
        date=format_date(at.astimezone(tz), "long", locale=locale),
        time=format_time(at, "short", tzinfo=tz, locale=locale),
        zone=zone_name,
        city=city_name(tz, zone_name, locale),
    )


def city_name(tz: ZoneInfo, zone_name: str, locale: Locale) -> str:
    """The city a zone is named after, in the locale's words (``UTC`` for UTC)."""
    if zone_name in UTC_NAMES:
        return "UTC"
    return str(get_timezone_location(tz, locale=locale, return_city=True))


class Views:
    """Builds the views of one deployment for one recipient, in one language and locale."""

    def __init__(self, deployment: Deployment, delegate: Delegate, language: str, locale: Locale) -> None:
        self.deployment = deployment
        self.delegate = delegate
        self.language = language
        self.locale = locale
        self.fallback = deployment.commission.language
        self.recipient_zone = zone(delegate.timezone)

    def text(self, value: dict[str, str] | None) -> str:
        """A model text in the message's language, else the commission's first language."""
        return localize(value, self.language, self.fallback)

    def clock(self, at: datetime, zone_name: str) -> Clock:
        """Read an instant in a zone."""
        return _clock(at, zone_name, self.locale)

    def moment(self, at: datetime, zone_name: str) -> Moment:
        """An instant in its own zone and in the recipient's."""
        here = zone(zone_name)
        differs = at.astimezone(here).utcoffset() != at.astimezone(self.recipient_zone).utcoffset()
        return Moment(
            here=self.clock(at, zone_name),
            yours=self.clock(at, self.delegate.timezone),
            differs=differs,
        )

    def countdown(self, target: datetime, reference: datetime) -> Countdown:
        """How far a target instant is from the reference instant, for the recipient."""
        tz = self.recipient_zone
        days = (target.astimezone(tz).date() - reference.astimezone(tz).date()).days
        return Countdown(delta=target - reference, days=days)

    def person(self, ref: str | Presenter | Chair | Contact) -> Person:
        """A presenter, a chair or a contact; a delegate's id becomes their name and state."""
        if isinstance(ref, str):
            return self._delegate_person(ref)
        if isinstance(ref, Chair) and ref.delegate is not None and ref.name is None:
            return self._delegate_person(ref.delegate, self.text(ref.position))
        if isinstance(ref, Contact):
            return Person(
                name=self.text(ref.name),
                position=self.text(ref.position),
                email=ref.email or "",
                phone=ref.phone or "",
                telegram=ref.telegram or "",
            )
        return Person(name=self.text(ref.name), position=self.text(ref.position))

    def _delegate_person(self, delegate_id: str, position: str = "") -> Person:
        delegate = self.deployment.delegates.get(delegate_id)
        if delegate is None:
            return Person(name=delegate_id)
        state = self.deployment.states.get(delegate.state)
        return Person(
            name=self.text(delegate.name),
            position=position or self.text(delegate.position),
            state=self.text(state.name) if state else delegate.state,
        )

    def deadline(self, session: Session, deadline: Deadline, reference: datetime | None = None) -> DeadlineView:
        """A deadline, and how far away it is from the reference instant when one is given."""
        at = session.deadline_at(deadline)
        return DeadlineView(
            id=deadline.id,
            title=self.text(deadline.title),
            at=self.moment(at, deadline.timezone or session.timezone),
            countdown=self.countdown(at, reference) if reference is not None else None,
        )

    def session(self, session: Session, *, reveal_passcode: bool = False, join_url: str | None = None) -> SessionView:
        """A session as this delegate reads it; the passcode only when asked to reveal it; ``join_url``: the
        delegate's own link into the meeting, where the platform gives each delegate one."""
        is_head = self.delegate.role is Role.HEAD
        deadlines = tuple(self.deadline(session, d) for d in session.deadlines if d.audience == "invited" or is_head)
        return SessionView(
            id=session.id,
            title=self.text(session.title),
            number=session.number,
            kind=session.kind.value,
            format=session.format.value,
            status=session.status.value,
            description=self.text(session.description),
            span=Span(
                start=self.moment(session.starts_at, session.timezone),
                end=self.moment(session.ends_at, session.timezone),
            ),
            venue=self._place(session.venue) if session.venue else None,
            video=self._join(session.video, reveal_passcode, join_url) if session.video and session.is_remote else None,
            chair=self.person(session.chair) if session.chair else None,
            agenda=tuple(
                Item(
                    number=number,
                    title=self.text(item.title),
                    presenters=tuple(self.person(p) for p in item.presenters),
                    documents=tuple(Document(self.text(doc.title), doc.url or "") for doc in item.documents),
                    duration=item.duration,
                )
                for number, item in enumerate(session.agenda, start=1)
            ),
            deadlines=deadlines,
            join_ahead=session.policy.start if session.is_remote else None,
        )

    def _place(self, venue: Venue) -> Place:
        return Place(
            name=self.text(venue.name),
            room=self.text(venue.room),
            address=self.text(venue.address),
            city=self.text(venue.city),
            map_url=venue.map_url or "",
        )

    def _join(self, video: Video, reveal: bool, join_url: str | None) -> Join:
        passcode = video.passcode.get_secret_value() if video.passcode is not None else ""
        return Join(
            url=join_url or ("" if video.personal else (video.url or "")),  # personal: the delegate's own link
            meeting_id=video.meeting_id or "",
            dial_in=video.dial_in or "",
            notes=self.text(video.notes),
            has_passcode=bool(passcode),
            passcode=passcode if reveal else "",
        )

    def commission(self) -> CommissionView:
        """The commission and its secretariat's contacts."""
        commission = self.deployment.commission
        secretariat = commission.secretariat
        short = self.text(commission.short_name) or self.text(commission.name)
        return CommissionView(
            name=self.text(commission.name),
            short_name=short,
            website=commission.website or "",
            secretariat=Person(
                name=self.text(secretariat.name),
                email=secretariat.email,
                phone=secretariat.phone or "",
            ),
            contacts=tuple(self.person(c) for c in secretariat.contacts),
        )

    def recipient(self) -> DelegateView:
        """The delegate the message is for."""
        d = self.delegate
        state = self.deployment.states.get(d.state)
        return DelegateView(
            name=self.text(d.name),
            position=self.text(d.position),
            role=d.role.value,
            state=self.text(state.name) if state else d.state,
            has_email=d.email is not None,
            has_telegram=d.telegram is not None,
        )

    def changes(self, session: Session, changes: Sequence[Change]) -> list[ChangeView]:
        """The changes of an update; old times are read in the old zone when the zone changed too."""
        zones = {c.field: c for c in changes}.get("timezone")
        old_zone = zones.old if zones and _is_zone(zones.old) else session.timezone
        new_zone = zones.new if zones and _is_zone(zones.new) else session.timezone
        return [self._change(c, old_zone, new_zone) for c in changes]

    def _change(self, change: Change, old_zone: str, new_zone: str) -> ChangeView:
        field, old, new = change.field, change.old, change.new
        added: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        if field == "agenda":
            before = [line for line in old.split("\n") if line.strip()]
            after = [line for line in new.split("\n") if line.strip()]
            added = tuple(line for line in after if line not in before)
            removed = tuple(line for line in before if line not in after)
        return ChangeView(
            field=field,
            old=self._plain(field, old),
            new=self._plain(field, new),
            old_at=self._time_value(field, old, old_zone),
            new_at=self._time_value(field, new, new_zone),
            added=added,
            removed=removed,
        )

    def _plain(self, field: str, value: str) -> str:
        if field == "timezone" and _is_zone(value):
            return city_name(zone(value), value, self.locale)
        return value

    def _time_value(self, field: str, value: str, zone_name: str) -> Moment | None:
        if field not in ("start", "end") or not value:
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
        at = to_utc(parsed, zone_name) if parsed.tzinfo is None else parsed
        return self.moment(at, zone_name)


def _is_zone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def split_offset(text: str) -> timedelta:
    """Parse the offset of a reminder's or deadline's detail (``P1D``, ``PT3H``)."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an offset such as P1D or PT3H") from exc
