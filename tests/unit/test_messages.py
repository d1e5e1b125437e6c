"""Messages as delegates read them: language, time zones, escaping, Telegram's limits, on the example deployment."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from pydantic import SecretStr

from config.loader import load
from domain.changes import changes, snapshot
from domain.delivery import Change, Message
from domain.deployment import Deployment
from domain.model import AgendaItem, Document, Presenter, Session, SessionStatus
from domain.notices import NoticeKind
from messages.render import Renderer
from messages.telegram import TELEGRAM_LIMIT, TELEGRAM_TAGS, telegram_length, truncate_html

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"

KGZ = "kgz-asanov"
"""Head of the Kyrgyz delegation: Russian, Asia/Bishkek (UTC+6, three hours ahead of Moscow)."""
RUS = "rus-head"
"""Head of the Russian delegation: Russian, Europe/Moscow, the session's own zone."""
XX = "icmec-xx"

DETAILS = {
    NoticeKind.REMINDER: "P1D@20221019T1100Z",
    NoticeKind.DEADLINE: "media-accreditation.PT3H@20221018T1400Z",
    NoticeKind.START: "20221019T1100Z",
    NoticeKind.UPDATE: "r2",
}
VOID_TAGS = frozenset({"meta", "br", "hr", "img", "input", "link"})


@pytest.fixture(scope="module")
def deployment() -> Deployment:
    result = load([str(EXAMPLES)], os.environ)
    assert result.deployment is not None, [str(e) for e in result.errors]
    return result.deployment


def with_language(deployment: Deployment, language: str) -> Deployment:
    """The deployment with the language of the two delegates the tests write to changed."""
    changed = {d: deployment.delegates[d].model_copy(update={"language": language}) for d in (KGZ, RUS)}
    return dataclasses.replace(deployment, delegates={**deployment.delegates, **changed})


@pytest.fixture(scope="module")
def renderer_in(deployment: Deployment) -> Callable[[str], Renderer]:
    """A renderer whose two test delegates read the given language (one per language: templates compile once)."""
    cache: dict[str, Renderer] = {}

    def get(language: str) -> Renderer:
        if language not in cache:
            cache[language] = Renderer(with_language(deployment, language))
        return cache[language]

    return get


@pytest.fixture(scope="module")
def renderer(renderer_in: Callable[[str], Renderer]) -> Renderer:
    return renderer_in("ru")


def with_session(deployment: Deployment, **changes: object) -> Deployment:
    """The deployment with the XX meeting's fields changed (validated anew, so its times are recomputed)."""
    session = deployment.sessions[XX]
    if "agenda" in changes:  # the outcomes name items of the agenda replaced
        changes.setdefault("outcomes", [])
    session = Session.model_validate({name: getattr(session, name) for name in Session.model_fields} | changes)
    return dataclasses.replace(deployment, sessions={**deployment.sessions, XX: session})


def render(renderer: Renderer, kind: NoticeKind, delegate: str = KGZ, **kwargs: object) -> Message:
    kwargs.setdefault("detail", DETAILS.get(kind, ""))
    return renderer.render(kind, XX, delegate, **kwargs)  # type: ignore[arg-type]


class _Markup(HTMLParser):
    """Collects tags and checks they nest; records anything that is not well formed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.tags: set[str] = set()
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.entities: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag not in VOID_TAGS:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        else:
            self.stack.pop()

    def handle_entityref(self, name: str) -> None:
        self.entities.add(name)


def check_markup(markup: str) -> _Markup:
    parser = _Markup()
    parser.feed(markup)
    parser.close()
    assert not parser.problems, parser.problems
    assert not parser.stack, f"left open: {parser.stack}"
    return parser


def check_telegram(markup: str) -> None:
    """Only Telegram's tags, balanced; only the entities it knows; within its length."""
    parser = check_markup(markup)
    assert parser.tags <= TELEGRAM_TAGS, parser.tags - TELEGRAM_TAGS
    assert parser.entities <= {"lt", "gt", "amp", "quot"}, parser.entities
    assert re.search(r"&(?!lt;|gt;|amp;|quot;|#\d+;|#x[0-9a-fA-F]+;)", markup) is None, "a bare & in Telegram HTML"
    assert telegram_length(markup) <= TELEGRAM_LIMIT


