"""Messages as a delegate reads them on a phone: calendar subscriptions, phone numbers, the invitation's agenda."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from config.loader import load
from domain.delivery import Message
from domain.deployment import Deployment
from domain.model import Contact
from domain.notices import NoticeKind
from messages.render import Renderer
from messages.telegram import TELEGRAM_LIMIT, TELEGRAM_TAGS, telegram_length

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"
KGZ = "kgz-asanov"
XX = "icmec-xx"
FEED = "https://plenary.example.org/calendar/Zq3xY7pLr2Vb9sKdT4mWnE8u.ics"
PHONES = ("+7 495 000-00-00", "+7 495 123-45-67")
"""The secretariat's phone in the example, and one of a contact added here."""


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    result = load([str(EXAMPLES)], os.environ)
    assert result.deployment is not None, [str(e) for e in result.errors]
    deployment = result.deployment
    commission = deployment.commission
    name = {"ru": "Олег Петров", "en": "Oleg Petrov"}
    contact = Contact(name=name, email="o.petrov@icmec.example.org", phone=PHONES[1])
    secretariat = commission.secretariat.model_copy(update={"contacts": [*commission.secretariat.contacts, contact]})
    return dataclasses.replace(deployment, commission=commission.model_copy(update={"secretariat": secretariat}))


@pytest.fixture(scope="module")
def invitation(deployment: Deployment) -> Callable[[str], Message]:
    """The XX meeting's invitation to the head of the Kyrgyz delegation, with a calendar link, in a language."""
    cache: dict[str, Message] = {}

    def get(language: str) -> Message:
        if language not in cache:
            delegate = deployment.delegates[KGZ].model_copy(update={"language": language})
            renderer = Renderer(dataclasses.replace(deployment, delegates={**deployment.delegates, KGZ: delegate}))
            cache[language] = renderer.render(NoticeKind.INVITATION, XX, KGZ, links={"calendar": FEED})
        return cache[language]

    return get


class _Elements(HTMLParser):
    """The text of the page, each piece with the tags (and their attributes) it sits inside."""

    def __init__(self) -> None:
        super().__init__()
        self.open: list[tuple[str, dict[str, str]]] = []
        self.pieces: list[tuple[str, tuple[tuple[str, dict[str, str]], ...]]] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in {"meta", "br"}:
            self.open.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        assert self.open, f"</{tag}> closes nothing"
        assert self.open[-1][0] == tag, f"</{tag}> closes <{self.open[-1][0]}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.pieces.append((data, tuple(self.open)))


def elements(markup: str) -> _Elements:
    parser = _Elements()
    parser.feed(markup)
    parser.close()
    assert not parser.open
    return parser


def check_telegram(markup: str) -> None:
    parser = elements(markup)
    assert parser.tags <= TELEGRAM_TAGS, parser.tags - TELEGRAM_TAGS
    assert re.search(r"&(?!lt;|gt;|amp;|quot;)", markup) is None, "an entity Telegram does not know"
    for _, inside in parser.pieces:
        for tag, attrs in inside:
            assert tag != "a" or attrs["href"].startswith(("https://", "http://", "tg://", "mailto:")), attrs
    assert telegram_length(markup) <= TELEGRAM_LIMIT


# The calendar: subscribe (webcal://) or fetch the file over https.

WEBCAL = "webcal://plenary.example.org/calendar/Zq3xY7pLr2Vb9sKdT4mWnE8u.ics"


@pytest.mark.parametrize("language", ["ru", "en"])
def test_the_calendar_can_be_subscribed_to_or_fetched(invitation: Callable[[str], Message], language: str) -> None:
    message = invitation(language)
    assert WEBCAL in message.text
    assert FEED in message.text
    links = [attrs["href"] for _, inside in elements(message.html).pieces for tag, attrs in inside if tag == "a"]
    assert WEBCAL in links
    assert FEED in links
    check_telegram(message.telegram_html)
    assert f"<code>{WEBCAL}</code>" in message.telegram_html  # Telegram links no webcal://: tap to copy
    assert f'<a href="{FEED}">' in message.telegram_html


