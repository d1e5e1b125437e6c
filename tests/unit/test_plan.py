"""Planning: properties over generated deployments, and the catch-up rule on the example."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from config.loader import load
from domain.deployment import Deployment, Draft, build_deployment
from domain.ledger import Ledger, RecipientRecord, SessionRecord
from domain.model import (
    AgendaItem,
    Commission,
    Deadline,
    DelegateSpec,
    Delegation,
    Invited,
    NotificationOverrides,
    Role,
    Secretariat,
    SessionFormat,
    SessionSpec,
    SessionStatus,
    State,
    Venue,
    Video,
)
from domain.notices import NoticeKind, NoticeStatus, notice_key
from scheduler.plan import plan, session_digest
from tests.conftest import EXAMPLES

ZONES = [
    "Europe/Moscow",
    "Asia/Bishkek",
    "Asia/Almaty",
    "Asia/Yerevan",
    "Europe/Minsk",
    "Asia/Dushanbe",
    "Europe/Berlin",
]
STATES = [("KGZ", "Asia/Bishkek"), ("RUS", "Europe/Moscow"), ("KAZ", "Asia/Almaty")]
PRE_SESSION = {NoticeKind.INVITATION, NoticeKind.AGENDA, NoticeKind.REMINDER, NoticeKind.START}

COMMISSION = Commission(
    id="test",
    name="Test commission",
    languages=["ru", "en"],
    timezone="Europe/Moscow",
    secretariat=Secretariat(email="s@example.org"),
)


def holding(told: dict[str, set[str]]) -> dict[str, dict[str, RecipientRecord]]:
    """What the ledger says when these delegates were sent these sessions' invitations (and nothing since)."""
    return {
        s: {d: RecipientRecord(invited=True, revision=0, holds=True, sequence=0) for d in ds} for s, ds in told.items()
    }