# Every kind, both languages, both kinds of recipient.


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("delegate", [KGZ, RUS])
@pytest.mark.parametrize("kind", list(NoticeKind))
def test_every_kind_renders_in_every_language(
    deployment: Deployment, renderer_in: Callable[[str], Renderer], kind: NoticeKind, delegate: str, language: str
) -> None:
    renderer = renderer_in(language)
    changes = [Change("venue", "Минск", "Москва")] if kind is NoticeKind.UPDATE else []
    message = render(renderer, kind, delegate, changes=changes)

    assert message.language == language
    assert message.subject.strip()
    assert not re.search(r"[\r\n]", message.subject)
    assert "<" not in message.text.replace("<https://", "")
    assert message.html.startswith("<!DOCTYPE html>\n<html lang=")
    assert message.html.rstrip().endswith("</html>")
    check_markup(message.html)
    check_telegram(message.telegram_html)
    title = deployment.sessions[XX].title[language]
    assert title in message.subject or kind is NoticeKind.DEADLINE
    for output in (message.text, message.html, message.telegram_html):
        assert title in output
        assert not re.search(r"\{\{|\{%", output)
    # Both times for Bishkek, only Moscow's for Moscow.
    your_time = {"ru": "по вашему времени", "en": "your time"}[language]
    assert (your_time in message.text) is (delegate == KGZ)


def test_xx_invitation_shows_moscow_and_bishkek_times(renderer: Renderer) -> None:
    message = render(renderer, NoticeKind.INVITATION)
    expected = "19 октября 2022\u202fг., 14:00–17:00 по московскому времени (17:00–20:00 по вашему времени, Бишкек)"
    for output in (message.text, message.html, message.telegram_html):
        assert expected in output
    assert message.subject == "Приглашение: XX заседание МКВЭС ОДКБ, 19 октября 2022\u202fг."


def test_xx_invitation_in_english_reads_naturally(renderer_in: Callable[[str], Renderer]) -> None:
    message = render(renderer_in("en"), NoticeKind.INVITATION)
    assert "19 October 2022, 14:00–17:00 Moscow time (17:00–20:00 your time, Bishkek)" in message.text
    assert "Media accreditation closes: 18 October 2022, 17:00 Moscow time (20:00 your time, Bishkek)" in message.text


def test_a_moscow_delegate_sees_one_time(renderer: Renderer) -> None:
    message = render(renderer, NoticeKind.REMINDER, RUS)
    assert "19 октября 2022\u202fг., 14:00 по московскому времени." in message.text
    assert "вашему" not in message.text


def test_same_offset_in_another_zone_shows_one_time(renderer: Renderer, deployment: Deployment) -> None:
    minsk = next(d.id for d in deployment.delegates.values() if d.timezone == "Europe/Minsk")
    message = render(renderer, NoticeKind.REMINDER, minsk)
    assert "14:00 по московскому времени." in message.text


def test_a_time_on_another_date_for_the_recipient_names_the_date(deployment: Deployment) -> None:
    late = deployment.sessions[XX].start.replace(hour=22)
    renderer = Renderer(with_session(deployment, start=late, end=late.replace(hour=23)))
    message = render(renderer, NoticeKind.REMINDER)
    expected = "19 октября 2022\u202fг., 22:00 по московскому времени (20 октября 2022\u202fг., 01:00 по вашему"
    assert expected in message.text


def test_invitation_content(renderer: Renderer) -> None:
    text = render(renderer, NoticeKind.INVITATION).text
    for expected in (
        "Здравствуйте, Талант Асанов!",
        "пленарное заседание № 20",
        "очно и по видеоконференцсвязи",
        "МВЦ «Крокус Экспо», павильон 1, конференц-зал E",
        "https://meet.example.org/icmec-xx",
        "Председательствующий: Заместитель Председателя Правительства Российской Федерации",
        "1. О ходе выполнения решений предыдущего заседания",
        "Окончание аккредитации СМИ",  # heads see the accreditation deadline
        "- лично;\n- дистанционно;\n- не смогу принять участие.",
        "secretariat@icmec.example.org",
    ):
        assert expected in text, expected


def test_deadlines_for_heads_only_are_not_shown_to_others(renderer: Renderer) -> None:
    assert "аккредитации" not in render(renderer, NoticeKind.INVITATION, "kgz-mamytova").text


def test_answers_offered_fit_the_format(renderer: Renderer) -> None:
    text = renderer.render(NoticeKind.INVITATION, "icmec-xviii", KGZ).text
    assert "- дистанционно;\n- не смогу принять участие." in text
    assert "лично" not in text


def test_agenda_names_presenters_and_links_documents(renderer: Renderer) -> None:
    message = render(renderer, NoticeKind.AGENDA)
    assert "Докладчик: Игорь Волков (Российская Федерация)" in message.text
    assert "Проект соглашения <https://icmec.example.org/docs/ip-agreement-draft.pdf>" in message.text
    assert '<a href="https://icmec.example.org/docs/ip-agreement-draft.pdf">Проект соглашения</a>' in (
        message.telegram_html
    )


