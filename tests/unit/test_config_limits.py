"""Inputs at and past the limits: none crashes, stalls or floods, and each is reported at its FILE:LINE:COL.

Each case edits the small valid configuration of ``test_config_errors`` (or adds a file to it), loads it from
disk with ``config.loader.load`` as ``plenary validate`` does, and checks the one line the secretariat reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.loader import LoadResult, load
from domain.model import SessionSpec
from messages import catalogues
from scheduler.plan import plan
from tests.unit.test_config_errors import BASE, COMMISSION, ENV, KGZ, PLENARY, WG, plenary, position, write

WG_ZONE = "  timezone: Europe/Moscow\n  video:"


def edited(file: str, old: str, new: str) -> dict[str, str]:
    """The base configuration with one piece of one file replaced (the piece must occur once)."""
    texts = dict(BASE)
    assert texts[file].count(old) == 1, f"{old!r} must occur once in {file}"
    texts[file] = texts[file].replace(old, new)
    return texts


def load_from(root: Path, texts: dict[str, str]) -> LoadResult:
    """Write the texts under root and load them as ``plenary validate root`` does."""
    write(root, texts)
    return load([str(root)], ENV, catalogues.languages())


def line_of(root: Path, texts: dict[str, str], file: str, piece: str, path: str, message: str) -> str:
    """The expected ``FILE:LINE:COL: path: message`` of a problem at a piece of a file."""
    line, column = position(texts[file], piece)
    return f"{root / file}:{line}:{column}: {path}: {message}"


def shown(result: LoadResult) -> list[str]:
    """The problems as ``plenary validate`` prints them."""
    return [str(p) for p in result.problems]


def notifications(text: str) -> dict[str, str]:
    """The base configuration with the working group's own notification times."""
    return edited(WG, WG_ZONE, f"  timezone: Europe/Moscow\n  notifications: {text}\n  video:")


# --- dates and durations the planner can compute -----------------------------------------------------------------

YEARS = "must be a date between 1970 and 2200"
LONGEST = "must be at most 3 years (1095d)"
OUT_OF_RANGE = [
    pytest.param(
        WG,
        "  end: 2022-10-17T16:00",
        "  end: 9999-12-31T23:00",
        "9999",
        "session.end",
        f"{YEARS} (got the year 9999)",
        id="end-in-9999",
    ),
    pytest.param(
        WG,
        "  start: 2022-10-17T10:00",
        "  start: 0001-01-01T10:00",
        "0001",
        "session.start",
        f"{YEARS} (got the year 1)",
        id="start-in-year-1",
    ),
    pytest.param(
        WG,
        "  start: 2022-10-17T10:00",
        "  start: 0001-01-01T00:00",
        "0001",
        "session.start",
        f"{YEARS} (got the year 1)",
        id="midnight-of-year-1",
    ),
    pytest.param(
        WG,
        WG_ZONE,
        "  timezone: Europe/Moscow\n  notifications: {invitation: 999999d}\n  video:",
        "999999d",
        "session.notifications.invitation",
        LONGEST,
        id="invitation-999999-days",
    ),
    pytest.param(
        WG,
        WG_ZONE,
        "  timezone: Europe/Moscow\n  notifications: {reminders: [1d, 99999999999999d]}\n  video:",
        "99999999999999d",
        "session.notifications.reminders[1]",
        LONGEST,
        id="huge-reminder",
    ),
    pytest.param(
        WG,
        WG_ZONE,
        "  timezone: Europe/Moscow\n  notifications: {summary: P" + "9" * 5000 + "D}\n  video:",
        "P999",
        "session.notifications.summary",
        LONGEST,
        id="5000-digit-iso-duration",
    ),
    pytest.param(
        COMMISSION,
        "    invitation: 21d",
        "    invitation: 157w",
        "157w",
        "commission.notifications.invitation",
        LONGEST,
        id="commission-invitation-157-weeks",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "at", "path", "message"), OUT_OF_RANGE)
def test_a_date_or_duration_past_what_the_planner_computes_is_refused_at_its_line(
    tmp_path: Path, file: str, old: str, new: str, at: str, path: str, message: str
) -> None:
    texts = edited(file, old, new)
    result = load_from(tmp_path, texts)
    assert result.deployment is None
    assert shown(result) == [line_of(tmp_path, texts, file, at, path, message)]


