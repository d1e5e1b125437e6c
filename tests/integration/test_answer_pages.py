"""The answer page over real HTTP (aiohttp's client against the service's aiohttp application), on SQLite and
PostgreSQL: opening changes nothing; only the form of a page this browser opened records, through the answer
service, with the source ``web``; forged, revoked, other sessions' and finished sessions' links are 404."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from app.bootstrap import Services
from domain.deployment import Deployment
from domain.links import LinkScope
from domain.records import RsvpAnswer, RsvpSource
from messages.conversation import Phrasebook
from messages.pages import WebPages
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.integration.bot_setup import bot_services
from web.app import Metrics, create_app

NOW = datetime(2022, 10, 12, 9, 0, tzinfo=UTC)
FORM = re.compile(r'name="form" value="([^"]+)"')
say = Phrasebook().say


def browsing() -> aiohttp.ClientSession:
    """A client that keeps cookies as a browser does (from 127.0.0.1 too, which aiohttp's default jar refuses)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


@pytest.fixture
async def served(store: Store, deployment: Deployment) -> AsyncIterator[tuple[Services, TestServer, FakeClock]]:
    clock = FakeClock(NOW)
    services = bot_services(store, deployment, clock)
    app = create_app(services.health, Metrics(), services.feeds, answers=(services.answer_pages, WebPages()))
    async with TestServer(app, host="127.0.0.1") as server:
        services.answer_pages.base_url = str(server.make_url("")).rstrip("/")
        yield services, server, clock


async def test_opening_records_nothing_and_the_pages_own_form_records_once(
    served: tuple[Services, TestServer, FakeClock],
) -> None:
    services, _, _ = served
    url = await services.answer_pages.url("kgz-asanov", "icmec-xx")
    async with browsing() as browser:
        async with browser.get(url) as opened:
            page = await opened.text()
            assert opened.status == 200
            assert opened.headers["Cache-Control"] == "no-store"
        assert "XX заседание" in page  # the session, in the delegate's language (Russian)
        assert say("ru", "answer.in_person") in page
        assert await services.store.answers.all() == {}  # a mail scanner's GET changes nothing
        form = FORM.search(page)
        assert form is not None
        async with browser.post(url, data={"form": form.group(1), "answer": "in_person"}) as sent:
            answered = await sent.text()
            assert sent.status == 200
        assert say("ru", "answered.recorded", answer=say("ru", "answer.in_person")) in answered
        async with browser.post(url, data={"form": form.group(1), "answer": "in_person"}) as again:
            assert say("ru", "answered.unchanged", answer=say("ru", "answer.in_person")) in await again.text()
    [recorded] = (await services.store.answers.all()).values()
    assert (recorded.delegate_id, recorded.answer, recorded.source) == (
        "kgz-asanov",
        RsvpAnswer.IN_PERSON,
        RsvpSource.WEB,
    )
    assert len(await services.store.answers.history("icmec-xx", "kgz-asanov")) == 1


async def test_a_post_without_this_browsers_page_is_refused_and_records_nothing(
    served: tuple[Services, TestServer, FakeClock],
) -> None:
    services, _, _ = served
    url = await services.answer_pages.url("kgz-asanov", "icmec-xx")
    async with browsing() as browser:
        async with browser.get(url) as opened:
            form = FORM.search(await opened.text())
        assert form is not None
        async with browser.post(url, data={"answer": "in_person"}) as missing:  # no form value
            assert missing.status == 403
        # The value, but not this browser's cookie (another site's form: SameSite keeps the cookie home).
        async with browsing() as other, other.post(url, data={"form": form.group(1), "answer": "in_person"}) as forged:
            assert forged.status == 403
        async with browser.post(url, data={"form": "A" * 24, "answer": "in_person"}) as wrong:
            assert wrong.status == 403
    assert await services.store.answers.all() == {}


async def test_links_that_open_nothing_are_404_and_record_nothing(
    served: tuple[Services, TestServer, FakeClock],
) -> None:
    services, server, clock = served
    pages = services.answer_pages
    good = await pages.url("kgz-asanov", "icmec-xx")
    token = good.rsplit("/", 1)[1]
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_session = await pages.url("kgz-asanov", "no-such-session")
    async with browsing() as browser:
        for url in (
            forged,
            other_session,
            str(server.make_url("/answer/x")),
            str(server.make_url(f"/answer/{token}x")),
        ):
            async with browser.get(url) as opened:
                assert opened.status == 404, url
                assert "kgz-asanov" not in await opened.text()
            async with browser.post(url, data={"answer": "in_person"}) as posted:
                assert posted.status == 404, url
        await services.links.rotate(LinkScope.ANSWERS, "kgz-asanov")  # plenary links --rotate
        async with browser.get(good) as revoked:
            assert revoked.status == 404
        fresh = await pages.url("kgz-asanov", "icmec-xx")
        async with browser.get(fresh) as opened:
            assert opened.status == 200
        clock.current = services.configuration.require().sessions["icmec-xx"].ends_at  # the session is over
        async with browser.get(fresh) as over:
            assert over.status == 404
    assert await services.store.answers.all() == {}


async def test_a_substitute_must_be_of_the_delegation_and_answers_close_at_the_cut_off(
    served: tuple[Services, TestServer, FakeClock],
) -> None:
    services, _, clock = served
    deployment = services.configuration.require()
    session = deployment.sessions["icmec-xx"]
    pages = services.answer_pages
    url = await pages.url("kgz-asanov", "icmec-xx")
    page = await pages.open(url.rsplit("/", 1)[1])
    assert page is not None
    assert all(d.state == "KGZ" and d.id not in deployment.invitations["icmec-xx"] for d in page.substitutes)
    async with browsing() as browser:
        async with browser.get(url) as opened:
            form = FORM.search(await opened.text())
        assert form is not None
        data = {"form": form.group(1), "answer": "substitute", "substitute": "rus-head"}  # another delegation's
        async with browser.post(url, data=data) as refused:
            assert say("ru", "answered.not_allowed") in await refused.text()
        assert await services.store.answers.all() == {}
        clock.current = session.answers_close_at
        async with browser.get(url) as closed:
            text = await closed.text()
        assert 'name="answer"' not in text  # no form once answers are closed


async def test_the_form_cookie_is_strict_and_secure_when_the_public_address_is_https(
    served: tuple[Services, TestServer, FakeClock],
) -> None:
    services, server, _ = served
    token = (await services.answer_pages.url("kgz-asanov", "icmec-xx")).rsplit("/", 1)[1]
    async with browsing() as browser:
        async with browser.get(server.make_url(f"/answer/{token}")) as plain:
            cookie = plain.headers["Set-Cookie"]
        assert "SameSite=Strict" in cookie
        assert "HttpOnly" in cookie
        assert "Secure" not in cookie  # http all the way: a Secure cookie would never come back
        services.answer_pages.base_url = "https://plenary.example.org"  # TLS ends at a proxy in front
        async with browser.get(server.make_url(f"/answer/{token}")) as proxied:
            assert "Secure" in proxied.headers["Set-Cookie"]