def test_the_calendar_labels_say_what_each_address_is_for(invitation: Callable[[str], Message]) -> None:
    ru, en = invitation("ru").text, invitation("en").text
    assert f"Подписаться в приложении календаря: {WEBCAL}" in ru
    assert f"Скачать файл или добавить календарь по URL-адресу: {FEED}" in ru
    assert f"Subscribe in your calendar app: {WEBCAL}" in en
    assert f"Download the file or add the calendar by URL: {FEED}" in en
    assert "Google" in en  # Google Calendar takes only the https address


def test_a_plain_http_feed_is_subscribed_to_as_webcal(deployment: Deployment) -> None:
    message = Renderer(deployment).render(
        NoticeKind.INVITATION, XX, KGZ, links={"calendar": "http://localhost:8080/calendar/t.ics"}
    )
    assert "webcal://localhost:8080/calendar/t.ics" in message.text
    assert "http://localhost:8080/calendar/t.ics" in message.text


# Phone numbers stay on one line.


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_do_not_break_in_text_or_telegram(
    invitation: Callable[[str], Message], language: str, phone: str
) -> None:
    message = invitation(language)
    check_telegram(message.telegram_html)
    unbreakable = phone.replace(" ", "\u00a0").replace("-", "\u2011")
    for output in (message.text, message.telegram_html):
        assert unbreakable in output
        numbers = re.findall(r"\+7[0-9 \u00a0\u2011-]*[0-9]", output)
        assert numbers
        assert all(" " not in n and "-" not in n for n in numbers), numbers


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("phone", PHONES)
def test_phone_numbers_do_not_break_in_html(invitation: Callable[[str], Message], language: str, phone: str) -> None:
    pieces = [inside for data, inside in elements(invitation(language).html).pieces if phone in data]
    assert pieces, f"{phone} not shown"
    for inside in pieces:
        styles = [attrs.get("style", "").replace(" ", "") for _, attrs in inside]
        assert any("white-space:nowrap" in style for style in styles), inside
        hrefs = [attrs["href"] for tag, attrs in inside if tag == "a"]
        assert hrefs == ["tel:+7" + re.sub(r"\D", "", phone)[1:]]


# Read on a phone: nothing wider than the screen, nothing too small to read.


@pytest.mark.parametrize("language", ["ru", "en"])
def test_long_addresses_wrap_instead_of_widening_the_page(invitation: Callable[[str], Message], language: str) -> None:
    pieces = elements(invitation(language).html).pieces
    links = [(data, inside) for data, inside in pieces if inside and inside[-1][0] == "a"]
    assert any(FEED in data for data, _ in links)
    for data, inside in links:
        styles = [attrs.get("style", "") for _, attrs in inside]
        assert any("overflow-wrap:anywhere" in s or "word-break:break-all" in s for s in styles), data


@pytest.mark.parametrize("language", ["ru", "en"])
def test_no_text_is_set_smaller_than_14px(invitation: Callable[[str], Message], language: str) -> None:
    sizes = {int(size) for size in re.findall(r"font-size:(\d+)px", invitation(language).html)}
    assert sizes
    assert min(sizes) >= 14, sorted(sizes)


# The invitation's agenda is the agenda e-mail's.


@pytest.mark.parametrize(
    ("language", "presenter", "document"),
    [
        ("ru", "Докладчик: Игорь Волков (Российская Федерация)", "Документ: "),
        ("en", "Presenter: Igor Volkov (Russian Federation)", "Document: "),
    ],
)
def test_the_invitation_names_presenters_and_links_documents(
    invitation: Callable[[str], Message], language: str, presenter: str, document: str
) -> None:
    message = invitation(language)
    draft = {"ru": "Проект соглашения", "en": "Draft agreement"}[language]
    url = "https://icmec.example.org/docs/ip-agreement-draft.pdf"
    assert f"{presenter}\n" in message.text
    assert f"{document}{draft} <{url}>" in message.text
    for markup in (message.html, message.telegram_html):
        assert presenter in markup
        assert re.search(rf'{document}<a href="{re.escape(url)}"[^>]*>{draft}</a>', markup), markup
    check_telegram(message.telegram_html)
