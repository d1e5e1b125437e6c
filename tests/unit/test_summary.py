"""A session's summary (``domain.summary``): the example's XX meeting (hybrid, majority quorum, outcomes in its
YAML) with check-ins, remote joins and leaves, a correction and a guest; what it says, what the press's variant
leaves out, and the hash of the raw events."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import datetime, timedelta

import pytest

from domain.attendance import attendance
from domain.deployment import Deployment
from domain.model import Outcome, Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource
from domain.summary import Summary, compose, events_digest, public
from tests.unit.test_attendance_record import at, check_in, video

_ids = itertools.count()


@pytest.fixture
def xx(deployment: Deployment) -> Session:
    return deployment.sessions["icmec-xx"]


@pytest.fixture
def facts(xx: Session) -> list[AttendanceEvent]:
    join, leave = AttendanceKind.JOIN, AttendanceKind.LEAVE
    return [
        check_in(xx, -20, "rus-head"),
        check_in(xx, -5, "arm-head"),
        video(xx, join, 3, "kgz-asanov", "w_1"),
        video(xx, leave, 93, "kgz-asanov", "w_1"),  # 90 minutes on the call
        video(xx, join, 100, "kgz-asanov", "w_2"),  # rejoined from another device until the end: 80 more
        video(xx, join, 10, "blr-head", "w_3"),
        video(xx, leave, 10.5, "blr-head", "w_3"),  # half a minute: no minimum on a static link, still remote
        video(xx, join, 30, None, "w_9"),  # a guest
        AttendanceEvent(
            session_id=xx.id,
            delegate_id="kaz-head",
            state="KAZ",
            source=AttendanceSource.SECRETARIAT,
            kind=AttendanceKind.REMOTE,
            occurred_at=at(xx, 40),
            recorded_by="secretariat:100000001",
            note="joined by telephone",
        ),
    ]


def summarise(deployment: Deployment, session: Session, facts: list[AttendanceEvent], **kw: object) -> Summary:
    after = session.ends_at + timedelta(hours=2)
    table = attendance(deployment, session, facts, after)
    return compose(deployment, session, table, facts, after, **kw)  # type: ignore[arg-type]


def test_the_summary_counts_by_state_agency_and_delegate_from_the_facts(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    summary = summarise(deployment, xx, facts)
    states = {s.code: s for s in summary.states}
    assert list(states) == ["ARM", "BLR", "KAZ", "KGZ", "RUS", "TJK"]
    assert {code for code, s in states.items() if s.represented} == {"ARM", "BLR", "KAZ", "KGZ", "RUS"}
    assert summary.represented == 5
    assert summary.totals.invited == 20
    assert (summary.totals.in_person, summary.totals.remote, summary.totals.absent) == (2, 3, 15)
    kgz = states["KGZ"]
    lines = {d.id: d for a in kgz.agencies for d in a.delegates}
    assert lines["kgz-asanov"].presence == "remote"
    assert lines["kgz-asanov"].minutes == 170.0
    assert lines["kgz-tokoev"].presence == "absent"
    agency = next(a for a in kgz.agencies if any(d.id == "kgz-asanov" for d in a.delegates))
    assert agency.name is not None
    assert agency.name["en"] == "State Committee for Industry, Energy and Subsoil Use"
    assert summary.guests == 1
    assert summary.quorum is not None
    assert (summary.quorum.rule, summary.quorum.required, summary.quorum.met) == ("majority", 4, True)
    assert summary.quorum.first_met_at == at(xx, 10)  # RUS, ARM at the start; KGZ from 3'; BLR at 10'


def test_an_answer_is_not_attendance(deployment: Deployment, xx: Session) -> None:
    summary = summarise(deployment, xx, [])  # everyone may have said "yes": nobody came
    assert summary.totals.absent == summary.totals.invited == 20
    assert summary.represented == 0
    assert summary.quorum is not None
    assert summary.quorum.met is False
    assert summary.quorum.first_met_at is None


def test_outcomes_from_the_yaml_and_the_chat_go_under_their_items(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    said = Outcome.model_validate(
        {"item": 5, "decisions": [{"ru": "Поручить секретариату", "en": "Tasked the secretariat"}]}
    )
    summary = summarise(deployment, xx, facts, outcomes=[said])
    items = {i.number: i for i in summary.agenda}
    assert len(items) == 5
    assert items[1].decisions[0]["en"].startswith("Took note of the report")
    assert items[4].assignments[0].due == datetime(2023, 3, 1, 18, 0)
    assert items[5].decisions == ({"ru": "Поручить секретариату", "en": "Tasked the secretariat"},)
    assert items[2].decisions == items[2].assignments == ()
    assert summary.deadlines == ()  # media accreditation closed before the meeting: nothing still to come
    assert summary.next_session is None  # the related sessions came before it


def test_the_corrections_are_listed_with_who_when_and_why(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    summary = summarise(deployment, xx, facts)
    assert summary.corrected == 1
    (correction,) = summary.corrections
    assert (correction.by, correction.delegate_id, correction.kind) == ("secretariat:100000001", "kaz-head", "remote")
    assert correction.note == "joined by telephone"
    assert correction.at == at(xx, 40)


def test_the_press_variant_names_nobody_and_links_nowhere(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    full = summarise(deployment, xx, facts)
    press = public(full, deployment)
    text = press.model_dump_json()
    for delegate in deployment.delegates.values():
        for name in delegate.name.values():
            assert name not in text
    for word in ("Заместитель Председателя", "Deputy Prime Minister", "secretariat:", "telephone", "http"):
        assert word not in text
    assert press.public is True
    assert press.corrections == ()
    assert press.corrected == 1
    assert [s.counts for s in press.states] == [s.counts for s in full.states]
    assert press.quorum == full.quorum
    assert press.events_sha256 == full.events_sha256
    assert press.agenda[3].assignments[0].to is None
    assert press.agenda[3].assignments[0].text == full.agenda[3].assignments[0].text


def test_the_hash_is_of_the_events_whatever_their_order_and_changes_with_any_of_them(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    summary = summarise(deployment, xx, facts)
    assert summary.events == len(facts)
    assert summary.events_sha256 == events_digest(list(reversed(facts)))
    edited = [*facts[:-1], facts[-1].model_copy(update={"kind": AttendanceKind.IN_PERSON})]
    assert events_digest(edited) != summary.events_sha256
    assert events_digest(facts[:-1]) != summary.events_sha256
    lines = sorted(
        json.dumps(e.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False) for e in facts
    )
    assert summary.events_sha256 == hashlib.sha256("\n".join(lines).encode()).hexdigest()  # as docs/summaries.md says


def test_a_summary_read_back_from_its_json_is_the_same(
    deployment: Deployment, xx: Session, facts: list[AttendanceEvent]
) -> None:
    plain = Outcome.model_validate({"item": 2, "decisions": ["Принято"], "assignments": [{"text": "Подготовить"}]})
    summary = summarise(deployment, xx, facts, outcomes=[plain])
    assert summary.agenda[1].decisions == ({"*": "Принято"},)  # as written in the chat: in no language of its own
    assert Summary.model_validate_json(summary.model_dump_json()) == summary