@pytest.mark.parametrize(
    ("language", "detail", "now", "expected"),
    [
        ("ru", "P1D@20221019T1100Z", None, "начнётся завтра: 19 октября 2022\u202fг., 14:00"),
        ("ru", "PT1H@20221019T1100Z", None, "начнётся через 1 час: 19 октября 2022\u202fг., 14:00"),
        ("ru", "P1D@20221019T1100Z", datetime(2022, 10, 18, 19, 0, tzinfo=UTC), "начнётся сегодня"),
        ("ru", "P1D@20221019T1100Z", datetime(2022, 10, 19, 3, 0, tzinfo=UTC), "начнётся через 8 часов"),
        ("ru", "P1D@20221019T1100Z", datetime(2022, 10, 19, 11, 5, tzinfo=UTC), "уже началось"),
        ("en", "P1D@20221019T1100Z", None, "starts tomorrow: 19 October 2022, 14:00 Moscow time"),
        ("en", "PT1H@20221019T1100Z", None, "starts in 1 hour: 19 October 2022, 14:00 Moscow time"),
        ("en", "P1D@20221019T1100Z", datetime(2022, 10, 16, 11, 0, tzinfo=UTC), "starts in 3 days"),
    ],
)
def test_reminders_say_how_far_away(
    renderer_in: Callable[[str], Renderer], language: str, detail: str, now: datetime | None, expected: str
) -> None:
    renderer = renderer_in(language)
    message = render(renderer, NoticeKind.REMINDER, detail=detail, now=now)
    assert expected in message.text


def test_deadline_says_which_when_and_how_far(renderer_in: Callable[[str], Renderer]) -> None:
    ru = render(renderer_in("ru"), NoticeKind.DEADLINE)
    assert ru.subject == "Срок: Окончание аккредитации СМИ — через 3 часа"
    assert "Срок истекает через 3 часа: 18 октября 2022\u202fг., 17:00 по московскому времени" in ru.text
    en = render(renderer_in("en"), NoticeKind.DEADLINE)
    assert en.subject == "Deadline: Media accreditation closes — in 3 hours"
    with pytest.raises(ValueError, match="no deadline"):
        render(renderer_in("ru"), NoticeKind.DEADLINE, detail="nonexistent.PT3H@20221018T1400Z")


def test_start_carries_the_join_link_and_reveals_the_passcode_only_there(deployment: Deployment) -> None:
    video = deployment.sessions[XX].video
    assert video is not None
    secret = video.model_copy(update={"passcode": SecretStr("731-902"), "meeting_id": "812 4471 0093"})
    renderer = Renderer(with_session(deployment, video=secret))
    start = render(renderer, NoticeKind.START)
    for output in (start.text, start.html, start.telegram_html):
        assert "https://meet.example.org/icmec-xx" in output
        assert "731-902" in output
        assert "812 4471 0093" in output
    assert '<b><a href="https://meet.example.org/icmec-xx">Подключиться к видеоконференции</a></b>' in (
        start.telegram_html
    )
    assert "<code>731-902</code>" in start.telegram_html
    for kind in set(NoticeKind) - {NoticeKind.START}:
        message = render(renderer, kind)
        assert "731-902" not in message.text + message.html + message.telegram_html, kind


def test_update_lists_each_change_old_to_new(renderer: Renderer) -> None:
    changes = [
        Change("start", "2022-10-19T14:00", "2022-10-20T10:00"),
        Change("format", "in_person", "hybrid"),
        Change("venue", "Минск", "Москва"),
    ]
    message = render(renderer, NoticeKind.UPDATE, changes=changes)
    assert (
        "- Начало: 19 октября 2022\u202fг., 14:00 по московскому времени (17:00 по вашему времени, Бишкек) → "
        "20 октября 2022\u202fг., 10:00 по московскому времени (13:00 по вашему времени, Бишкек)"
    ) in message.text
    assert "- Формат проведения: очно → очно и по видеоконференцсвязи (смешанный формат)" in message.text
    assert "Место проведения: Минск → <b>Москва</b>" in message.telegram_html