def test_the_planner_computes_every_notice_of_sessions_at_the_bounds(tmp_path: Path) -> None:
    longest = "  notifications: {invitation: 1095d, reminders: [156w], summary: P1095D, summary_to: [deputy]}"
    texts = edited(WG, "  end: 2022-10-17T16:00", f"  end: 2200-12-31T23:59\n{longest}")
    texts[WG] = texts[WG].replace("2022-10-17T10:00", "2200-12-31T20:00")
    texts[PLENARY] = texts[PLENARY].replace(
        "  start: 2022-10-19T14:00\n  end: 2022-10-19T17:00",
        (f"  start: 1970-01-01T00:00\n  end: 1970-01-01T03:00\n{longest}"),
    )
    result = load_from(tmp_path, texts)
    assert result.deployment is not None, shown(result)
    notices = plan(result.deployment, datetime(1960, 1, 1, tzinfo=UTC))
    due = sorted(n.due_at for n in notices)
    assert (due[0], due[-1]) == (datetime(1967, 1, 1, 21, tzinfo=UTC), datetime(2203, 12, 31, 20, 59, tzinfo=UTC))


# --- time zones -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "says"),
    [
        pytest.param("A" * 300, "unknown time zone 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA…AA'", id="300-characters"),
        pytest.param("Europe/" + "x" * 300, "unknown time zone 'Europe/xxxxxxxxxxxxxxxxxxxxxxxxxxxx…xx'", id="long"),
        pytest.param("localtime", "unknown time zone 'localtime' (use an IANA name", id="localtime"),
        pytest.param("posixrules", "unknown time zone 'posixrules' (use an IANA name", id="posixrules"),
        pytest.param("Factory", "unknown time zone 'Factory' (use an IANA name", id="factory"),
        pytest.param(
            "right/Europe/Moscow", "unknown time zone 'right/Europe/Moscow' (did you mean Europe/Moscow?)", id="right"
        ),
        pytest.param(
            "posix/Asia/Bishkek", "unknown time zone 'posix/Asia/Bishkek' (did you mean Asia/Bishkek?)", id="posix"
        ),
    ],
)
def test_only_names_of_the_iana_list_are_zones(tmp_path: Path, name: str, says: str) -> None:
    texts = edited(WG, "  timezone: Europe/Moscow", f"  timezone: {name}")
    result = load_from(tmp_path, texts)
    [line] = shown(result)
    assert line.startswith(line_of(tmp_path, texts, WG, name, "session.timezone", says)), line


# --- oddities the schema accepted -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1d1d", "'1d1d' gives the unit 'd' twice: add them up, e.g. 2d for 1d 1d"),
        ("1h 30m 1min", "'1h 30m 1min' gives the unit 'min' twice: add them up, e.g. 2d for 1d 1d"),
    ],
)
def test_a_duration_that_repeats_a_unit_is_refused(tmp_path: Path, value: str, message: str) -> None:
    texts = notifications(f"{{start: {value}}}")
    result = load_from(tmp_path, texts)
    assert shown(result) == [line_of(tmp_path, texts, WG, value, "session.notifications.start", message)]


def test_a_language_code_in_the_wrong_case_is_refused_with_the_right_one(tmp_path: Path) -> None:
    texts = edited(COMMISSION, "  languages: [ru, en]", "  languages: [ru, pt_br]")
    result = load_from(tmp_path, texts)
    message = "write 'pt_br' as 'pt_BR': the case of BCP 47's pt-BR, with the parts joined by '_'"
    assert shown(result) == [line_of(tmp_path, texts, COMMISSION, "pt_br", "commission.languages[1]", message)]


# --- aliases, nesting and numbers: bounded before anything is converted ------------------------------------------


def alias_bomb() -> str:
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 10)]
    return "session:\n  id: bomb\n" + "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_that_makes_it_too_big(tmp_path: Path) -> None:
    texts = dict(BASE) | {"bomb.yaml": alias_bomb()}
    assert len(texts["bomb.yaml"]) < 700
    result = load_from(tmp_path, texts)
    # The first of lol4's aliases that takes the repeated values past 100,000 is its 8th.
    piece = "lol4: &a4 [" + "*a3, " * 7 + "»*a3"
    assert shown(result) == [
        line_of(
            tmp_path,
            texts,
            "bomb.yaml",
            piece,
            "lol4[7]",
            "the alias *a3 repeats 11,111 values, and with it the aliases of this file repeat more than 100,000: "
            "at most 100,000 are allowed",
        )
    ]


