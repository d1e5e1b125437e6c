"""Calendar feeds over real HTTP: correct ICS for two parsers, caching, rotation, moves and cancellations."""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import icalendar
import pytest
from aiohttp.test_utils import TestServer
from ical.calendar_stream import IcsCalendarStream

from app.bootstrap import Services, bootstrap
from app.clock import SimulatedClock
from config.loader import load
from config.settings import Settings
from domain.deployment import Deployment
from domain.links import LinkScope
from services.feeds import FeedService
from storage.engine import create_engine
from storage.migrate import upgrade
from storage.repositories import Store
from tests.conftest import EXAMPLES
from web.app import Metrics, create_app

SECRET = b"test-secret-key-0123456789abcdef"


@dataclass
class Site:
    services: Services
    config: Path
    http: aiohttp.ClientSession

    @property
    def store(self) -> Store:
        return self.services.store

    @property
    def feeds(self) -> FeedService:
        return self.services.feeds

    @property
    def deployment(self) -> Deployment:
        return self.services.configuration.require()

    def link(self, subject: str, scope: LinkScope = LinkScope.DELEGATE, generations: dict | None = None) -> str:  # type: ignore[type-arg]
        token = next(
            link.token for link in self.feeds.links(self.deployment, generations or {}) if link.subject == subject
        )
        return ("/calendar/" if scope is LinkScope.DELEGATE else "/calendar/delegation/") + f"{token}.ics"

    async def reload(self, old: str, new: str) -> None:
        path = self.config / "sessions" / "2022-10-19-xx.yaml"
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1
        path.write_text(text.replace(old, new), encoding="utf-8")
        result = load([str(self.config)], os.environ)
        assert result.deployment is not None
        await self.services.timeline.apply(result.deployment)
        await self.services.configuration.accept(result.deployment)


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    config = tmp_path / "config"
    shutil.copytree(EXAMPLES, config)
    url = f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}"
    await upgrade(url)
    store = Store(create_engine(url))
    result = load([str(config)], os.environ)
    assert result.deployment is not None
    clock = SimulatedClock(datetime(2022, 10, 10, tzinfo=UTC))  # a week before the October meetings
    services = bootstrap(Settings(data_dir=tmp_path), clock, store=store, channels={}, secret=SECRET)
    await services.timeline.apply(result.deployment)  # records what is announced: SEQUENCE and last change
    await services.configuration.accept(result.deployment)
    server = TestServer(create_app(services.health, Metrics(), services.feeds))
    await server.start_server()
    async with aiohttp.ClientSession(str(server.make_url(""))) as http:
        yield Site(services, config, http)
    await server.close()
    await store.engine.dispose()


def events(body: bytes) -> dict[str, icalendar.Event]:
    cal = icalendar.Calendar.from_ical(body)
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


async def test_a_personal_feed_is_correct_ics_for_two_parsers(site: Site) -> None:
    async with site.http.get(site.link("kgz-asanov")) as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/calendar; charset=utf-8"
        body = await r.read()
    assert b"\r\n" in body
    assert all(len(line) <= 75 for line in body.split(b"\r\n"))
    assert b"METHOD" not in body
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in body
    cal = icalendar.Calendar.from_ical(body)
    tzids = {str(e["DTSTART"].params["TZID"]) for e in cal.walk("VEVENT") if "TZID" in e["DTSTART"].params}
    assert tzids <= {str(tz["TZID"]) for tz in cal.walk("VTIMEZONE")}
    by_uid = events(body)
    xx = by_uid["icmec-xx@icmec.plenary"]
    assert xx.decoded("DTSTART").astimezone(UTC) == datetime(2022, 10, 19, 11, 0, tzinfo=UTC)
    assert "icmec-xx.media-accreditation@icmec.plenary" in by_uid  # a head sees the accreditation deadline
    strict = IcsCalendarStream.calendar_from_ics(body.decode("utf-8"))
    starts = {e.uid: e.start for e in strict.events}
    assert starts["icmec-xx@icmec.plenary"].astimezone(UTC) == datetime(2022, 10, 19, 11, 0, tzinfo=UTC)


async def test_every_delegates_times_match_the_yaml_in_utc(site: Site) -> None:
    deployment = site.deployment
    for delegate_id in ("arm-head", "blr-deputy", "kaz-expert", "kgz-tokoev", "rus-head", "tjk-mfa"):
        async with site.http.get(site.link(delegate_id)) as r:
            body = await r.read()
        for uid, event in events(body).items():
            session_id = uid.split("@")[0]
            if session_id in deployment.sessions:
                session = deployment.sessions[session_id]
                assert event.decoded("DTSTART").astimezone(UTC) == session.starts_at
                assert event.decoded("DTEND").astimezone(UTC) == session.ends_at


async def test_conditional_requests_head_and_gzip(site: Site) -> None:
    link = site.link("kgz-asanov")
    async with site.http.get(link) as r:
        etag, modified = r.headers["ETag"], r.headers["Last-Modified"]
        body = await r.read()
    async with site.http.get(link, headers={"If-None-Match": etag}) as r:
        assert r.status == 304
        assert await r.read() == b""
    async with site.http.get(link, headers={"If-Modified-Since": modified}) as r:
        assert r.status == 304
    async with site.http.head(link) as r:
        assert r.status == 200
        assert r.headers["ETag"] == etag
    async with site.http.get(link, headers={"Accept-Encoding": "gzip"}, auto_decompress=False) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await r.read()) == body


