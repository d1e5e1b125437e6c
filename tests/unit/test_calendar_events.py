"""Calendar events: what Outlook, Google, Apple and Thunderbird get in an invitation or a feed, read by two parsers."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import icalendar
import pytest
from ical.calendar import Calendar as IcalCalendar
from ical.calendar_stream import IcsCalendarStream

from config.loader import load
from domain.deployment import Deployment
from domain.model import Deadline, Session, SessionStatus
from domain.uids import session_of, session_uid
from integrations.calendar.events import (
    PRODID,
    calendar,
    deadline_event,
    invitation_part,
    session_event,
    to_bytes,
)
from tests.conftest import EXAMPLES

STAMP = datetime(2022, 9, 28, 9, 0, tzinfo=UTC)
MOSCOW = ZoneInfo("Europe/Moscow")


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    loaded = load([str(EXAMPLES)], os.environ).deployment
    assert loaded is not None
    return loaded


@pytest.fixture(scope="module")
def xx(deployment: Deployment) -> Session:
    return deployment.sessions["icmec-xx"]


def parse(data: bytes) -> tuple[icalendar.Calendar, IcalCalendar]:
    """Read the bytes with icalendar and with the independent strict parser `ical`."""
    text = data.decode("utf-8")
    return icalendar.Calendar.from_ical(data), IcsCalendarStream.calendar_from_ics(text)


def invite(
    deployment: Deployment,
    session: Session,
    delegate_id: str = "kgz-alymbekov",
    *,
    cancel: bool = False,
    join_url: str | None = None,
) -> bytes:
    delegate = deployment.delegates[delegate_id]
    return invitation_part(
        deployment, session, delegate, sequence=1, stamp=STAMP, cancel=cancel, join_url=join_url
    ).data


def test_the_xx_meeting_starts_at_14_00_in_moscow_which_is_11_00_utc(deployment: Deployment, xx: Session) -> None:
    data = invite(deployment, xx)
    ours, strict = parse(data)

    assert b"\r\nDTSTART;TZID=Europe/Moscow:20221019T140000\r\n" in data
    start = ours.events[0].start
    assert isinstance(start, datetime)
    assert start == datetime(2022, 10, 19, 14, 0, tzinfo=MOSCOW)
    assert start.astimezone(UTC) == datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
    assert strict.events[0].start == datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
    assert strict.events[0].end == datetime(2022, 10, 19, 14, 0, tzinfo=UTC)
    assert ours.events[0]["DTSTAMP"].to_ical() == b"20220928T090000Z"


def test_every_tzid_used_has_exactly_one_vtimezone(deployment: Deployment, xx: Session) -> None:
    bishkek = xx.model_copy(update={"id": "bishkek-side-event", "timezone": "Asia/Bishkek"})
    almaty_deadline = Deadline(id="comments", title="Comments", at=datetime(2024, 3, 20, 18, 0), timezone="Asia/Almaty")
    events = [
        session_event(deployment, xx, language="ru", sequence=0, stamp=STAMP),
        session_event(deployment, bishkek, language="ru", sequence=0, stamp=STAMP),
        deadline_event(deployment, xx, xx.deadlines[0], language="ru", sequence=0, stamp=STAMP),
        deadline_event(deployment, xx, almaty_deadline, language="ru", sequence=0, stamp=STAMP),
    ]
    data = to_bytes(calendar(events, method=None, name="МКВЭС ОДКБ"))
    ours, strict = parse(data)

    used = set(re.findall(rb";TZID=([^;:]+)[;:]", data))
    assert used == {b"Europe/Moscow", b"Asia/Bishkek", b"Asia/Almaty"}
    defined = [tz.tz_name for tz in ours.timezones]
    assert sorted(defined) == sorted(name.decode() for name in used)
    assert len(defined) == len(set(defined))
    assert ours.get_missing_tzids() == set()
    assert sorted(tz.tz_id for tz in strict.timezones) == sorted(defined)
    # A VTIMEZONE comes before the events that use it.
    assert data.index(b"BEGIN:VTIMEZONE") < data.index(b"BEGIN:VEVENT")


def test_the_vtimezone_rules_themselves_give_the_right_offsets(deployment: Deployment, xx: Session) -> None:
    """Outlook reads the VTIMEZONE's rules, not the zone name: check the rules, not just the TZID."""
    moscow_2012 = xx.model_copy(
        update={"id": "moscow-2012", "start": datetime(2012, 6, 1, 14), "end": datetime(2012, 6, 1, 15)}
    )
    almaty_feb = xx.model_copy(
        update={
            "id": "almaty-feb",
            "timezone": "Asia/Almaty",
            "start": datetime(2024, 2, 1, 10),
            "end": datetime(2024, 2, 1, 12),
        }
    )
    almaty_apr = almaty_feb.model_copy(
        update={"id": "almaty-apr", "start": datetime(2024, 4, 1, 10), "end": datetime(2024, 4, 1, 12)}
    )
    sessions = [xx, moscow_2012, almaty_feb, almaty_apr]
    events = [session_event(deployment, s, language="ru", sequence=0, stamp=STAMP) for s in sessions]
    _, strict = parse(to_bytes(calendar(events, method=None)))
    observances = {tz.tz_id: [*tz.standard, *tz.daylight] for tz in strict.timezones}

    def offset(zone_name: str, local: datetime) -> timedelta:
        # ical 14's own IcsTimezoneInfo finds no onset in an observance without RRULE or RDATE (a DTSTART alone,
        # valid per RFC 5545 §3.6.5 and what every zone without DST gets), so read its parsed observances here.
        onsets = [(onset, o.tz_offset_to.offset) for o in observances[zone_name] for onset in (o.dtstart, *o.rdate)]
        return max((onset, to) for onset, to in onsets if isinstance(onset, datetime) and onset <= local)[1]

    # Russia kept UTC+4 from 2011 to October 2014, UTC+3 since; Kazakhstan went from UTC+6 to UTC+5 on 1 March 2024.
    assert offset("Europe/Moscow", datetime(2012, 6, 1, 14)) == timedelta(hours=4)
    assert offset("Europe/Moscow", datetime(2022, 10, 19, 14)) == timedelta(hours=3)
    assert offset("Asia/Almaty", datetime(2024, 2, 1, 10)) == timedelta(hours=6)
    assert offset("Asia/Almaty", datetime(2024, 4, 1, 10)) == timedelta(hours=5)