def test_validate_refuses_an_alias_bomb_with_one_located_line_and_no_traceback(tmp_path: Path) -> None:
    write(tmp_path / "config", dict(BASE) | {"bomb.yaml": alias_bomb()})
    done = plenary("validate", "config", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [
        "config/bomb.yaml:7:47: lol4[7]: the alias *a3 repeats 11,111 values, and with it the aliases of this file "
        "repeat more than 100,000: at most 100,000 are allowed"
    ]
    assert "Traceback" not in done.stderr
    assert "1 error(s), 0 warning(s) in 6 file(s): nothing was changed." in done.stderr


def test_a_long_alias_chain_is_refused_where_it_grows_too_deep(tmp_path: Path) -> None:
    chain = "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 3000))
    texts = dict(BASE) | {"chain.yaml": "a0: &a0 [x]\n" + chain}
    result = load_from(tmp_path, texts)
    assert shown(result) == [
        line_of(
            tmp_path,
            texts,
            "chain.yaml",
            "a63: &a63 [»*a62]",
            "a63[0]",
            "the alias *a62 nests the data 65 levels deep: at most 64 are allowed",
        )
    ]


def test_an_alias_inside_its_own_anchor_is_reported_at_the_alias(tmp_path: Path) -> None:
    texts = edited(WG, "    delegates: [rus-morozova]", "    delegates: &who [rus-morozova, *who]")
    result = load_from(tmp_path, texts)
    assert result.deployment is None
    message = "the alias *who refers to a node that contains it"
    assert line_of(tmp_path, texts, WG, "*who", "session.invited.delegates[1]", message) in shown(result)


@pytest.mark.parametrize(
    ("nested", "at", "path"),
    [
        # The root mapping and the session are two levels: the 63rd bracket is the 65th level.
        pytest.param("[" * 500 + "]" * 500, "[" * 62 + "»[", "session.related" + "[0]" * 62, id="lists"),
        pytest.param("{a: " * 300 + "1" + "}" * 300, "{a: " * 62 + "»{", "session.related" + ".a" * 62, id="maps"),
    ],
)
def test_data_nested_too_deeply_is_refused_at_the_level_past_the_limit(
    tmp_path: Path, nested: str, at: str, path: str
) -> None:
    texts = edited(PLENARY, "  related: [wg-2022-10]", f"  related: {nested}")
    result = load_from(tmp_path, texts)
    message = "the data is nested more than 64 levels deep: at most 64 are allowed"
    assert shown(result) == [line_of(tmp_path, texts, PLENARY, "related: " + at, path, message)]


def test_nesting_thousands_deep_is_a_located_syntax_error(tmp_path: Path) -> None:
    texts = edited(PLENARY, "  related: [wg-2022-10]", "  related: " + "[" * 5000 + "]" * 5000)
    result = load_from(tmp_path, texts)
    [problem] = result.problems
    assert (problem.file, problem.line) == (str(tmp_path / PLENARY), 26)
    assert problem.message == "YAML syntax error: while increasing flow level: exceeded maximum nesting depth"


def test_a_number_of_5000_digits_is_refused_at_its_line(tmp_path: Path) -> None:
    texts = edited(PLENARY, "  number: 20", "  number: " + "7" * 5000)
    result = load_from(tmp_path, texts)
    message = "the number is too large (at most 9,223,372,036,854,775,807): quote it if it is meant as text"
    assert shown(result) == [line_of(tmp_path, texts, PLENARY, "number: »7777", "session.number", message)]


def test_a_huge_key_or_value_is_quoted_short(tmp_path: Path) -> None:
    texts = edited(WG, "  kind: working_group", "  kind: working_group\n  " + "k" * 1000 + ": 1")
    texts = texts | {KGZ: texts[KGZ].replace("    - id: mfa", "    - id: " + "m" * 100_000)}
    result = load_from(tmp_path, texts)
    assert len(result.errors) == 2, shown(result)
    longest = 250 + len(", ".join(SessionSpec.model_fields))  # the place, the key quoted short, the known keys
    assert all(len(line) < longest for line in shown(result)), [len(line) for line in shown(result)]
    assert "unknown key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…kk'" in shown(result)[-1]


# --- checks across the configuration: warnings, and one per session for overlaps ------------------------------


def test_a_text_in_a_language_the_commission_does_not_use_is_warned_about(tmp_path: Path) -> None:
    texts = edited(WG, "  title: {ru: Рабочая группа, en: Working group}", "  title: {ru: Рабочая группа, de: AG}")
    result = load_from(tmp_path, texts)
    assert result.deployment is not None
    message = "warning: a text in 'de', which is not one of the commission's languages (ru, en)"
    # and the English reader invited gets the Russian title: said at the title, for that session
    missing = "warning: session 'wg-2022-10': no 'en' text for 1 reader in title (they get the 'ru' text)"
    assert shown(result) == [
        line_of(tmp_path, texts, WG, "{ru: Рабочая группа", "session.title", missing),
        line_of(tmp_path, texts, WG, "AG", "session.title.de", message),
    ]


def test_a_language_without_a_catalogue_is_refused_at_its_line(tmp_path: Path) -> None:
    texts = edited(
        KGZ, "      email: n.sydykova@kgz.example.org", "      email: n.sydykova@kgz.example.org\n      language: uz"
    )
    write(tmp_path / "config", texts)
    done = plenary("validate", "config", cwd=tmp_path)
    assert done.returncode == 1, done
    line, column = position(texts[KGZ], "uz\n")
    listed = ", ".join(catalogues.languages())
    assert done.stdout.splitlines()[0] == (
        f"config/{KGZ}:{line}:{column}: delegation.delegates[1].language: there is no message catalogue for 'uz', "
        f"so no notice can be written in it (catalogues: {listed}); add messages/locale/uz/LC_MESSAGES/messages.po "
        "(docs/translations.md) or choose one of those"
    )


def test_texts_a_reader_will_not_find_are_warned_of_once_per_session(tmp_path: Path) -> None:
    # The commission writes in Kyrgyz too, and a Kyrgyz reader is invited: every text without it is named,
    # in one warning at the first, with the text they get instead.
    texts = edited(COMMISSION, "  languages: [ru, en]", "  languages: [ru, en, ky]")
    texts[KGZ] = texts[KGZ].replace(
        "      email: n.sydykova@kgz.example.org", "      email: n.sydykova@kgz.example.org\n      language: ky"
    )
    texts[WG] = texts[WG].replace(
        "  title: {ru: Рабочая группа, en: Working group}",
        "  title: {ru: Рабочая группа, en: Working group, ky: Жумушчу топ}",
    )
    texts[WG] += "  agenda:\n" + "".join(f"    - title: {{ru: Пункт {i}, en: Item {i}}}\n" for i in range(6))
    result = load_from(tmp_path, texts)
    assert result.deployment is not None
    warnings = [str(p) for p in result.problems if "no 'ky' text" in p.message]
    assert len(warnings) == 2, warnings  # the commission's name and the session's agenda
    [session] = [w for w in warnings if "wg-2022-10" in w]
    line, column = position(texts[WG], "{ru: Пункт 0")
    assert session == (
        f"{tmp_path / WG}:{line}:{column}: session.agenda[0].title: warning: session 'wg-2022-10': no 'ky' text for "
        "1 reader in agenda[0].title, agenda[1].title, agenda[2].title, agenda[3].title and 2 more (they get the 'ru' "
        "text)"
    )


def test_validate_warns_of_an_address_that_needs_smtputf8_on_the_delegates_line(tmp_path: Path) -> None:
    texts = edited(KGZ, "      email: t.asanov@kgz.example.org", "      email: иван@kgz.example.org")
    write(tmp_path / "config", texts)
    done = plenary("validate", "config", cwd=tmp_path)
    assert done.returncode == 0, done
    line, column = position(texts[KGZ], "иван@")
    assert done.stderr.splitlines() == [
        f"config/{KGZ}:{line}:{column}: delegation.delegates[0].email: warning: the part before the @ is not ASCII: "
        "a notice to this address can only be sent through an SMTP server that offers SMTPUTF8"
    ]


def crowded(count: int) -> dict[str, str]:
    """The base configuration and ``count`` video sessions at the same hour, each inviting kgz-asanov."""
    items = "".join(
        f"  - {{id: s{i:04d}, title: S, format: video, start: 2022-11-01T10:00, end: 2022-11-01T11:00,"
        f" video: {{url: https://meet.example.org/s{i}}}, invited: {{delegates: [kgz-asanov]}}}}\n"
        for i in range(count)
    )
    return dict(BASE) | {"sessions/crowd.yaml": "sessions:\n" + items}


def test_two_thousand_overlapping_sessions_give_one_warning_each_at_most(tmp_path: Path) -> None:
    texts = crowded(2000)
    result = load_from(tmp_path, texts)
    assert result.deployment is not None
    assert len(result.warnings) == 1999
    message = (
        "warning: overlaps 1,999 sessions running at the same time (among them 's0000'), "
        "and 1 delegate(s) invited to it are invited to one of those too: kgz-asanov"
    )
    piece = "s1999, title: S, format: video, start: »2022"
    assert shown(result)[-1] == line_of(tmp_path, texts, "sessions/crowd.yaml", piece, "sessions[1999].start", message)


def test_a_session_overlapping_several_is_warned_about_once_naming_them(tmp_path: Path) -> None:
    texts = crowded(4)
    result = load_from(tmp_path, texts)
    assert result.warnings[-1].path == "sessions[3].start"
    assert result.warnings[-1].message == (
        "overlaps 's0000', 's0001', 's0002', and 1 delegate(s) are invited to it and to one of them: kgz-asanov"
    )
    first = "overlaps 's0000', and 1 delegate(s) are invited to both: kgz-asanov"
    assert [w.message for w in result.warnings][:1] == [first]