async def test_a_move_raises_sequence_keeps_uid_and_changes_validators(site: Site) -> None:
    link = site.link("kgz-asanov")
    async with site.http.get(link) as r:
        before, etag = events(await r.read())["icmec-xx@icmec.plenary"], r.headers["ETag"]
    await site.reload("  start: 2022-10-19T14:00", "  start: 2022-10-19T15:00")
    async with site.http.get(link, headers={"If-None-Match": etag}) as r:
        assert r.status == 200
        after = events(await r.read())["icmec-xx@icmec.plenary"]
    assert int(after["SEQUENCE"]) > int(before["SEQUENCE"])
    assert after.decoded("DTSTART").astimezone(UTC) == datetime(2022, 10, 19, 12, 0, tzinfo=UTC)


async def test_a_cancelled_session_stays_struck_through(site: Site) -> None:
    await site.reload("  format: hybrid", "  format: hybrid\n  status: cancelled")
    async with site.http.get(site.link("kgz-asanov")) as r:
        xx = events(await r.read())["icmec-xx@icmec.plenary"]
    assert xx["STATUS"] == "CANCELLED"


async def test_unknown_and_revoked_tokens_get_404(site: Site) -> None:
    link = site.link("kgz-asanov")
    async with site.http.get("/calendar/aaaaaaaaaaaaaaaaaaaaaaaaaa.ics") as r:
        assert r.status == 404
    async with site.http.get("/calendar/short.ics") as r:
        assert r.status == 404
    await site.services.links.rotate(LinkScope.DELEGATE, "kgz-asanov")  # the running service knows at once
    async with site.http.get(link) as r:
        assert r.status == 404
    fresh = site.link("kgz-asanov", generations={("delegate", "kgz-asanov"): 1})
    assert fresh != link
    async with site.http.get(fresh) as r:
        assert r.status == 200


async def test_a_delegation_feed_and_scopes_do_not_mix(site: Site) -> None:
    delegation = site.link("KGZ", LinkScope.DELEGATION)
    async with site.http.get(delegation) as r:
        assert r.status == 200
        body = await r.read()
    uids = set(events(body))
    assert {e.uid for e in IcsCalendarStream.calendar_from_ics(body.decode("utf-8")).events} == uids
    assert {"icmec-xx@icmec.plenary", "icmec-xviii@icmec.plenary", "icmec-council-2022-10@icmec.plenary"} <= uids
    token = delegation.rsplit("/", 1)[1]
    async with site.http.get(f"/calendar/{token}") as r:  # a delegation token on the personal route
        assert r.status == 404


async def test_the_public_calendar_holds_public_facts_only(site: Site) -> None:
    async with site.http.get("/calendar/public/icmec.ics") as r:
        assert r.status == 200
        body = await r.read()
    uids = set(events(body))
    assert uids == {
        "icmec-xx@icmec.plenary",
        "icmec-xviii@icmec.plenary",
        "icmec-xx.media-accreditation@icmec.plenary",
    }
    text = body.decode("utf-8")
    for private in ("ORGANIZER", "ATTENDEE", "DESCRIPTION", "meet.example.org", "Асанов", "example.org/docs"):
        assert private not in text
    assert "Крокус Экспо" in text  # the place is public
    IcsCalendarStream.calendar_from_ics(text)
    async with site.http.get("/calendar/public/other.ics") as r:
        assert r.status == 404


async def test_last_modified_is_stable_across_restarts(site: Site) -> None:
    link = site.link("kgz-asanov")
    async with site.http.get(link) as r:
        first = (r.headers["ETag"], r.headers["Last-Modified"])
    # A new process: new services over the same database and secret.
    later = bootstrap(Settings(), SimulatedClock(datetime(2022, 10, 11, tzinfo=UTC)), store=site.store, secret=SECRET)
    await later.configuration.accept(site.deployment)
    feed = await later.feeds.feed(link.rsplit("/", 1)[1].removesuffix(".ics"))
    assert feed is not None
    assert (feed.etag, feed.headers["Last-Modified"]) == first
    async with site.http.get(link) as r:
        assert (r.headers["ETag"], r.headers["Last-Modified"]) == first


async def test_the_delegates_answer_shows_in_their_calendar(site: Site) -> None:
    from domain.records import RsvpAnswer, RsvpSource
    from messages import words

    answers = site.services.answers  # the running service's use case: the feeds hear of it at once
    await answers.record("icmec-xx", "kgz-asanov", RsvpAnswer.SUBSTITUTE, substitute_id="kgz-mamytova")
    await answers.record("icmec-wg-2022-10", "kaz-expert", RsvpAnswer.REMOTE, source=RsvpSource.WEB)
    async with site.http.get(site.link("kgz-asanov")) as r:
        xx = events(await r.read())["icmec-xx@icmec.plenary"]
    by_secretariat = words.table("ru")["answer_sources"]["secretariat"]
    assert f"Ваш ответ: вместо меня будет Айгуль Мамытова ({by_secretariat})" in str(xx["DESCRIPTION"])
    async with site.http.get(site.link("kaz-expert")) as r:
        wg = events(await r.read())["icmec-wg-2022-10@icmec.plenary"]
    assert "Your answer: remotely (given on the answer page)" in str(wg["DESCRIPTION"])
    async with site.http.get(site.link("rus-head")) as r:
        assert "Ваш ответ" not in (await r.read()).decode("utf-8")