def test_uid_and_bytes_are_the_same_on_every_build(deployment: Deployment, xx: Session) -> None:
    first = invite(deployment, xx)
    second = invite(deployment, xx)

    assert session_uid("icmec", "icmec-xx") == "icmec-xx@icmec.plenary"
    assert session_of("icmec-xx@icmec.plenary", "icmec") == "icmec-xx"  # what a calendar reply names
    for other in ("icmec-xx@other.plenary", "meeting@example.org", "@icmec.plenary", "icmec-xx"):
        assert session_of(other, "icmec") is None
    assert parse(first)[0].events[0].uid == "icmec-xx@icmec.plenary"
    assert parse(first)[1].events[0].uid == "icmec-xx@icmec.plenary"
    assert first == second


def test_a_changed_vtimezone_in_one_calendar_does_not_leak_into_the_next(deployment: Deployment, xx: Session) -> None:
    event = session_event(deployment, xx, language="ru", sequence=0, stamp=STAMP)
    before = to_bytes(calendar([event], method=None))
    spoiled = calendar([event], method=None)
    spoiled.timezones[0].standard[0]["TZOFFSETTO"] = icalendar.vUTCOffset(timedelta(hours=9))

    assert to_bytes(calendar([event], method=None)) == before


def test_lines_end_in_crlf_and_fold_at_75_octets_between_whole_characters(deployment: Deployment, xx: Session) -> None:
    data = invite(deployment, xx)

    assert data.endswith(b"END:VCALENDAR\r\n")
    lines = data.split(b"\r\n")[:-1]
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert max(len(line) for line in lines) <= 75
    for line in lines:
        line.decode("utf-8")  # a fold inside a multi-byte character would fail here
    folded_cyrillic = [line for line in lines if re.match(r" [А-Яа-яЁё]", line.decode())]
    assert folded_cyrillic, "expected long Russian lines to be folded"


