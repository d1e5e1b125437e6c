"""Random edit sequences through the real timeline, outbox, composer and calendar builder: every step is told.

After any sequence of moves, cancellations, restorations, uninvitations and re-invitations, with deliveries
drained between some edits and not others: each delegate's last calendar message agrees with the final
configuration, SEQUENCE never falls for a (UID, recipient), no notice is sent twice, and the delegate's
feed shows the SEQUENCE they last received.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.bootstrap import Services, bootstrap
from config.loader import load
from config.settings import Settings
from domain.delivery import Delivery
from domain.deployment import Deployment
from domain.links import LinkScope
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.doubles.channels import FakeClock

DELEGATES = ("d0", "d1", "d2")
STARTS = ("2030-06-10T14:00", "2030-06-11T10:00")
NOW = datetime(2030, 6, 1, tzinfo=UTC)


@dataclass
class State:
    """The configuration as the edits leave it."""

    start: int = 0
    cancelled: bool = False
    excluded: set[str] = field(default_factory=set)

    def yaml(self) -> str:
        excluded = ", ".join(sorted(self.excluded))
        status = "cancelled" if self.cancelled else "scheduled"
        people = "\n".join(f"    - {{id: {d}, name: Delegate {d}, email: {d}@example.org}}" for d in DELEGATES)
        return f"""\
commission:
  id: rev
  name: Revisions
  languages: [en]
  timezone: Europe/Moscow
  secretariat: {{email: secretariat@example.org}}
  notifications: {{invitation: 21d, agenda: null, reminders: [], start: null, summary: null}}
states:
  - {{code: KGZ, name: Kyrgyzstan, timezone: Asia/Bishkek, language: en}}
delegation:
  state: KGZ
  delegates:
{people}
session:
  id: s
  title: Meeting
  format: in_person
  status: {status}
  start: {STARTS[self.start]}
  end: {STARTS[self.start][:-5]}18:00
  venue: {{name: Hall}}
  invited: {{states: all, exclude: [{excluded}]}}
"""


class Recorder:
    """An e-mail channel that keeps every delivery, in the order it was sent."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[Delivery] = []

    async def start(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    async def send(self, delivery: Delivery) -> None:
        """Keep the delivery."""
        self.sent.append(delivery)


EDITS = st.sampled_from(
    ["move", "cancel", "restore", *(f"uninvite {d}" for d in DELEGATES), *(f"invite {d}" for d in DELEGATES)]
)


def edit(state: State, step: str) -> None:
    if step == "move":
        state.start = 1 - state.start
    elif step == "cancel":
        state.cancelled = True
    elif step == "restore":
        state.cancelled = False
    elif step.startswith("uninvite") and len(state.excluded) < len(DELEGATES) - 1:
        state.excluded.add(step.split()[1])
    elif step.startswith("invite"):
        state.excluded.discard(step.split()[1])


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return tmp_path


async def run(folder: Path, steps: list[tuple[str, bool]]) -> tuple[State, Recorder, Services, Deployment]:
    url = f"sqlite+aiosqlite:///{folder / 'db.sqlite'}"
    await upgrade(url)
    store = Store(create_engine(url))
    channel = Recorder()
    services = bootstrap(
        Settings(data_dir=folder), FakeClock(NOW), store=store, channels={"email": channel}, secret=b"k"
    )
    state = State()
    config = folder / "config.yaml"

    async def apply(drain: bool) -> Deployment:
        config.write_text(state.yaml(), encoding="utf-8")
        result = load([str(config)], os.environ)
        assert result.deployment is not None, [str(p) for p in result.problems]
        await services.timeline.apply(result.deployment)
        await services.configuration.accept(result.deployment)
        while drain and await services.dispatcher.drain_once():
            pass
        return result.deployment

    await apply(drain=True)
    for step, drain in steps:
        edit(state, step)
        await apply(drain)
    deployment = await apply(drain=True)
    return state, channel, services, deployment


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(EDITS, st.booleans()), min_size=1, max_size=8))
async def test_every_recipients_last_message_and_feed_agree_with_the_final_configuration(
    world: Path, steps: list[tuple[str, bool]]
) -> None:
    folder = world / f"run-{os.urandom(4).hex()}"
    folder.mkdir()
    state, channel, services, deployment = await run(folder, steps)
    try:
        keys = [d.key for d in channel.sent]
        assert len(keys) == len(set(keys)), "a notice was sent twice"
        last: dict[str, icalendar.Event] = {}
        methods: dict[str, str] = {}
        for delivery in channel.sent:
            assert delivery.calendar is not None
            cal = icalendar.Calendar.from_ical(delivery.calendar.data)
            event = cal.walk("VEVENT")[0]
            before = last.get(delivery.address)
            if before is not None:
                assert int(event["SEQUENCE"]) > int(before["SEQUENCE"]), (delivery.key, steps)
            last[delivery.address] = event
            methods[delivery.address] = str(cal["METHOD"])
        start = deployment.sessions["s"].starts_at
        for delegate_id in DELEGATES:
            address = f"{delegate_id}@example.org"
            invited = delegate_id not in state.excluded and not state.cancelled
            if invited:
                assert methods.get(address) == "REQUEST", (delegate_id, steps)
                assert last[address].decoded("DTSTART").astimezone(UTC) == start
            elif address in methods:
                assert methods[address] == "CANCEL", (delegate_id, steps)
            if address in last and delegate_id not in state.excluded:
                link = next(
                    x
                    for x in services.feeds.links(deployment, await services.store.links.generations())
                    if x.scope is LinkScope.DELEGATE and x.subject == delegate_id
                )
                feed = await services.feeds.feed(link.token)
                assert feed is not None
                shown = icalendar.Calendar.from_ical(feed.body).walk("VEVENT")[0]
                assert int(shown["SEQUENCE"]) == int(last[address]["SEQUENCE"]), (delegate_id, steps)
    finally:
        await services.store.engine.dispose()