@st.composite
def deployments(draw: st.DrawFn) -> Deployment:
    delegates = []
    for i in range(draw(st.integers(1, 8))):
        delegates.append(
            DelegateSpec(
                id=f"d{i}",
                name=f"Delegate {i}",
                role=draw(st.sampled_from(list(Role))),
                email=f"d{i}@example.org" if draw(st.booleans()) else None,
                telegram=f"user{i}_tg" if draw(st.booleans()) else None,
                timezone=draw(st.none() | st.sampled_from(ZONES)),
            )
        )
    by_state: dict[str, list[DelegateSpec]] = {code: [] for code, _ in STATES}
    for d in delegates:
        by_state[draw(st.sampled_from([code for code, _ in STATES]))].append(d)
    draft = Draft(commission=COMMISSION)
    draft.states = [(i, State(code=c, name=c, timezone=z, language="ru")) for i, (c, z) in enumerate(STATES)]
    draft.delegations = [(i, Delegation(state=c, delegates=by_state[c])) for i, (c, _) in enumerate(STATES)]
    for i in range(draw(st.integers(1, 4))):
        start = draw(st.datetimes(datetime(2019, 1, 1), datetime(2027, 1, 1))).replace(second=0, microsecond=0)
        start = start.replace(minute=start.minute // 5 * 5)
        fmt = draw(st.sampled_from(list(SessionFormat)))
        deadlines = [
            Deadline(id=f"dl{j}", title="Deadline", at=start - timedelta(hours=draw(st.integers(1, 24 * 20))))
            for j in range(draw(st.integers(0, 2)))
        ]
        overrides = None
        if draw(st.booleans()):
            overrides = NotificationOverrides(
                reminders=tuple(timedelta(minutes=m) for m in draw(st.lists(st.integers(5, 60 * 24 * 5), max_size=3))),
                summary_to=tuple(draw(st.lists(st.sampled_from(list(Role)), max_size=3))),
            )
        roles = draw(st.none() | st.lists(st.sampled_from(list(Role)), min_size=1, max_size=3, unique=True))
        spec = SessionSpec(
            id=f"s{i}",
            title=f"Session {i}",
            format=fmt,
            status=draw(st.sampled_from(list(SessionStatus))),
            start=start,
            end=start + timedelta(minutes=draw(st.integers(30, 60 * 48))),
            timezone=draw(st.sampled_from(ZONES)),
            venue=None if fmt is SessionFormat.VIDEO else Venue(name="Hall"),
            video=None if fmt is SessionFormat.IN_PERSON else Video(url="https://meet.example.org/x"),
            invited=Invited(states="all", roles=roles),
            agenda=[AgendaItem(title="Item")] if draw(st.booleans()) else [],
            deadlines=deadlines,
            notifications=overrides,
        )
        draft.sessions.append((i, spec))
    deployment, problems = build_deployment(draft)
    errors = [p for p in problems if p.severity == "error"]
    # Generated wall-clock times may fall into a daylight-saving gap: those are rightly refused.
    if deployment is None:
        assert errors
        assert all("clocks" in p.message for p in errors), errors
        reject()
    assert deployment is not None
    return deployment


instants = st.datetimes(datetime(2018, 6, 1), datetime(2027, 6, 1), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(deployments(), instants)
def test_keys_are_unique(deployment: Deployment, now: datetime) -> None:
    keys = [n.key for n in plan(deployment, now)]
    assert len(keys) == len(set(keys))


@settings(max_examples=150, deadline=None)
@given(deployments(), instants, instants)
def test_keys_do_not_depend_on_the_moment_of_planning(deployment: Deployment, now1: datetime, now2: datetime) -> None:
    first = {n.key for n in plan(deployment, now1)}
    second = {n.key for n in plan(deployment, now2)}
    assert first == second


@settings(max_examples=150, deadline=None)
@given(deployments(), instants)
def test_same_inputs_give_the_same_output(deployment: Deployment, now: datetime) -> None:
    assert plan(deployment, now) == plan(deployment, now)


@settings(max_examples=150, deadline=None)
@given(deployments(), instants)
def test_pre_session_notices_are_due_before_the_session_starts(deployment: Deployment, now: datetime) -> None:
    for notice in plan(deployment, now):
        session = deployment.sessions[notice.session_id]
        if notice.kind in PRE_SESSION:
            assert notice.due_at < session.starts_at, notice
        if notice.kind is NoticeKind.DEADLINE:
            deadline = next(d for d in session.deadlines if notice.detail.startswith(f"{d.id}."))
            assert notice.due_at < session.deadline_at(deadline), notice
        if notice.kind is NoticeKind.SUMMARY:
            assert notice.due_at >= session.ends_at


@settings(max_examples=150, deadline=None)
@given(deployments(), instants)
def test_status_follows_the_moment_of_planning(deployment: Deployment, now: datetime) -> None:
    for notice in plan(deployment, now):
        if notice.kind in (NoticeKind.CANCELLATION, NoticeKind.UPDATE):
            assert notice.due_at == now
        elif notice.due_at >= now:
            assert notice.status is NoticeStatus.SCHEDULED
        else:
            assert notice.status is not NoticeStatus.SCHEDULED
        if notice.status is NoticeStatus.DUE and notice.kind in PRE_SESSION - {NoticeKind.START}:
            assert now < deployment.sessions[notice.session_id].starts_at


@settings(max_examples=150, deadline=None)
@given(deployments(), instants, st.data())
def test_a_cancelled_session_plans_only_its_cancellation(
    deployment: Deployment, now: datetime, data: st.DataObject
) -> None:
    told: set[str] = set()
    told_by_session: dict[str, set[str]] = {}
    for session_id, invitees in deployment.invitations.items():
        for delegate in invitees:
            if data.draw(st.booleans()):
                told.add(notice_key(session_id, NoticeKind.INVITATION, delegate))
                told_by_session.setdefault(session_id, set()).add(delegate)
    ledger = Ledger(settled=frozenset(told), told=told_by_session, recipients=holding(told_by_session))
    notices = plan(deployment, now, ledger)
    for notice in notices:
        session = deployment.sessions[notice.session_id]
        if session.status is SessionStatus.CANCELLED:
            assert notice.kind is NoticeKind.CANCELLATION
            assert notice_key(session.id, NoticeKind.INVITATION, notice.delegate_id) in told
            assert notice.status is (NoticeStatus.DUE if now < session.ends_at else NoticeStatus.STALE)
    for session in deployment.sessions.values():
        if session.status is SessionStatus.CANCELLED:
            invited = deployment.invitations[session.id]
            expected = {d for d in invited if notice_key(session.id, NoticeKind.INVITATION, d) in told}
            assert {n.delegate_id for n in notices if n.session_id == session.id} == expected


@settings(max_examples=100, deadline=None)
@given(deployments(), instants)
def test_settled_notices_are_never_planned_again(deployment: Deployment, now: datetime) -> None:
    first = plan(deployment, now)
    settled = {n.key for n in first}
    again = plan(deployment, now, Ledger(settled=frozenset(settled)))
    assert not {n.key for n in again} & settled
    assert all(n.kind in (NoticeKind.CANCELLATION, NoticeKind.UPDATE) for n in again)


@settings(max_examples=100, deadline=None)
@given(deployments(), instants)
def test_at_most_one_reminder_per_session_and_delegate_goes_out_late(deployment: Deployment, now: datetime) -> None:
    late = Counter(
        (n.session_id, n.delegate_id)
        for n in plan(deployment, now)
        if n.kind is NoticeKind.REMINDER and n.status is NoticeStatus.DUE
    )
    assert all(count == 1 for count in late.values())


# The example deployment and the catch-up rule


@pytest.fixture(scope="module")
def example() -> Deployment:
    result = load([str(EXAMPLES)], os.environ)
    assert result.deployment is not None, [str(p) for p in result.problems]
    return result.deployment


def _by(notices: list, session: str) -> dict[tuple[NoticeKind, NoticeStatus], set[str]]:  # type: ignore[type-arg]
    out: dict[tuple[NoticeKind, NoticeStatus], set[str]] = {}
    for n in notices:
        if n.session_id == session:
            out.setdefault((n.kind, n.status), set()).add(n.delegate_id)
    return out


def test_xx_meeting_as_of_the_first_of_october(example: Deployment) -> None:
    now = datetime(2022, 10, 1, tzinfo=UTC)
    notices = plan(example, now)
    xx = _by(notices, "icmec-xx")
    invited = set(example.invitations["icmec-xx"])
    assert len(invited) == 20
    # The invitation was due on 28 September (21 days before): late, still useful, sent at once.
    assert xx[(NoticeKind.INVITATION, NoticeStatus.DUE)] == invited
    assert xx[(NoticeKind.AGENDA, NoticeStatus.SCHEDULED)] == invited
    assert xx[(NoticeKind.START, NoticeStatus.SCHEDULED)] == invited
    reminders = [n for n in notices if n.session_id == "icmec-xx" and n.kind is NoticeKind.REMINDER]
    assert Counter(n.due_at for n in reminders) == {
        datetime(2022, 10, 18, 11, 0, tzinfo=UTC): 20,
        datetime(2022, 10, 19, 10, 0, tzinfo=UTC): 20,
    }
    heads = {d for d in invited if example.delegates[d].role is Role.HEAD}
    assert xx[(NoticeKind.DEADLINE, NoticeStatus.SCHEDULED)] == heads
    assert xx[(NoticeKind.SUMMARY, NoticeStatus.SCHEDULED)] == invited  # the summary goes to everyone
    accreditation = sorted({n.due_at for n in notices if n.kind is NoticeKind.DEADLINE})
    # Accreditation closes at 17:00 Moscow on 18 October: reminders 2 days and 3 hours before.
    assert accreditation == [datetime(2022, 10, 16, 14, 0, tzinfo=UTC), datetime(2022, 10, 18, 11, 0, tzinfo=UTC)]
    # The XVIII meeting (2020) is long past: everything about it is stale.
    assert {status for (_, status) in _by(notices, "icmec-xviii")} == {NoticeStatus.STALE}


def test_half_an_hour_before_the_start_only_the_last_reminder_goes_out(example: Deployment) -> None:
    now = datetime(2022, 10, 19, 10, 30, tzinfo=UTC)  # 13:30 in Moscow
    xx = _by(plan(example, now), "icmec-xx")
    invited = set(example.invitations["icmec-xx"])
    assert xx[(NoticeKind.INVITATION, NoticeStatus.DUE)] == invited
    assert xx[(NoticeKind.AGENDA, NoticeStatus.DUE)] == invited
    reminders = [n for n in plan(example, now) if n.session_id == "icmec-xx" and n.kind is NoticeKind.REMINDER]
    assert {n.detail.split("@")[0]: n.status for n in reminders} == {
        "P1D": NoticeStatus.STALE,
        "PT1H": NoticeStatus.DUE,
    }
    assert xx[(NoticeKind.START, NoticeStatus.SCHEDULED)] == invited


def test_after_the_start_the_join_link_still_goes_out_and_reminders_are_stale(example: Deployment) -> None:
    now = datetime(2022, 10, 19, 11, 20, tzinfo=UTC)  # 14:20 in Moscow, the meeting is on
    xx = _by(plan(example, now), "icmec-xx")
    invited = set(example.invitations["icmec-xx"])
    assert xx[(NoticeKind.START, NoticeStatus.DUE)] == invited
    assert xx[(NoticeKind.INVITATION, NoticeStatus.STALE)] == invited
    assert xx[(NoticeKind.REMINDER, NoticeStatus.STALE)] == invited
    assert (NoticeKind.REMINDER, NoticeStatus.DUE) not in xx


def test_times_are_read_in_each_zone_with_its_rules_of_the_day(example: Deployment) -> None:
    xx = example.sessions["icmec-xx"]
    assert xx.starts_at == datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
    assert example.delegates["kgz-asanov"].timezone == "Asia/Bishkek"
    assert example.delegates["kaz-expert"].language == "en"
    # Kazakhstan was UTC+6 in 2022 (it moved to UTC+5 in 2024): 14:00 Moscow was 17:00 in Almaty.
    from domain.values import zone

    assert xx.starts_at.astimezone(zone("Asia/Almaty")).hour == 17


# Edits after delegates were told


def _edited(tmp_path: Path, old: str, new: str) -> Deployment:
    target = tmp_path / "config"
    shutil.copytree(EXAMPLES, target)
    path = target / "sessions" / "2022-10-19-xx.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    result = load([str(target)], os.environ)
    assert result.deployment is not None, [str(p) for p in result.problems]
    return result.deployment


def _told_ledger(deployment: Deployment, told: set[str]) -> Ledger:
    digest, snap = session_digest(deployment, "icmec-xx")
    return Ledger(
        settled=frozenset(notice_key("icmec-xx", NoticeKind.INVITATION, d) for d in told),
        told={"icmec-xx": told},
        sessions={"icmec-xx": SessionRecord(digest, snap, 0, datetime(2022, 9, 28, tzinfo=UTC))},
        recipients=holding({"icmec-xx": told}),
    )


NOW = datetime(2022, 10, 5, tzinfo=UTC)


def test_a_moved_session_sends_one_update_to_each_delegate_told(example: Deployment, tmp_path: Path) -> None:
    told = set(example.invitations["icmec-xx"][:7])
    ledger = _told_ledger(example, told)
    assert [n for n in plan(example, NOW, ledger) if n.kind is NoticeKind.UPDATE] == []
    moved = _edited(tmp_path, "  start: 2022-10-19T14:00", "  start: 2022-10-19T15:00")
    notices = plan(moved, NOW, ledger)
    updates = [n for n in notices if n.kind is NoticeKind.UPDATE]
    assert sorted(n.delegate_id for n in updates) == sorted(told)
    assert all(n.status is NoticeStatus.DUE for n in updates)
    # Reminders follow the new time; the invitation is not sent again to those who had it.
    reminders = {n.due_at for n in notices if n.kind is NoticeKind.REMINDER and n.session_id == "icmec-xx"}
    assert datetime(2022, 10, 19, 11, 0, tzinfo=UTC) in reminders  # one hour before 15:00 Moscow
    invited_again = {n.delegate_id for n in notices if n.kind is NoticeKind.INVITATION and n.session_id == "icmec-xx"}
    assert not invited_again & told


def test_an_uninvited_delegate_gets_a_cancellation_and_a_new_one_the_invitation(
    example: Deployment, tmp_path: Path
) -> None:
    told = set(example.invitations["icmec-xx"])
    narrowed = _edited(tmp_path, "    delegates: [kgz-alymbekov]\n", "    delegates: [kgz-osmonov]\n")
    notices = [n for n in plan(narrowed, NOW, _told_ledger(narrowed, told)) if n.session_id == "icmec-xx"]
    assert [(n.kind, n.delegate_id) for n in notices if n.kind is NoticeKind.CANCELLATION] == [
        (NoticeKind.CANCELLATION, "kgz-alymbekov")
    ]
    assert [n.delegate_id for n in notices if n.kind is NoticeKind.INVITATION] == ["kgz-osmonov"]
    assert not [n for n in notices if n.kind is NoticeKind.UPDATE]


def test_cancelling_a_told_session_tells_exactly_those_who_knew(example: Deployment, tmp_path: Path) -> None:
    told = set(example.invitations["icmec-xx"][:3])
    cancelled = _edited(tmp_path, "  format: hybrid\n", "  format: hybrid\n  status: cancelled\n")
    notices = [n for n in plan(cancelled, NOW, _told_ledger(example, told)) if n.session_id == "icmec-xx"]
    assert {n.kind for n in notices} == {NoticeKind.CANCELLATION}
    assert {n.delegate_id for n in notices} == told


def test_a_summary_to_review_is_planned_as_a_draft_to_the_secretariat_s_accounts(example: Deployment) -> None:
    import dataclasses

    from app.plan_view import plan_document

    xx = example.sessions["icmec-xx"].model_copy(update={"summary": "review"})
    reviewed = dataclasses.replace(example, sessions={**example.sessions, "icmec-xx": xx})
    now = datetime(2022, 10, 1, tzinfo=UTC)
    summaries = [n for n in plan(reviewed, now) if n.session_id == "icmec-xx" and n.kind is NoticeKind.SUMMARY]
    admins = example.commission.secretariat.telegram_admins
    assert [(n.key, n.channels, n.due_at) for n in summaries] == [
        (f"icmec-xx:summary:draft:~chat{a}", ("telegram",), xx.ends_at + timedelta(hours=2)) for a in admins
    ]  # no delegate's: theirs go out on Publish
    shown = [n for n in plan_document(reviewed, summaries, now)["notices"]]
    assert [(n["delegate"], n["state"], n["timezone"], n["detail"]) for n in shown] == [
        (f"~chat{a}", None, "Europe/Moscow", "draft") for a in admins
    ]