def test_russian_text_survives_both_parsers(deployment: Deployment, xx: Session) -> None:
    ours, strict = parse(invite(deployment, xx))
    event, strict_event = ours.events[0], strict.events[0]

    assert event["SUMMARY"] == strict_event.summary == "XX заседание МКВЭС ОДКБ"
    location = "МВЦ «Крокус Экспо», павильон 1, конференц-зал E, Москва, Международная ул., 16"
    assert event["LOCATION"] == strict_event.location == location
    description = str(event["DESCRIPTION"])
    assert description == strict_event.description
    assert "1. О ходе выполнения решений предыдущего заседания МКВЭС ОДКБ (сентябрь 2021 года, Минск)" in description
    assert (
        "— Эрлан Алымбеков\n   • Проект соглашения: https://icmec.example.org/docs/ip-agreement-draft.pdf"
        in description
    )
    assert "О кооперации предприятий оборонных отраслей — Ерлан Сапаров" in description
    assert strict_event.organizer is not None
    assert strict_event.organizer.uri == "mailto:secretariat@icmec.example.org"
    assert strict_event.organizer.common_name == "Секретариат МКВЭС"


def test_english_invitation_for_an_english_speaking_delegate(deployment: Deployment, xx: Session) -> None:
    ours, _ = parse(invite(deployment, xx, "arm-expert"))
    event = ours.events[0]

    assert event["SUMMARY"] == "20th meeting of the ICMEC"
    assert event["ORGANIZER"].params["CN"] == "ICMEC Secretariat"
    assert str(event["LOCATION"]).startswith("Crocus Expo International Exhibition Centre, pavilion 1")


@pytest.mark.parametrize(("cancel", "method"), [(False, "REQUEST"), (True, "CANCEL")])
def test_the_body_method_is_the_part_method(deployment: Deployment, xx: Session, cancel: bool, method: str) -> None:
    part = invitation_part(
        deployment, xx, deployment.delegates["kgz-alymbekov"], sequence=3, stamp=STAMP, cancel=cancel
    )
    ours, strict = parse(part.data)

    assert part.method == method
    assert ours["METHOD"] == strict.method == method
    assert ours["PRODID"] == strict.prodid == PRODID
    assert ours["VERSION"] == "2.0"
    assert ours["CALSCALE"] == "GREGORIAN"
    assert "UID" not in ours
    assert ours.events[0].sequence == strict.events[0].sequence == 3


def test_the_attendee_is_asked_to_answer(deployment: Deployment, xx: Session) -> None:
    ours, strict = parse(invite(deployment, xx))
    (attendee,) = ours.events[0].attendees
    (strict_attendee,) = strict.events[0].attendees

    assert attendee == "mailto:e.alymbekov@kgz.example.org"
    assert attendee.params["CN"] == "Эрлан Алымбеков"
    assert attendee.params["RSVP"] == "TRUE"
    assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
    assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
    assert attendee.params["CUTYPE"] == "INDIVIDUAL"
    assert strict_attendee.rsvp is True
    assert strict_attendee.status == "NEEDS-ACTION"
    assert strict_attendee.common_name == "Эрлан Алымбеков"


def test_a_cancelled_session_is_sent_as_a_cancel(deployment: Deployment, xx: Session) -> None:
    cancelled = xx.model_copy(update={"status": SessionStatus.CANCELLED})
    part = invitation_part(deployment, cancelled, deployment.delegates["kgz-alymbekov"], sequence=2, stamp=STAMP)
    ours, strict = parse(part.data)

    assert part.method == "CANCEL"
    assert ours["METHOD"] == "CANCEL"
    assert ours.events[0]["STATUS"] == "CANCELLED"
    assert strict.events[0].status == "CANCELLED"
    assert strict.events[0].uid == "icmec-xx@icmec.plenary"


def test_uninviting_from_a_scheduled_session_cancels_the_delegates_copy(deployment: Deployment, xx: Session) -> None:
    ours, strict = parse(invite(deployment, xx, cancel=True))

    assert ours["METHOD"] == "CANCEL"
    assert strict.events[0].status == "CANCELLED"


def test_a_postponed_session_is_tentative(deployment: Deployment, xx: Session) -> None:
    postponed = xx.model_copy(update={"status": SessionStatus.POSTPONED})
    ours, strict = parse(invite(deployment, postponed))

    assert ours["METHOD"] == "REQUEST"
    assert ours.events[0]["STATUS"] == strict.events[0].status == "TENTATIVE"


