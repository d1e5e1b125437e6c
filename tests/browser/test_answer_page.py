"""A delegate with only e-mail answers from the invitation's link, in a real browser (headless Chromium driven by
Playwright), against the running service on SQLite and PostgreSQL: the page is in their language, opening it
records nothing, the answer they send is recorded with the source ``web`` and shown back."""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from domain.records import RsvpAnswer, RsvpSource
from messages.conversation import Phrasebook
from tests.browser.conftest import SCREENSHOTS
from tests.doubles.smtp import SmtpServer
from tests.doubles.telegram_bot_api import FakeBotApi
from tests.e2e.harness import start

say = Phrasebook().say
LINK = re.compile(r'href="(http://127\.0\.0\.1:\d+/answer/[A-Za-z0-9_.-]+)"')


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_delegate_answers_from_the_invitation_link_in_a_browser(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeBotApi, tmp_path: Path, browser: Any
) -> None:
    # 12 October 2022, 10:00 UTC: the XX invitation goes at once by e-mail.
    at = datetime(2022, 10, 12, 10, 0, tzinfo=UTC)
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, at, 1.0, http_port=free_port())
    try:
        await h.settle()
        links = {}
        for delegate, address in (("rus-deputy", "deputy@rus.example.org"), ("kgz-tokoev", "b.tokoev@kgz.example.org")):
            [mail] = [
                r
                for r in h.emails("invitation")
                if r.recipients == (address,) and r.message["X-Plenary-Session"] == "icmec-xx"
            ]
            html = mail.message.get_body(("html",)).get_content()
            found = LINK.search(html)
            assert found is not None, html
            links[delegate] = found.group(1).replace("&amp;", "&")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # In Russian and in Kyrgyz, each delegate's language: the labels the test clicks are in it.
        for delegate, language in (("rus-deputy", "ru"), ("kgz-tokoev", "ky")):
            page = await browser.new_page()
            await page.goto(links[delegate])
            assert "XX" in await page.title()
            assert await h.store.answers.history("icmec-xx", delegate) == []  # opening records nothing
            await page.screenshot(path=str(SCREENSHOTS / f"answer-page-{language}.png"), full_page=True)
            await page.get_by_label(say(language, "answer.remote")).check()
            await page.get_by_role("button").click()
            shown = await page.locator("#outcome").inner_text()
            assert shown == say(language, "answered.recorded", answer=say(language, "answer.remote"))
            await page.screenshot(path=str(SCREENSHOTS / f"answer-page-{language}-answered.png"), full_page=True)
            await page.close()
        await _another_site_and_a_forged_link_record_nothing(browser, links["rus-deputy"])
        answers = await h.store.answers.all()
        for delegate in ("rus-deputy", "kgz-tokoev"):
            recorded = answers[("icmec-xx", delegate)]
            assert (recorded.answer, recorded.source) == (RsvpAnswer.REMOTE, RsvpSource.WEB)
    finally:
        await h.service.stop()


async def _another_site_and_a_forged_link_record_nothing(browser: Any, link: str) -> None:
    """A page of another site (``localhost`` is not ``127.0.0.1``) that posts the delegate's form, with the very
    value their page carries, to their link: the browser keeps the SameSite cookie home, and nothing is recorded;
    a link with a forged token opens nothing."""
    page = await browser.new_page()
    await page.goto(link)
    value = await page.locator('input[name="form"]').get_attribute("value")
    attack = (
        f'<form method="post" action="{link}"><input type="hidden" name="form" value="{value}">'
        '<input type="hidden" name="answer" value="not_attending"><button>Win a prize</button></form>'
    )

    async def lure(request: web.Request) -> web.Response:
        return web.Response(text=attack, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", lure)
    async with TestServer(app, host="127.0.0.1") as other:
        await page.goto(f"http://localhost:{other.port}/")
        async with page.expect_response(link) as posted:
            await page.get_by_role("button").click()
        assert (await posted.value).status == 403
        assert await page.locator("h1").inner_text() == "Your answer was not recorded"  # the browser's English
    forged = link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB")
    response = await page.goto(forged)
    assert response is not None
    assert response.status == 404
    await page.close()