def test_update_from_the_change_rule_reads_well(deployment: Deployment, renderer_in: Callable[[str], Renderer]) -> None:
    before = snapshot(deployment.sessions[XX], "ru")
    after = before | {
        "start": "2022-10-20T10:00",
        "timezone": "Asia/Bishkek",
        "agenda": [*before["agenda"][1:], "О новом пункте"],
    }
    ru = render(renderer_in("ru"), NoticeKind.UPDATE, RUS, changes=changes(before, after))
    assert (
        "- Начало: 19 октября 2022\u202fг., 14:00 по московскому времени → "
        "20 октября 2022\u202fг., 10:00 по бишкекскому времени (07:00 по вашему времени, Москва)"
    ) in ru.text
    assert "- Часовой пояс: Москва → Бишкек" in ru.text
    assert "- Повестка дня:\n   добавлен пункт: «О новом пункте»\n   исключён пункт: «О ходе выполнения" in ru.text
    en = render(renderer_in("en"), NoticeKind.UPDATE, RUS, changes=changes(before, after))
    assert "- Time zone: Moscow → Bishkek" in en.text
    assert "   added: “О новом пункте”" in en.text


def test_postponement_says_a_new_date_will_follow(deployment: Deployment) -> None:
    renderer = Renderer(with_session(deployment, status=SessionStatus.POSTPONED))
    message = render(renderer, NoticeKind.UPDATE, detail="postponed")
    assert message.subject == "Перенос: XX заседание МКВЭС ОДКБ"
    assert "Заседание перенесено." in message.text
    assert "О новых дате и времени сообщим дополнительно." in message.text


def test_cancellation_and_summary(renderer: Renderer) -> None:
    cancelled = render(renderer, NoticeKind.CANCELLATION)
    assert "Заседание, назначенное на 19 октября 2022\u202fг., 14:00 по московскому времени" in cancelled.text
    assert "отменено." in cancelled.text
    summary = render(renderer, NoticeKind.SUMMARY)  # without the facts: what and when, and no promise
    assert summary.subject == "Итоги: XX заседание МКВЭС ОДКБ"
    assert "отдельным сообщением" not in summary.text


# Languages.


def test_a_language_without_a_catalogue_falls_back_to_the_commissions_first(deployment: Deployment) -> None:
    renderer = Renderer(with_language(deployment, "uz"))
    assert "uz" not in renderer.languages
    assert renderer.language_for("uz") == "ru"
    message = render(renderer, NoticeKind.INVITATION)
    assert message.language == "ru"
    assert message.subject.startswith("Приглашение: XX заседание МКВЭС ОДКБ")
    assert "по московскому времени (17:00–20:00 по вашему времени, Бишкек)" in message.text


def test_a_regional_variant_uses_its_language(renderer: Renderer) -> None:
    assert renderer.language_for("en_US") == "en"
    assert renderer.language_for("ru_KZ") == "ru"


def test_model_texts_missing_in_a_language_fall_back_to_the_commissions_first(deployment: Deployment) -> None:
    renderer = Renderer(with_session(with_language(deployment, "en"), title={"ru": "Только по-русски"}))
    assert render(renderer, NoticeKind.REMINDER).subject.startswith("Reminder: Только по-русски")


# Escaping and shapes.


def test_data_is_escaped_in_html_and_telegram_not_in_text(deployment: Deployment) -> None:
    name = {"ru": "Т. <b>Асанов</b> & сыновья", "en": "T. <b>Asanov</b> & sons"}
    delegate = deployment.delegates[KGZ].model_copy(update={"name": name})
    hostile = dataclasses.replace(deployment, delegates={**deployment.delegates, KGZ: delegate})
    item = AgendaItem(title="Пункт <i>с разметкой</i> & амперсандом", presenters=[KGZ])
    renderer = Renderer(with_session(hostile, agenda=[item], title={"ru": 'Заседание "<XX>" & Co'}))
    message = render(renderer, NoticeKind.AGENDA)
    assert "Т. &lt;b&gt;Асанов&lt;/b&gt; &amp; сыновья" in message.telegram_html
    assert "Т. &lt;b&gt;Асанов&lt;/b&gt; &amp; сыновья" in message.html
    assert "Пункт &lt;i&gt;с разметкой&lt;/i&gt; &amp; амперсандом" in message.telegram_html
    assert "<b>Асанов</b>" not in message.telegram_html + message.html
    assert "Т. <b>Асанов</b> & сыновья" in message.text
    assert message.subject == 'Повестка дня: Заседание "<XX>" & Co'
    check_telegram(message.telegram_html)
    check_markup(message.html)


def test_subjects_have_no_line_breaks(deployment: Deployment) -> None:
    renderer = Renderer(with_session(deployment, title={"ru": "XX заседание\r\nМКВЭС\tОДКБ\u2028(Москва)\x00"}))
    for kind in NoticeKind:
        subject = render(renderer, kind).subject
        assert not re.search(r"[\r\n\t\x00\u2028]", subject), repr(subject)
        assert "XX заседание МКВЭС ОДКБ (Москва)" in subject or kind is NoticeKind.DEADLINE


