"""Attendance as a fact (``domain.attendance``): the example's XVIII meeting (video, six states) with check-ins,
joins and leaves in any order, corrections, guests and the quorum."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from domain.attendance import Presence, attendance
from domain.deployment import Deployment
from domain.model import Quorum, Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource
from domain.video import Participant, VideoEvent, VideoEventKind

_ids = itertools.count()


@pytest.fixture
def meeting(deployment: Deployment) -> tuple[Deployment, Session]:
    """XVIII with a majority quorum and a 30-minute minimum on the call."""
    session = deployment.sessions["icmec-xviii"]
    assert session.video is not None
    video = session.video.model_copy(update={"minimum": timedelta(minutes=30)})
    changed = session.model_copy(update={"quorum": Quorum.model_validate("majority"), "video": video})
    return dataclasses.replace(deployment, sessions={**deployment.sessions, changed.id: changed}), changed


def at(session: Session, minutes: float) -> datetime:
    return session.starts_at + timedelta(minutes=minutes)


def video(session: Session, kind: AttendanceKind, minutes: float, who: str | None, pid: str = "") -> AttendanceEvent:
    return AttendanceEvent(
        session_id=session.id,
        delegate_id=who,
        source=AttendanceSource.VIDEO,
        kind=kind,
        occurred_at=at(session, minutes),
        external_id=f"v{next(_ids)}",
        participant_id=pid or f"p-{who}",
        participant_name=f"shown as {who or 'guest'}",
    )


def check_in(session: Session, minutes: float, who: str) -> AttendanceEvent:
    return AttendanceEvent(
        session_id=session.id,
        delegate_id=who,
        source=AttendanceSource.VENUE,
        kind=AttendanceKind.CHECK_IN,
        occurred_at=at(session, minutes),
    )


def fix(session: Session, minutes: float, who: str, kind: AttendanceKind, pid: str | None = None) -> AttendanceEvent:
    return AttendanceEvent(
        session_id=session.id,
        delegate_id=who,
        source=AttendanceSource.SECRETARIAT,
        kind=kind,
        occurred_at=at(session, minutes),
        participant_id=pid,
        recorded_by="cli:secretary",
        note="seen on the screen",
    )


JOIN, LEAVE = AttendanceKind.JOIN, AttendanceKind.LEAVE


def test_rejoins_are_merged_and_only_the_sessions_window_counts(meeting: tuple[Deployment, Session]) -> None:
    deployment, session = meeting
    events = [
        video(session, JOIN, -10, "rus-head"),  # early: counted from the start
        video(session, LEAVE, 20, "rus-head"),
        video(session, JOIN, 25, "rus-head"),  # a rejoin
        video(session, LEAVE, 60, "rus-head"),
        video(session, JOIN, 0, "kaz-head"),
        video(session, LEAVE, 10, "kaz-head"),  # ten minutes: below the minimum
    ]
    table = attendance(deployment, session, events, at(session, 240))
    rus, kaz = table.delegate("rus-head"), table.delegate("kaz-head")
    assert rus is not None
    assert kaz is not None
    assert (rus.presence, rus.minutes, len(rus.intervals)) == (Presence.REMOTE, 55.0, 2)
    assert (kaz.presence, kaz.minutes) == (Presence.BRIEFLY, 10.0)
    arm = table.delegate("arm-head")
    assert arm is not None
    assert arm.presence is Presence.ABSENT


def test_the_same_events_in_any_order_and_delivered_twice_give_the_same_record(
    meeting: tuple[Deployment, Session],
) -> None:
    deployment, session = meeting
    events = [
        video(session, JOIN, 0, "rus-head"),
        video(session, LEAVE, 40, "rus-head"),
        video(session, JOIN, 50, "rus-head"),
        video(session, LEAVE, 100, "rus-head"),
        video(session, JOIN, 5, "blr-head"),
    ]
    expected = attendance(deployment, session, events, at(session, 240))
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    again = attendance(deployment, session, shuffled, at(session, 240))
    assert again.states == expected.states
    rus = again.delegate("rus-head")
    assert rus is not None
    assert rus.minutes == 90.0
    blr = again.delegate("blr-head")  # a join with no leave: closed at the session's end
    assert blr is not None
    assert (blr.presence, blr.minutes) == (Presence.REMOTE, 175.0)


def test_checked_in_and_on_the_call_counts_once_in_person(meeting: tuple[Deployment, Session]) -> None:
    deployment, session = meeting
    events = [check_in(session, -5, "kgz-asanov"), video(session, JOIN, 0, "kgz-asanov")]
    table = attendance(deployment, session, events, at(session, 240))
    kgz = next(s for s in table.states if s.state == "KGZ")
    assert (kgz.tally.in_person, kgz.tally.remote, kgz.represented) == (1, 0, True)
    assert table.totals.in_person == 1


def test_a_correction_wins_and_a_guest_counts_only_once_assigned(meeting: tuple[Deployment, Session]) -> None:
    deployment, session = meeting
    events = [
        video(session, JOIN, 0, "tjk-head"),
        video(session, LEAVE, 100, "tjk-head"),
        fix(session, 120, "tjk-head", AttendanceKind.ABSENT),  # it was someone else on their link
        video(session, JOIN, 1, None, pid="w_guest1"),
        video(session, LEAVE, 90, None, pid="w_guest1"),
    ]
    table = attendance(deployment, session, events, at(session, 240))
    tjk = table.delegate("tjk-head")
    assert tjk is not None
    assert tjk.presence is Presence.ABSENT
    assert [(g.participant_id, g.name, g.minutes) for g in table.guests] == [("w_guest1", "shown as guest", 89.0)]
    assert not next(s for s in table.states if s.state == "TJK").represented
    assert len(table.corrections) == 1

    assigned = [*events, fix(session, 130, "arm-deputy", AttendanceKind.ASSIGN, pid="w_guest1")]
    table = attendance(deployment, session, assigned, at(session, 240))
    assert table.guests == ()
    arm = table.delegate("arm-deputy")
    assert arm is not None
    assert (arm.presence, arm.minutes) == (Presence.REMOTE, 89.0)


def test_the_quorum_is_met_lost_and_regained_live_with_the_moment_it_was_first_met(
    meeting: tuple[Deployment, Session],
) -> None:
    deployment, session = meeting
    joins = [
        video(session, JOIN, minutes, head) for minutes, head in ((1, "rus-head"), (2, "kaz-head"), (3, "blr-head"))
    ]
    first_three = attendance(deployment, session, joins, at(session, 4))
    assert first_three.quorum is not None
    assert (first_three.quorum.required, first_three.quorum.states) == (4, 6)
    assert not first_three.quorum.met
    assert first_three.quorum.first_met_at is None
    events = [*joins, check_in(session, 5, "arm-head")]
    met = attendance(deployment, session, events, at(session, 6))
    assert met.quorum is not None
    assert met.quorum.met
    assert met.quorum.first_met_at == at(session, 5)
    events.append(video(session, LEAVE, 30, "blr-head"))
    lost = attendance(deployment, session, events, at(session, 31))
    assert lost.quorum is not None
    assert not lost.quorum.met
    assert lost.quorum.represented == 3
    events.append(video(session, JOIN, 40, "blr-head"))
    regained = attendance(deployment, session, events, at(session, 41))
    assert regained.quorum is not None
    assert regained.quorum.met
    assert regained.quorum.first_met_at == at(session, 5)
    after = attendance(deployment, session, events, at(session, 300))  # over: it was met, from minute 5
    assert after.quorum is not None
    assert after.quorum.met
    assert not after.live


def test_a_join_without_a_leave_is_closed_when_the_meeting_ended(meeting: tuple[Deployment, Session]) -> None:
    deployment, session = meeting
    ended = AttendanceEvent(
        session_id=session.id,
        source=AttendanceSource.VIDEO,
        kind=AttendanceKind.ENDED,
        occurred_at=at(session, 20),
        external_id="ended",
    )
    table = attendance(deployment, session, [video(session, JOIN, 0, "rus-head"), ended], at(session, 240))
    rus = table.delegate("rus-head")
    assert rus is not None
    assert (rus.presence, rus.minutes) == (Presence.BRIEFLY, 20.0)


def test_quorum_rules_as_written() -> None:
    assert [Quorum.model_validate(v).required(6) for v in ("all", "majority", 3, "2/3", "75%")] == [6, 4, 3, 4, 5]
    for wrong in ("most", "0%", "3/0", True):
        with pytest.raises(ValueError, match="quorum"):
            Quorum.model_validate(wrong)


def test_a_move_to_a_breakout_room_in_the_same_second_is_no_absence(meeting: tuple[Deployment, Session]) -> None:
    deployment, session = meeting
    moved = [
        video(session, JOIN, 0, "rus-head"),
        video(session, LEAVE, 30, "rus-head"),  # out of the main room …
        video(session, JOIN, 30, "rus-head"),  # … into a breakout room, the same second (Jitsi counts seconds)
        video(session, LEAVE, 60, "rus-head"),
    ]
    for events in (moved, [moved[2], moved[1], moved[0], moved[3]]):  # however the deliveries came
        line = attendance(deployment, session, events, at(session, 240)).delegate("rus-head")
        assert line is not None
        assert (line.presence, line.minutes) == (Presence.REMOTE, 60.0)
        assert len(line.intervals) == 1


def test_a_platforms_event_is_kept_under_a_key_led_by_its_moment_the_same_for_every_delivery() -> None:
    """Participants' ids are random: the record's key sorts a burst's facts by their moment, not by them."""

    def event(pid: str, ms: int) -> VideoEvent:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
        key = f"bigbluebutton:meeting:{pid}:user-joined:{ms}"
        return VideoEvent("s", VideoEventKind.JOINED, moment, key, Participant(pid, None))

    rng = random.Random(3)
    pids = ["w_" + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=12)) for _ in range(50)]
    events = [event(pid, 1_767_225_600_000 + 37 * i) for i, pid in enumerate(pids)]
    assert [e.stored_key for e in events] == sorted(e.stored_key for e in events)
    assert sorted(e.key for e in events) != [e.key for e in events]  # the platform's keys alone would not be
    again = event(pids[7], 1_767_225_600_000 + 37 * 7)
    assert again.stored_key == events[7].stored_key
    assert again.stored_key.endswith(again.key)
    assert len(event("x" * 300, 1_767_225_600_000).stored_key) == 200
