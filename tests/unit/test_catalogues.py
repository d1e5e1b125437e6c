"""The message catalogues as a translator and a delegate meet them: complete, consistent, and read in every notice."""

from __future__ import annotations

import dataclasses
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from config.loader import load
from domain.deployment import Deployment
from domain.model import AgendaItem
from domain.notices import NoticeKind
from messages import catalogues
from messages.render import Renderer
from messages.telegram import TELEGRAM_LIMIT, telegram_length

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "messages" / "locale"
LANGUAGES = catalogues.languages()
MEMBER_STATE_LANGUAGES = {"ru", "hy", "be", "kk", "ky", "tg"}
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]")
TAG = re.compile(r"</?[a-z]+[^>]*>")
DETAILS = {
    NoticeKind.REMINDER: "P1D@20221019T1100Z",
    NoticeKind.DEADLINE: "media-accreditation.PT3H@20221018T1400Z",
    NoticeKind.START: "20221019T1100Z",
    NoticeKind.UPDATE: "r2",
}
LINKS = {
    "calendar": "https://icmec.example.org/feeds/x.ics",
    "rsvp": "https://icmec.example.org/answer/x",
    "telegram": "https://t.me/icmec_bot?start=x",
}


def entries(catalog: Catalog) -> list[Message]:
    return [m for m in catalog if m.id]


def pot() -> Catalog:
    with (LOCALE / "messages.pot").open("rb") as handle:
        return read_po(handle)


def key(message: Message) -> tuple[str | None, str | tuple[str, ...]]:
    return message.context, message.id


@pytest.fixture(scope="module")
def example() -> Deployment:
    result = load([str(ROOT / "config" / "examples")], os.environ, LANGUAGES)
    assert result.deployment is not None, [str(e) for e in result.errors]
    return result.deployment


def reading(deployment: Deployment, language: str) -> Deployment:
    delegates = {k: d.model_copy(update={"language": language}) for k, d in deployment.delegates.items()}
    return dataclasses.replace(deployment, delegates=delegates)


def test_every_member_state_language_and_english_has_a_catalogue() -> None:
    assert set(LANGUAGES) >= MEMBER_STATE_LANGUAGES | {"en"}


def test_the_template_holds_every_message_the_sources_use() -> None:
    # What `python3 scripts/dev.py catalogues` extracts: a string added to a template or to messages/ without
    # running it would be missing from every catalogue, and readers would get it in English.
    method_map = [("messages/**.py", "python"), ("messages/templates/**.j2", "jinja2")]
    options = {"messages/templates/**.j2": {"extensions": "jinja2.ext.i18n", "trimmed": "true"}}
    keywords = {
        "_": None,
        "gettext": None,
        "ngettext": (1, 2),
        "pgettext": ((1, "c"), 2),
        "N_": None,
        "NP_": ((1, "c"), 2),
    }
    extracted = {
        (context, message if isinstance(message, str) else tuple(message))
        for _, _, message, _, context in extract_from_dir(
            str(ROOT), method_map, options, keywords=keywords, comment_tags=()
        )
    }
    assert extracted == {key(m) for m in entries(pot())}


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_catalogue_is_complete_and_checks_clean(language: str) -> None:
    catalog = catalogues.read(language)
    assert {key(m) for m in entries(catalog)} == {key(m) for m in entries(pot())}, "run scripts/dev.py catalogues"
    untranslated = [m.id for m in entries(catalog) if not all(m.string if isinstance(m.string, tuple) else [m.string])]
    assert not untranslated, f"{language}: untranslated {untranslated}"
    assert not [m.id for m in entries(catalog) if m.fuzzy], f"{language}: fuzzy entries"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, f"{language}: {problems}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_and_markup_match_the_original(language: str) -> None:
    for message in entries(catalogues.read(language)):
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        wanted = sorted(PLACEHOLDER.findall(ids[-1]))
        for string in strings:
            assert sorted(PLACEHOLDER.findall(string)) == wanted or (
                # a singular form may say the number in words instead of %(num)d
                len(ids) == 2 and sorted(PLACEHOLDER.findall(string)) == [p for p in wanted if p != "%(num)d"]
            ), f"{language}: {message.id!r} → {string!r}"
            assert TAG.findall(string) == TAG.findall(ids[0]), f"{language}: markup in {message.id!r}"
            assert PLACEHOLDER.sub("", string).count("%") == 0, f"{language}: a stray % in {string!r}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_plural_forms_are_those_of_the_language(language: str) -> None:
    catalog = catalogues.read(language)
    expected = Catalog(locale=catalog.locale)
    assert catalog.plural_forms == expected.plural_forms
    for message in entries(catalog):
        if isinstance(message.id, tuple):
            assert len(message.string) == expected.num_plurals, f"{language}: {message.id!r}"


