"""The live quorum (``domain.attendance_live``) says what the whole table says of the quorum, fact after fact:
joins and leaves out of order and twice, rejoins, moves within one second, guests assigned, check-ins,
corrections, a meeting ended, facts dated ahead of the moment looked at."""

from __future__ import annotations

import dataclasses
import itertools
import random
from datetime import timedelta

import pytest

from domain.attendance import attendance
from domain.attendance_live import LiveQuorum
from domain.deployment import Deployment
from domain.model import Quorum, Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource

_ids = itertools.count()
RULES = ("majority", "all", "2", "50%", "2/3")


def _session(deployment: Deployment, rule: str) -> tuple[Deployment, Session]:
    session = deployment.sessions["icmec-xviii"]
    changed = session.model_copy(update={"quorum": Quorum.model_validate(rule)})
    return dataclasses.replace(deployment, sessions={**deployment.sessions, changed.id: changed}), changed


def _fact(session: Session, minutes: float, **fields: object) -> AttendanceEvent:
    return AttendanceEvent.model_validate(
        {"session_id": session.id, "occurred_at": session.starts_at + timedelta(minutes=minutes), **fields}
    )


def _facts(rng: random.Random, session: Session, invited: list[str]) -> list[AttendanceEvent]:
    """A meeting's facts in the order they might arrive: shuffled, some twice."""
    out: list[AttendanceEvent] = []
    for n in range(rng.randint(3, 25)):
        who = rng.choice([*invited, None])  # None: a guest
        participant, t = f"w_{n}", rng.uniform(-20, 150)
        for _ in range(rng.randint(1, 3)):  # rejoins of one participant
            out.append(_video(session, t, who, participant, AttendanceKind.JOIN))
            t += rng.uniform(0, 40)
            if rng.random() < 0.25:  # to a breakout room and back: a leave and a join at one (whole) second
                t = float(round(t))
                out.append(_video(session, t, who, participant, AttendanceKind.LEAVE))
                out.append(_video(session, t, who, participant, AttendanceKind.JOIN))
            if rng.random() < 0.7:
                out.append(_video(session, t, who, participant, AttendanceKind.LEAVE))
            t += rng.uniform(0, 20)
        if who is None and rng.random() < 0.5:
            out.append(
                _fact(session, t, delegate_id=rng.choice(invited), source=AttendanceSource.SECRETARIAT,
                      kind=AttendanceKind.ASSIGN, participant_id=participant, recorded_by="cli:s")
            )  # fmt: skip
    for _ in range(rng.randint(0, 4)):
        out.append(_fact(session, rng.uniform(-10, 150), delegate_id=rng.choice(invited),
                         source=AttendanceSource.VENUE, kind=AttendanceKind.CHECK_IN))  # fmt: skip
    for _ in range(rng.randint(0, 3)):
        kind = rng.choice([AttendanceKind.IN_PERSON, AttendanceKind.REMOTE, AttendanceKind.ABSENT])
        out.append(_fact(session, rng.uniform(0, 150), delegate_id=rng.choice(invited),
                         source=AttendanceSource.SECRETARIAT, kind=kind, recorded_by="cli:s"))  # fmt: skip
    if rng.random() < 0.2:
        out.append(_fact(session, rng.uniform(60, 150), source=AttendanceSource.VIDEO, kind=AttendanceKind.ENDED,
                         external_id=f"ended{next(_ids)}"))  # fmt: skip
    rng.shuffle(out)
    return out + rng.sample(out, len(out) // 5)  # retried deliveries


def _video(session: Session, t: float, who: str | None, participant: str, kind: AttendanceKind) -> AttendanceEvent:
    return _fact(session, t, delegate_id=who, source=AttendanceSource.VIDEO, kind=kind,
                 external_id=f"v{next(_ids)}", participant_id=participant, participant_name="shown")  # fmt: skip


@pytest.mark.parametrize("seed", range(120))
def test_the_live_quorum_is_the_tables_after_every_batch_of_facts(deployment: Deployment, seed: int) -> None:
    rng = random.Random(seed)
    chosen, session = _session(deployment, RULES[seed % len(RULES)])
    invited = rng.sample(list(chosen.invitations[session.id]), rng.randint(3, 8))
    facts = _facts(rng, session, invited)
    live, looked, minutes = LiveQuorum(chosen, session), 0, 0.0
    known: list[AttendanceEvent] = []
    while known != facts or not looked:
        batch = facts[len(known) : len(known) + rng.randint(1, 6)]
        known += batch
        live.add(batch)
        for _ in range(rng.randint(1, 2)):  # the same facts looked at twice, time having passed
            minutes = min(179.0, minutes + rng.uniform(0, 12))  # facts come dated before and after it
            now = session.starts_at + timedelta(minutes=minutes)
            table = attendance(chosen, session, known, now)
            assert table.live
            assert table.quorum is not None
            got = live.at(now)
            expected = (table.quorum.met, table.quorum.represented, table.quorum.required, table.quorum.states)
            assert (got.met, got.represented, got.required, got.states) == expected, (seed, len(known), now)
            looked += 1


def test_a_join_dated_ahead_of_the_moment_counts_once_the_moment_comes(deployment: Deployment) -> None:
    chosen, session = _session(deployment, "1")
    live = LiveQuorum(chosen, session)
    live.add([_video(session, 10, "rus-head", "w_1", AttendanceKind.JOIN)])
    at = session.starts_at
    assert not live.at(at + timedelta(minutes=9)).met  # the platform's clock is ahead of ours
    assert live.at(at + timedelta(minutes=10)).met
    assert live.at(at + timedelta(minutes=20)).met
    live.add([_video(session, 30, "rus-head", "w_1", AttendanceKind.LEAVE)])
    assert not live.at(at + timedelta(minutes=31)).met