def test_email_html_is_self_contained(renderer: Renderer) -> None:
    html = render(renderer, NoticeKind.INVITATION).html
    for forbidden in ("<img", "<link", "<script", "<style", "url(", "@import", "src="):
        assert forbidden not in html
    assert '<meta charset="utf-8">' in html
    assert "<title>Приглашение: XX заседание МКВЭС ОДКБ" in html


def test_personal_links_are_included_when_given(renderer: Renderer) -> None:
    links = {"calendar": "https://plenary.example.org/ics/abc?t=1&x=2", "telegram": "https://t.me/plenary_bot?start=x"}
    message = render(renderer, NoticeKind.INVITATION, links=links)
    assert "добавить календарь по URL-адресу: https://plenary.example.org/ics/abc?t=1&x=2" in message.text
    assert '<a href="https://plenary.example.org/ics/abc?t=1&amp;x=2">' in message.telegram_html
    assert "<code>webcal://plenary.example.org/ics/abc?t=1&amp;x=2</code>" in message.telegram_html
    assert "https://t.me/plenary_bot" in message.html
    assert "https://t.me/plenary_bot" not in message.telegram_html  # they are reading it in Telegram already
    plain = render(renderer, NoticeKind.INVITATION)
    assert "календарь" not in plain.text
    with pytest.raises(ValueError, match="not a URL"):
        render(renderer, NoticeKind.INVITATION, links={"calendar": "javascript:alert(1)"})


# Telegram's 4,096 characters.


def long_agenda(items: int, title_length: int) -> list[AgendaItem]:
    filler = "о развитии военно-экономического сотрудничества & кооперации <предприятий> "
    return [
        AgendaItem(
            title=f"{n}. " + (filler * (title_length // len(filler) + 1))[:title_length],
            presenters=[RUS, Presenter(name="Эксперт <НИИ> & Ко")],
            documents=[Document(title=f"Справка № {n}", url=f"https://icmec.example.org/docs/{n}.pdf?a=1&b=2")],
        )
        for n in range(1, items + 1)
    ]


@pytest.mark.parametrize(("items", "title_length"), [(60, 100), (3, 2000), (1, 6000)])
@pytest.mark.parametrize("kind", [NoticeKind.AGENDA, NoticeKind.INVITATION])
def test_a_long_agenda_is_shortened_in_telegram(
    deployment: Deployment, kind: NoticeKind, items: int, title_length: int
) -> None:
    agenda = long_agenda(items, title_length)
    renderer = Renderer(with_session(deployment, agenda=agenda))
    message = render(renderer, kind)
    assert sum(len(item.title["*"]) for item in agenda) >= 6000
    check_telegram(message.telegram_html)
    assert "Полная повестка — в письме" in message.telegram_html
    assert message.telegram_html.rstrip().endswith("Секретариат МКВЭС")
    # The e-mail keeps everything.
    assert f"Справка № {items}" in message.text
    assert agenda[-1].title["*"][:40] in message.text


def test_a_long_agenda_points_to_the_agenda_link_when_given(deployment: Deployment) -> None:
    renderer = Renderer(with_session(deployment, agenda=long_agenda(60, 100)))
    message = render(renderer, NoticeKind.AGENDA, links={"agenda": "https://icmec.example.org/xx/agenda"})
    assert "не поместились в сообщение. Полная повестка: " in message.telegram_html
    assert '<a href="https://icmec.example.org/xx/agenda">' in message.telegram_html
    check_telegram(message.telegram_html)


def test_a_huge_description_is_cut_without_breaking_markup(deployment: Deployment) -> None:
    description = {"ru": "Описание & <подробности> " * 400}
    renderer = Renderer(with_session(deployment, description=description))
    message = render(renderer, NoticeKind.INVITATION)
    check_telegram(message.telegram_html)
    assert message.telegram_html.startswith("<b>Приглашение: XX заседание МКВЭС ОДКБ</b>")


def test_truncate_html_closes_tags_and_keeps_entities_whole() -> None:
    markup = "<b>" + "a&amp;b " * 50 + '</b><a href="https://x.example/?a=1&amp;b=2">' + "ссылка " * 50 + "</a>"
    for limit in range(20, len(markup), 7):
        cut = truncate_html(markup, limit)
        assert telegram_length(cut) <= limit
        check_markup(cut)
        assert re.search(r"&(?!amp;)", cut) is None
    assert truncate_html("short", 100) == "short"