@pytest.mark.parametrize(
    ("count", "form"),
    [
        (1, "пункт"),
        (2, "пункта"),
        (4, "пункта"),
        (5, "пунктов"),
        (11, "пунктов"),
        (12, "пунктов"),
        (21, "пункт"),
        (22, "пункта"),
        (111, "пунктов"),
    ],
)
def test_russian_has_three_plural_forms(count: int, form: str) -> None:
    t = catalogues.catalogue("ru").translations
    text = t.ngettext("The agenda has %(num)d item.", "The agenda has %(num)d items.", count) % {"num": count}
    assert text == f"В повестке дня {count} {form}."


@pytest.mark.parametrize(
    ("minutes", "text"),
    [(1, "1 минута"), (2, "2 минуты"), (5, "5 минут"), (21, "21 минута"), (60 * 24 * 21, "21 день")],
)
def test_russian_durations_follow_the_plural_rules(example: Deployment, minutes: int, text: str) -> None:
    item = AgendaItem(title={"ru": "Открытие"}, duration=timedelta(minutes=minutes))
    session = example.sessions["icmec-xx"].model_copy(update={"agenda": [item]})
    deployment = dataclasses.replace(example, sessions={**example.sessions, "icmec-xx": session})
    message = Renderer(deployment).render(NoticeKind.AGENDA, "icmec-xx", "kgz-asanov")
    assert f"1. Открытие ({text})" in message.text


@pytest.mark.parametrize(
    ("language", "one", "few", "many"),
    [("be", "1 пункт", "2 пункты", "5 пунктаў"), ("ru", "1 пункт", "2 пункта", "5 пунктов")],
)
def test_the_three_form_languages_pick_their_forms(language: str, one: str, few: str, many: str) -> None:
    t = catalogues.catalogue(language).translations
    texts = [
        t.ngettext("The agenda has %(num)d item.", "The agenda has %(num)d items.", n) % {"num": n} for n in (1, 2, 5)
    ]
    for text, form in zip(texts, (one, few, many), strict=True):
        assert form in text, (language, texts)


@pytest.mark.parametrize("language", sorted(set(LANGUAGES) - {"ru", "be"}))
def test_the_two_form_languages_pick_theirs(language: str) -> None:
    t = catalogues.catalogue(language).translations
    catalog = catalogues.read(language)
    [message] = [
        m for m in entries(catalog) if m.id == ("The agenda has %(num)d item.", "The agenda has %(num)d items.")
    ]
    forms = message.string
    plural = Locale.parse(catalog.locale).plural_form if catalog.locale else None
    assert plural is not None
    for n in (1, 2, 5, 21):
        index = catalog.plural_expr and eval_plural(catalog.plural_expr, n)
        assert t.ngettext(*message.id, n) == forms[index]