def test_a_video_session_is_located_at_the_delegates_own_link(deployment: Deployment) -> None:
    xviii = deployment.sessions["icmec-xviii"]  # on BigBlueButton: a link of their own per delegate
    own = "https://plenary.example.org/join/a3Jn.c2Vzc2lvbi1zaWduYXR1cmU"
    ours, _ = parse(invite(deployment, xviii, "kgz-asanov", join_url=own))
    event = ours.events[0]

    assert event["LOCATION"] == own
    assert event["URL"] == own
    description = str(event["DESCRIPTION"])
    assert own in description
    assert "Проект плана на 2021 год: https://icmec.example.org/docs/2021-plan-draft.pdf" in description
    bare, _ = parse(invite(deployment, xviii, "kgz-asanov"))  # no link of theirs: the platform's API is not one
    assert "LOCATION" not in bare.events[0]
    assert b"bbb.example.org" not in invite(deployment, xviii, "kgz-asanov")


def test_a_feed_event_without_a_join_link_shows_none(deployment: Deployment) -> None:
    """A public feed must not hand out the join link: it appears only when the caller passes it."""
    xviii = deployment.sessions["icmec-xviii"]
    event = session_event(deployment, xviii, language="en", sequence=0, stamp=STAMP, description_extra="Public feed.")
    data = to_bytes(calendar([event], method=None, name="ICMEC", refresh_interval=timedelta(hours=1)))
    ours, strict = parse(data)

    assert b"meet.example.org" not in data
    assert "LOCATION" not in ours.events[0]
    assert ours.events[0]["URL"] == "https://icmec.example.org"
    assert str(ours.events[0]["DESCRIPTION"]).endswith("\n\nPublic feed.")
    assert "ATTENDEE" not in ours.events[0]
    assert "METHOD" not in ours
    assert strict.name == ["ICMEC"]
    assert strict.refresh_interval == timedelta(hours=1)
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in data


def test_last_modified_and_stamp_are_utc(deployment: Deployment, xx: Session) -> None:
    changed = datetime(2022, 9, 27, 18, 30, tzinfo=MOSCOW)
    event = session_event(deployment, xx, language="ru", sequence=4, stamp=STAMP, last_modified=changed)
    data = to_bytes(calendar([event], method="PUBLISH"))

    assert b"\r\nLAST-MODIFIED:20220927T153000Z\r\n" in data
    assert b"\r\nDTSTAMP:20220928T090000Z\r\n" in data
    assert parse(data)[1].events[0].last_modified == datetime(2022, 9, 27, 15, 30, tzinfo=UTC)


def test_a_deadline_is_its_own_event_starting_at_the_deadline(deployment: Deployment, xx: Session) -> None:
    deadline = xx.deadlines[0]
    event = deadline_event(deployment, xx, deadline, language="ru", sequence=0, stamp=STAMP)
    ours, strict = parse(to_bytes(calendar([event], method="PUBLISH")))
    strict_event = strict.events[0]

    assert strict_event.uid == "icmec-xx.media-accreditation@icmec.plenary"
    assert strict_event.summary == "Окончание аккредитации СМИ"
    assert strict_event.start == datetime(2022, 10, 18, 17, 0, tzinfo=MOSCOW)
    assert strict_event.end - strict_event.start == timedelta(minutes=30)
    assert strict_event.transparency == "TRANSPARENT"
    assert [r.uid for r in strict_event.related_to] == ["icmec-xx@icmec.plenary"]
    assert ours.events[0]["DESCRIPTION"] == "XX заседание МКВЭС ОДКБ"


def test_a_naive_stamp_is_refused(deployment: Deployment, xx: Session) -> None:
    with pytest.raises(ValueError, match="aware"):
        session_event(deployment, xx, language="ru", sequence=0, stamp=datetime(2022, 9, 28, 9, 0))


def test_a_negative_sequence_is_refused(deployment: Deployment, xx: Session) -> None:
    with pytest.raises(ValueError, match="SEQUENCE"):
        session_event(deployment, xx, language="ru", sequence=-1, stamp=STAMP)


def test_an_unknown_method_is_refused(deployment: Deployment, xx: Session) -> None:
    event = session_event(deployment, xx, language="ru", sequence=0, stamp=STAMP)
    with pytest.raises(ValueError, match="iTIP method"):
        calendar([event], method="INVITE")


def test_a_delegate_without_email_cannot_be_invited_by_email(deployment: Deployment, xx: Session) -> None:
    delegate = deployment.delegates["kgz-alymbekov"].model_copy(update={"email": None})
    with pytest.raises(ValueError, match="no e-mail"):
        invitation_part(deployment, xx, delegate, sequence=0, stamp=STAMP)