def eval_plural(expression: str, n: int) -> int:
    """The gettext Plural-Forms expression evaluated for n (C syntax, as msgfmt reads it)."""
    python = expression.replace("&&", " and ").replace("||", " or ").replace("!", " not ").replace(" not =", " !=")
    python = re.sub(r"(.+?)\?(.+?):(.+)", r"(\2) if (\1) else (\3)", python)
    return int(eval(python, {}, {"n": n}))


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_notice_renders_in_every_language_with_no_english_left(example: Deployment, language: str) -> None:
    renderer = Renderer(reading(example, language))
    english = {
        m.id: m.string
        for m in entries(catalogues.read(language))
        if isinstance(m.id, str) and len(PLACEHOLDER.sub("", m.id).split()) >= 3 and m.string != m.id
    }
    for session_id, invited in example.invitations.items():
        for kind in NoticeKind:
            detail = DETAILS.get(kind, "") if session_id == "icmec-xx" else ""
            if kind is NoticeKind.DEADLINE and session_id != "icmec-xx":
                continue
            message = renderer.render(kind, session_id, invited[0], detail=detail, links=LINKS)
            assert message.language == language
            for output in (message.subject, message.text, message.html, message.telegram_html):
                assert output.strip()
                leaked = [
                    msgid
                    for msgid in english
                    if PLACEHOLDER.split(msgid)[0].strip() in output and len(PLACEHOLDER.split(msgid)[0].split()) >= 3
                ]
                assert not leaked, f"{language} {kind.value}: English left: {leaked}"
            assert telegram_length(message.telegram_html) <= TELEGRAM_LIMIT


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_long_agenda_stays_within_telegrams_limit_in_every_language(example: Deployment, language: str) -> None:
    items = [
        AgendaItem.model_validate({"title": {"ru": f"Пункт {i}: " + "о проекте соглашения " * 20}})
        for i in range(1, 61)
    ]
    session = example.sessions["icmec-xx"].model_copy(update={"agenda": items})
    deployment = reading(dataclasses.replace(example, sessions={**example.sessions, "icmec-xx": session}), language)
    renderer = Renderer(deployment)
    for kind in (NoticeKind.INVITATION, NoticeKind.AGENDA):
        message = renderer.render(kind, "icmec-xx", "kgz-asanov", links=LINKS)
        assert telegram_length(message.telegram_html) <= TELEGRAM_LIMIT, (language, kind)
        assert len(message.text) > TELEGRAM_LIMIT  # the e-mail keeps everything


@pytest.mark.parametrize("language", LANGUAGES)
def test_durations_are_in_words_of_the_language(example: Deployment, language: str) -> None:
    # The invitation says the join link comes again 10 minutes before the start; CLDR has no Tajik units.
    item = AgendaItem(title={"ru": "Открытие"}, duration=timedelta(hours=1, minutes=30))
    session = example.sessions["icmec-xx"].model_copy(update={"agenda": [item]})
    deployment = reading(dataclasses.replace(example, sessions={**example.sessions, "icmec-xx": session}), language)
    text = Renderer(deployment).render(NoticeKind.INVITATION, "icmec-xx", "kgz-asanov").text
    assert not re.search(r"\b\d+ (min|h|d)\b", text), text
    assert "10" in text
    assert "1" in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_everything_the_bot_says_is_in_every_language(language: str) -> None:
    from messages.conversation import PHRASES, Phrasebook

    values = {
        "name": "Талант Асанов",
        "commission": "МКВЭС ОДКБ",
        "email": "secretariat@icmec.example.org",
        "delegate": "Бакыт Токоев (kgz-tokoev)",
        "user": "5002",
    }
    book = Phrasebook()
    for key, english in PHRASES.items():
        names = re.findall(r"%\((\w+)\)s", english)
        wanted = {k: values.get(k, f"«{k}-7»") for k in names}
        said = book.say(language, key, **wanted)
        assert all(v in said for v in wanted.values()), (language, key, said)
        if not re.sub(r"%\(\w+\)s|[\s:()]", "", english):
            continue  # nothing but placeholders ("%(name)s: %(answer)s"): the same in every language
        assert (said == english % wanted) == (language == "en"), (language, key, said)
    assert book.say("uz", "help", commission="X") == book.say("en", "help", commission="X")
