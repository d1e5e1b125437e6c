"""Bad configurations, one change at a time: each is refused (or warned about) where the secretariat must look.

Every case starts from the small valid configuration below, changes one thing, and checks that the problem
is reported in the right file, at the right LINE:COL, with the right dotted path and the key words of the
message, that nothing else is reported as an error (no follow-on noise), and that the value of an
environment variable never appears in any message.

The expected position is given as a piece of the edited file: the problem must point at its first
character, or at the character after ``»`` when the piece carries one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from config.loader import Located, load_texts

EXAMPLES = Path(__file__).resolve().parents[2] / "config" / "examples"

COMMISSION = "commission.yaml"
KGZ = "delegations/kgz.yaml"
RUS = "delegations/rus.yaml"
PLENARY = "sessions/plenary-20.yaml"
WG = "sessions/wg-2022-10.yaml"

BASE: dict[str, str] = {
    COMMISSION: """\
# The commission and its member states.
commission:
  id: testcom
  name: {ru: Тестовая комиссия, en: Test Commission}
  languages: [ru, en]
  timezone: Europe/Moscow
  public_calendar: true
  secretariat:
    email: secretariat@testcom.example.org
  notifications:
    invitation: 21d
    reminders: [1d, 1h]

states:
  - code: KGZ
    name: {ru: Кыргызская Республика, en: Kyrgyz Republic}
    timezone: Asia/Bishkek
    language: ru
  - code: RUS
    name: {ru: Российская Федерация, en: Russian Federation}
    timezone: Europe/Moscow
    language: ru
""",
    KGZ: """\
delegation:
  state: KGZ
  agencies:
    - id: industry
      name: {ru: Госкомитет промышленности, en: State Committee for Industry}
    - id: mfa
      name: {ru: Министерство иностранных дел, en: Ministry of Foreign Affairs}
  delegates:
    - id: kgz-asanov
      name: {ru: Талант Асанов, en: Talant Asanov}
      role: head
      agency: industry
      email: t.asanov@kgz.example.org
      telegram: "@asanov_kg"
    - id: kgz-sydykova
      name: {ru: Нуриза Сыдыкова, en: Nuriza Sydykova}
      role: member
      agency: mfa
      email: n.sydykova@kgz.example.org
""",
    RUS: """\
delegation:
  state: RUS
  agencies:
    - id: minprom
      name: {ru: Минпромторг, en: Ministry of Industry and Trade}
  delegates:
    - id: rus-volkov
      name: {ru: Игорь Волков, en: Igor Volkov}
      role: head
      agency: minprom
      email: i.volkov@rus.example.org
    - id: rus-morozova
      name: {ru: Елена Морозова, en: Elena Morozova}
      role: deputy
      agency: minprom
      email: e.morozova@rus.example.org
      language: en
""",
    PLENARY: """\
session:
  id: plenary-20
  number: 20
  title: {ru: XX заседание, en: 20th meeting}
  kind: plenary
  format: hybrid
  start: 2022-10-19T14:00
  end: 2022-10-19T17:00
  timezone: Europe/Moscow
  venue:
    name: {ru: Крокус Экспо, en: Crocus Expo}
    city: {ru: Москва, en: Moscow}
  video:
    provider: static
    url: https://meet.example.org/plenary-20
    passcode: ${PLENARY_PASSCODE}
  chair:
    delegate: rus-volkov
  invited:
    states: all
    roles: [head, deputy]
  agenda:
    - title: {ru: О плане работы, en: The work plan}
      presenters: [kgz-asanov]
      duration: 30m
  related: [wg-2022-10]
  public: true
""",
    WG: """\
session:
  id: wg-2022-10
  title: {ru: Рабочая группа, en: Working group}
  kind: working_group
  format: video
  start: 2022-10-17T10:00
  end: 2022-10-17T16:00
  timezone: Europe/Moscow
  video:
    url: https://meet.example.org/wg-2022-10
  invited:
    agencies: [KGZ/mfa]
    delegates: [rus-morozova]
""",
}

SECRET = "Zq7-SECRET-passcode-4411"
ENV = {"PLENARY_PASSCODE": SECRET}


@dataclass(frozen=True)
class Case:
    """One change to the base configuration and the one problem it must cause."""

    changes: tuple[tuple[str, str, str], ...]
    """(file, old text, new text): the old text must occur exactly once in that file."""
    file: str
    at: str
    path: str
    says: tuple[str, ...]
    severity: Literal["error", "warning"] = "error"
    errors: int = 1
    """How many errors the configuration has in all (the change must not cause follow-on errors)."""
    added: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


def change(file: str, old: str, new: str) -> tuple[str, str, str]:
    return (file, old, new)


def case(
    case_id: str,
    *changes: tuple[str, str, str],
    at: tuple[str, str],
    path: str,
    says: str | tuple[str, ...],
    severity: Literal["error", "warning"] = "error",
    added: dict[str, str] | None = None,
    env: dict[str, str] | None = None,
) -> object:
    return pytest.param(
        Case(
            changes=changes,
            file=at[0],
            at=at[1],
            path=path,
            says=(says,) if isinstance(says, str) else says,
            severity=severity,
            errors=1 if severity == "error" else 0,
            added=added or {},
            env=env or {},
        ),
        id=case_id,
    )


def build(case_: Case) -> dict[str, str]:
    texts = dict(BASE)
    for file, old, new in case_.changes:
        assert texts[file].count(old) == 1, f"the base text of {file} must hold {old!r} exactly once"
        texts[file] = texts[file].replace(old, new)
    texts.update(case_.added)
    return texts


def position(text: str, piece: str) -> tuple[int, int]:
    """Return the 1-based LINE, COL of the piece (or of the character after its ``»``) in the text."""
    offset = max(piece.find("»"), 0)
    needle = piece.replace("»", "")
    assert text.count(needle) == 1, f"{needle!r} must occur exactly once in the edited file"
    index = text.index(needle) + offset
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return line, column


def listing(problems: list[Located]) -> str:
    return "\n".join(f"    {p}" for p in problems) or "    (nothing)"


SESSION_WITH_TYPO = BASE[PLENARY].replace("session:", "sesion:").replace("plenary-20", "plenary-21")
SECOND_COMMISSION = """\
# A copy of the commission, left behind by mistake.
commission:
  id: testcom
  name: Test Commission
  languages: [en]
  timezone: Europe/Moscow
  secretariat: {email: secretariat@testcom.example.org}
"""
WG_TIMES = "  start: 2022-10-17T10:00\n  end: 2022-10-17T16:00\n  timezone: Europe/Moscow"
WG_INVITED = "  invited:\n    agencies: [KGZ/mfa]\n    delegates: [rus-morozova]\n"
PLENARY_VIDEO = (
    "  video:\n    provider: static\n    url: https://meet.example.org/plenary-20\n    passcode: ${PLENARY_PASSCODE}\n"
)

CASES = [
    # --- unknown keys, with a suggestion --------------------------------------------------------------------
    case(
        "unknown-key-commission",
        change(COMMISSION, "  public_calendar: true", "  public_calender: true"),
        at=(COMMISSION, "public_calender"),
        path="commission.public_calender",
        says=("unknown key 'public_calender'", "did you mean 'public_calendar'?"),
    ),
    case(
        "unknown-key-delegate",
        change(KGZ, '      telegram: "@asanov_kg"', '      telegramm: "@asanov_kg"'),
        at=(KGZ, "telegramm"),
        path="delegation.delegates[0].telegramm",
        says=("unknown key 'telegramm'", "did you mean 'telegram'?"),
    ),
    case(
        "unknown-key-session",
        change(PLENARY, "  public: true", "  pubic: true"),
        at=(PLENARY, "pubic"),
        path="session.pubic",
        says=("unknown key 'pubic'", "did you mean 'public'?"),
    ),
    case(
        "unknown-key-venue",
        change(PLENARY, "    city: {ru", "    cty: {ru"),
        at=(PLENARY, "cty:"),
        path="session.venue.cty",
        says=("unknown key 'cty'", "did you mean 'city'?"),
    ),
    case(
        "unknown-key-video",
        change(PLENARY, "    passcode:", "    pascode:"),
        at=(PLENARY, "pascode"),
        path="session.video.pascode",
        says=("unknown key 'pascode'", "did you mean 'passcode'?"),
    ),
    case(
        "unknown-key-invited",
        change(PLENARY, "    roles: [head, deputy]", "    role: [head, deputy]"),
        at=(PLENARY, "role:"),
        path="session.invited.role",
        says=("unknown key 'role'", "did you mean 'roles'?"),
    ),
    case(
        "unknown-key-without-close-match-lists-the-known-keys",
        change(PLENARY, "  public: true", "  colour: red"),
        at=(PLENARY, "colour"),
        path="session.colour",
        says=("unknown key 'colour'", "known keys:", "venue", "invited"),
    ),
    # --- sections ---------------------------------------------------------------------------------------------
    case(
        "unknown-section-did-you-mean",
        at=("sessions/plenary-21.yaml", "sesion:"),
        path="sesion",
        says=("unknown section 'sesion'", "did you mean 'session'?"),
        added={"sessions/plenary-21.yaml": SESSION_WITH_TYPO},
    ),
    case(
        "unknown-section-lists-the-known-sections",
        change(COMMISSION, "states:\n", "settings:\n  debug: true\n\nstates:\n"),
        at=(COMMISSION, "settings:"),
        path="settings",
        says=("unknown section 'settings'", "commission", "states", "delegations", "sessions"),
    ),
    case(
        "second-commission-section",
        at=("commission-copy.yaml", "commission:"),
        path="commission",
        says=("`commission` is given a second time", "commission.yaml"),
        added={"commission-copy.yaml": SECOND_COMMISSION},
    ),
    # --- wrong types --------------------------------------------------------------------------------------------
    case(
        "type-string-for-list-languages",
        change(COMMISSION, "  languages: [ru, en]", "  languages: ru"),
        at=(COMMISSION, "languages: »ru"),
        path="commission.languages",
        says="should be a list",
    ),
    case(
        "type-string-for-list-roles",
        change(PLENARY, "    roles: [head, deputy]", "    roles: head"),
        at=(PLENARY, "roles: »head"),
        path="session.invited.roles",
        says="should be a list",
    ),
    case(
        "type-list-for-mapping-venue",
        change(
            PLENARY,
            "  venue:\n    name: {ru: Крокус Экспо, en: Crocus Expo}\n    city: {ru: Москва, en: Moscow}\n",
            "  venue: [Crocus Expo, Moscow]\n",
        ),
        at=(PLENARY, "venue: »["),
        path="session.venue",
        says="should be a mapping",
    ),
    case(
        "type-text-for-boolean",
        change(PLENARY, "  public: true", "  public: yes"),
        at=(PLENARY, "public: »yes"),
        path="session.public",
        says=("boolean", "'yes'"),
    ),
    case(
        "type-number-for-text-phone",
        change(
            RUS,
            "      email: i.volkov@rus.example.org",
            "      email: i.volkov@rus.example.org\n      phone: +74950000000",
        ),
        at=(RUS, "+74950000000"),
        path="delegation.delegates[0].phone",
        says=("should be a valid string", "+74950000000"),
    ),
    case(
        "type-number-for-text-name",
        change(KGZ, "      name: {ru: Талант Асанов, en: Talant Asanov}", "      name: 42"),
        at=(KGZ, "name: »42"),
        path="delegation.delegates[0].name",
        says="must be a string or a mapping of language code to string",
    ),
    case(
        "type-number-for-zone",
        change(COMMISSION, "  timezone: Europe/Moscow\n  public", "  timezone: 3\n  public"),
        at=(COMMISSION, "timezone: »3"),
        path="commission.timezone",
        says=("should be a valid string", "'3'"),
    ),
    # --- missing required keys ------------------------------------------------------------------------------
    case(
        "missing-required-key-session-format",
        change(PLENARY, "  format: hybrid\n", ""),
        at=(PLENARY, "id: plenary-20"),
        path="session.format",
        says="missing required key 'format'",
    ),
    case(
        "missing-required-key-secretariat-email",
        change(COMMISSION, "    email: secretariat@testcom.example.org", "    phone: '+7 495 000-00-00'"),
        at=(COMMISSION, "phone: '+7"),
        path="commission.secretariat.email",
        says="missing required key 'email'",
    ),
    # --- time zones ---------------------------------------------------------------------------------------------
    case(
        "timezone-unknown-with-suggestion",
        change(COMMISSION, "  timezone: Europe/Moscow\n  public", "  timezone: Europe/Moskow\n  public"),
        at=(COMMISSION, "Europe/Moskow"),
        path="commission.timezone",
        says=("unknown time zone 'Europe/Moskow'", "did you mean Europe/Moscow?"),
    ),
    case(
        "timezone-fixed-offset-utc-plus",
        change(PLENARY, "  timezone: Europe/Moscow", "  timezone: UTC+3"),
        at=(PLENARY, "UTC+3"),
        path="session.timezone",
        says=("'UTC+3' is a fixed offset", "IANA"),
    ),
    case(
        "timezone-fixed-offset-of-a-state",
        change(COMMISSION, "    timezone: Europe/Moscow", '    timezone: "+03:00"'),
        at=(COMMISSION, '"+03:00"'),
        path="states[1].timezone",
        says=("'+03:00' is a fixed offset", "IANA"),
    ),
    # --- times ----------------------------------------------------------------------------------------------------
    case(
        "end-before-start",
        change(PLENARY, "  end: 2022-10-19T17:00", "  end: 2022-10-19T12:00"),
        at=(PLENARY, "2022-10-19T12:00"),
        path="session.end",
        says="must end after it starts (start 2022-10-19 14:00, end 2022-10-19 12:00)",
    ),
    case(
        "time-with-offset",
        change(PLENARY, "  start: 2022-10-19T14:00", "  start: 2022-10-19T14:00+03:00"),
        at=(PLENARY, "2022-10-19T14:00+03:00"),
        path="session.start",
        says=("without an offset", "timezone"),
    ),
    case(
        "time-with-z",
        change(PLENARY, "  start: 2022-10-19T14:00", "  start: 2022-10-19T11:00Z"),
        at=(PLENARY, "2022-10-19T11:00Z"),
        path="session.start",
        says=("without an offset", "timezone"),
    ),
    case(
        "time-in-dst-gap-berlin",
        change(WG, WG_TIMES, "  start: 2022-03-27T02:30\n  end: 2022-03-27T16:00\n  timezone: Europe/Berlin"),
        at=(WG, "2022-03-27T02:30"),
        path="session.start",
        says="2022-03-27 02:30 does not exist in Europe/Berlin",
    ),
    case(
        "time-in-dst-gap-moscow-2010",
        change(WG, WG_TIMES, "  start: 2010-03-28T02:30\n  end: 2010-03-28T16:00\n  timezone: Europe/Moscow"),
        at=(WG, "2010-03-28T02:30"),
        path="session.start",
        says="2010-03-28 02:30 does not exist in Europe/Moscow",
    ),
    case(
        "time-repeated-when-clocks-go-back-berlin",
        change(WG, WG_TIMES, "  start: 2022-10-30T02:30\n  end: 2022-10-30T16:00\n  timezone: Europe/Berlin"),
        at=(WG, "2022-10-30T02:30"),
        path="session.start",
        says="2022-10-30 02:30 happens twice in Europe/Berlin",
    ),
    # --- references -----------------------------------------------------------------------------------------------
    case(
        "unknown-delegate-in-invited",
        change(WG, "[rus-morozova]", "[rus-morozva]"),
        at=(WG, "rus-morozva"),
        path="session.invited.delegates[0]",
        says=("unknown delegate 'rus-morozva'", "did you mean 'rus-morozova'?"),
    ),
    case(
        "unknown-delegate-as-chair",
        change(PLENARY, "    delegate: rus-volkov", "    delegate: rus-volkv"),
        at=(PLENARY, "rus-volkv"),
        path="session.chair.delegate",
        says=("unknown delegate 'rus-volkv'", "did you mean 'rus-volkov'?"),
    ),
    case(
        "unknown-delegate-as-presenter",
        change(PLENARY, "presenters: [kgz-asanov]", "presenters: [kgz-asanova]"),
        at=(PLENARY, "kgz-asanova"),
        path="session.agenda[0].presenters[0]",
        says=("unknown delegate 'kgz-asanova'", "did you mean 'kgz-asanov'?"),
    ),
    case(
        "unknown-session-in-related",
        change(PLENARY, "related: [wg-2022-10]", "related: [wg-2022-11]"),
        at=(PLENARY, "wg-2022-11"),
        path="session.related[0]",
        says=("unknown session 'wg-2022-11'", "did you mean 'wg-2022-10'?"),
    ),
    case(
        "unknown-agency-of-a-delegate",
        change(KGZ, "      agency: industry", "      agency: industy"),
        at=(KGZ, "industy"),
        path="delegation.delegates[0].agency",
        says=("unknown agency 'industy'", "did you mean 'industry'?"),
    ),
    case(
        "unknown-agency-in-invited",
        change(WG, "[KGZ/mfa]", "[KGZ/mfq]"),
        at=(WG, "KGZ/mfq"),
        path="session.invited.agencies[0]",
        says=("unknown agency 'KGZ/mfq'", "did you mean 'KGZ/mfa'?"),
    ),
    case(
        "unknown-state-of-a-delegation",
        change(RUS, "  state: RUS", "  state: RUZ"),
        at=(RUS, "RUZ"),
        path="delegation.state",
        says=("unknown state 'RUZ'", "did you mean 'RUS'?"),
    ),
    case(
        "unknown-state-in-invited",
        change(PLENARY, "    states: all", "    states: [KGZ, RUZ]"),
        at=(PLENARY, "RUZ"),
        path="session.invited.states[1]",
        says=("unknown state 'RUZ'", "did you mean 'RUS'?"),
    ),
    # --- duplicates -------------------------------------------------------------------------------------------------
    case(
        "duplicate-delegate-id-in-one-file",
        change(
            RUS,
            "      language: en\n",
            "      language: en\n    - id: rus-volkov\n      name: Igor Volkov\n      email: volkov@rus.example.org\n",
        ),
        at=(RUS, "rus-volkov\n      name: Igor Volkov\n      email"),
        path="delegation.delegates[2].id",
        says="duplicate delegate id 'rus-volkov'",
    ),
    case(
        "duplicate-delegate-id-across-files-names-the-first",
        change(
            RUS,
            "      language: en\n",
            "      language: en\n    - id: kgz-asanov\n      name: Talant Asanov\n      email: ta@rus.example.org\n",
        ),
        at=(RUS, "kgz-asanov"),
        path="delegation.delegates[2].id",
        says=("duplicate delegate id 'kgz-asanov'", KGZ),
    ),
    case(
        "duplicate-session-id-in-a-copied-file-names-the-first",
        at=("sessions/plenary-20-copy.yaml", "id: »plenary-20"),
        path="session.id",
        says=("duplicate session id 'plenary-20'", PLENARY),
        added={"sessions/plenary-20-copy.yaml": BASE[PLENARY]},
    ),
    case(
        "duplicate-state-code",
        change(
            COMMISSION,
            "    language: ru\n  - code: RUS",
            "    language: ru\n  - code: KGZ\n    name: Kyrgyzstan\n    timezone: Asia/Bishkek\n    language: ru\n"
            "  - code: RUS",
        ),
        at=(COMMISSION, "KGZ\n    name: Kyrgyzstan"),
        path="states[1].code",
        says="duplicate state code 'KGZ'",
    ),
    case(
        "duplicate-agency-id",
        change(KGZ, "  delegates:", "    - id: industry\n      name: Industry again\n  delegates:"),
        at=(KGZ, "industry\n      name: Industry again"),
        path="delegation.agencies[2].id",
        says="duplicate agency id 'industry'",
    ),
    case(
        "duplicate-yaml-key",
        change(PLENARY, "  kind: plenary\n", "  kind: plenary\n  title: Again\n"),
        at=(PLENARY, "title: Again"),
        path="session.title",
        says=("duplicate key 'title'", "line 4"),
    ),
    # --- YAML syntax ----------------------------------------------------------------------------------------------
    case(
        "yaml-syntax-bad-indentation",
        change(PLENARY, "      presenters: [kgz-asanov]", "     presenters: [kgz-asanov]"),
        at=(PLENARY, "presenters"),
        path="",
        says="YAML syntax error",
    ),
    case(
        "yaml-syntax-unclosed-quote-points-at-the-quote",
        change(PLENARY, "  title: {ru: XX заседание, en: 20th meeting}", '  title: "XX заседание'),
        at=(PLENARY, '"XX'),
        path="",
        says=("YAML syntax error", "quoted"),
    ),
    case(
        "yaml-syntax-tab-says-tab",
        change(PLENARY, "  kind: plenary", "\tkind: plenary"),
        at=(PLENARY, "\tkind"),
        path="",
        says=("YAML syntax error", "tab"),
    ),
    # --- environment variables ----------------------------------------------------------------------------------
    case(
        "env-variable-not-set",
        change(PLENARY, "${PLENARY_PASSCODE}", "${PLENARY_PASSCOD}"),
        at=(PLENARY, "${PLENARY_PASSCOD}"),
        path="session.video.passcode",
        says=("environment variable PLENARY_PASSCOD is not set", "${PLENARY_PASSCOD}"),
    ),
    case(
        "env-variable-bad-value-is-not-shown",
        change(WG, "    url: https://meet.example.org/wg-2022-10", "    url: ${WG_JOIN_URL}"),
        at=(WG, "${WG_JOIN_URL}"),
        path="session.video.url",
        says="is not a URL",
        env={"WG_JOIN_URL": "meet.example.org/j/981?pwd=Hunter2-TopSecret"},
    ),
    # --- values -----------------------------------------------------------------------------------------------------
    case(
        "bad-duration-commission-default",
        change(COMMISSION, "    invitation: 21d", "    invitation: 21 days"),
        at=(COMMISSION, "21 days"),
        path="commission.notifications.invitation",
        says=("'21 days' is not a duration", "21d"),
    ),
    case(
        "bad-duration-agenda-item",
        change(PLENARY, "      duration: 30m", "      duration: half an hour"),
        at=(PLENARY, "half an hour"),
        path="session.agenda[0].duration",
        says="'half an hour' is not a duration",
    ),
    case(
        "bad-email",
        change(KGZ, "      email: n.sydykova@kgz.example.org", "      email: n.sydykova(at)kgz.example.org"),
        at=(KGZ, "n.sydykova(at)"),
        path="delegation.delegates[1].email",
        says="'n.sydykova(at)kgz.example.org' is not an e-mail address",
    ),
    case(
        "bad-language-of-a-delegate",
        change(RUS, "      language: en", "      language: english"),
        at=(RUS, "english"),
        path="delegation.delegates[1].language",
        says="unknown language code 'english'",
    ),
    case(
        "bad-language-of-the-commission",
        change(COMMISSION, "  languages: [ru, en]", "  languages: [ru, english]"),
        at=(COMMISSION, "english"),
        path="commission.languages[1]",
        says="unknown language code 'english'",
    ),
    case(
        "bad-state-code-in-states",
        change(
            COMMISSION,
            "    language: ru\n  - code: RUS",
            "    language: ru\n  - code: KZ\n    name: Kazakhstan\n    timezone: Asia/Almaty\n    language: ru\n"
            "  - code: RUS",
        ),
        at=(COMMISSION, "KZ\n"),
        path="states[1].code",
        says="'KZ' is not an ISO 3166-1 alpha-3 code",
    ),
    case(
        "bad-state-code-of-a-delegation",
        change(KGZ, "  state: KGZ", "  state: KG"),
        at=(KGZ, "KG\n"),
        path="delegation.state",
        says="'KG' is not an ISO 3166-1 alpha-3 code",
    ),
    # --- what a session needs ---------------------------------------------------------------------------------------
    case(
        "in-person-session-without-venue",
        change(WG, "  format: video", "  format: in_person"),
        at=(WG, "id: wg-2022-10"),
        path="session",
        says="an in-person session needs a `venue`",
    ),
    case(
        "video-session-without-video-block",
        change(PLENARY, PLENARY_VIDEO, ""),
        at=(PLENARY, "id: plenary-20"),
        path="session",
        says="hybrid session needs a `video` block",
    ),
    case(
        "session-invites-nobody",
        change(WG, WG_INVITED, "  invited:\n    roles: [head]\n"),
        at=(WG, "roles: [head]"),
        path="session.invited",
        says="invites nobody: give `states`, `agencies` or `delegates`",
    ),
    # --- warnings: accepted -----------------------------------------------------------------------------------------
    case(
        "warning-session-matches-no-delegate",
        change(WG, WG_INVITED, "  invited:\n    states: [KGZ]\n    roles: [observer]\n"),
        at=(WG, "states: [KGZ]"),
        path="session.invited",
        says="invites nobody: no delegate matches",
        severity="warning",
    ),
    case(
        "warning-delegate-invited-to-overlapping-sessions",
        change(WG, WG_TIMES, "  start: 2022-10-19T16:00\n  end: 2022-10-19T18:00\n  timezone: Europe/Moscow"),
        at=(WG, "2022-10-19T16:00"),
        path="session.start",
        says=("overlaps 'plenary-20'", "rus-morozova"),
        severity="warning",
    ),
    # --- forms that look plausible but are wrong -----------------------------------------------------------
    case(
        "start-given-as-a-number",
        change(WG, "  start: 2022-10-17T10:00", "  start: 1666000000"),
        at=(WG, "1666000000"),
        path="session.start",
        says="not a number",
    ),
    case(
        "roles-empty-list",
        change(PLENARY, "    roles: [head, deputy]", "    roles: []"),
        at=(PLENARY, "[]"),
        path="session.invited.roles",
        says="at least 1 item",
    ),
    case(
        "language-three-letter-alias",
        change(RUS, "      language: en", "      language: eng"),
        at=(RUS, "eng"),
        path="delegation.delegates[1].language",
        says="unknown language code 'eng'",
    ),
    case(
        "telegram-username-too-short",
        change(KGZ, '      telegram: "@asanov_kg"', '      telegram: "@asan"'),
        at=(KGZ, '"@asan"'),
        path="delegation.delegates[0].telegram",
        says="5–32 letters",
    ),
    case(
        "presenter-mapping-with-unknown-key",
        change(PLENARY, "      presenters: [kgz-asanov]", "      presenters: [{nme: Guest}]"),
        at=(PLENARY, "nme"),
        path="session.agenda[0].presenters[0].nme",
        says=("unknown key 'nme'", "did you mean 'name'?"),
    ),
    case(
        "summary-to-review-without-the-secretariat-s-accounts",
        change(PLENARY, "  public: true\n", "  public: true\n  summary: review\n"),
        at=(PLENARY, "review"),
        path="session.summary",
        says=("summary to review", "secretariat.telegram_admins"),
    ),
    case(
        "summaries-review-without-the-secretariat-s-accounts",
        change(COMMISSION, "  public_calendar: true", "  public_calendar: true\n  summaries: {review: true}"),
        at=(COMMISSION, "review: »true}"),
        path="commission.summaries.review",
        says=("summary to review", "secretariat.telegram_admins"),
    ),
    case(
        "summary-neither-publish-nor-review",
        change(PLENARY, "  public: true\n", "  public: true\n  summary: later\n"),
        at=(PLENARY, "later"),
        path="session.summary",
        says=("'publish' or 'review'",),
    ),
]


@pytest.mark.parametrize("bad", CASES)
def test_a_bad_configuration_is_reported_where_it_is_wrong(bad: Case) -> None:
    texts = build(bad)
    environ = ENV | bad.env
    result = load_texts(texts, environ)
    shown = listing(result.problems)

    if bad.severity == "error":
        assert result.deployment is None, f"the configuration was accepted; problems:\n{shown}"
    else:
        assert result.deployment is not None, f"the configuration was refused; problems:\n{shown}"

    line, column = position(texts[bad.file], bad.at)
    expected = f"{bad.file}:{line}:{column}: " + (f"{bad.path}: " if bad.path else "") + " … ".join(bad.says)
    saying = [p for p in result.problems if p.severity == bad.severity and all(s in p.message for s in bad.says)]
    assert saying, f"no {bad.severity} says {bad.says}; expected\n    {expected}\ngot:\n{shown}"
    places = [(p.file, p.line, p.column, p.path) for p in saying]
    assert (bad.file, line, column, bad.path) in places, (
        f"reported at the wrong place; expected\n    {expected}\ngot:\n{shown}"
    )

    assert len(result.errors) == bad.errors, f"expected {bad.errors} error(s) in all, got:\n{shown}"
    for value in environ.values():
        assert not any(value in str(p) for p in result.problems), (
            f"the value of an environment variable leaked:\n{shown}"
        )


def test_the_base_configuration_is_valid() -> None:
    result = load_texts(BASE, ENV)
    assert result.deployment is not None, listing(result.problems)
    assert result.problems == []
    assert len(result.deployment.delegates) == 4
    assert set(result.deployment.sessions) == {"plenary-20", "wg-2022-10"}


INDEPENDENT_ERRORS = {
    KGZ: (
        "      email: n.sydykova@kgz.example.org",
        "      email: n.sydykova(at)kgz.example.org",
        "delegation.delegates[1].email",
        "is not an e-mail address",
    ),
    RUS: (
        "      agency: minprom\n      email: e.morozova",
        "      agency: minpron\n      email: e.morozova",
        "delegation.delegates[1].agency",
        "unknown agency 'minpron'",
    ),
    PLENARY: ("    city: {ru", "    cty: {ru", "session.venue.cty", "unknown key 'cty'"),
    WG: (
        "  end: 2022-10-17T16:00",
        "  end: 2022-10-17T09:00",
        "session.end",
        "must end after it starts (start 2022-10-17 10:00, end 2022-10-17 09:00)",
    ),
}
COMMISSION_ERROR = (
    "  public_calendar: true",
    "  public_calender: true",
    "commission.public_calender",
    "unknown key 'public_calender'",
)


@pytest.mark.parametrize(
    "errors",
    [
        pytest.param(INDEPENDENT_ERRORS, id="in-delegations-and-sessions"),
        pytest.param({COMMISSION: COMMISSION_ERROR, **INDEPENDENT_ERRORS}, id="and-in-the-commission-too"),
    ],
)
def test_independent_errors_in_different_files_are_all_reported(errors: dict[str, tuple[str, str, str, str]]) -> None:
    texts = dict(BASE)
    for file, (old, new, _, _) in errors.items():
        assert texts[file].count(old) == 1
        texts[file] = texts[file].replace(old, new)

    result = load_texts(texts, ENV)

    assert result.deployment is None
    reported = {(p.file, p.path): p.message for p in result.errors}
    missing = [
        f"{file}: {path}: {says}"
        for file, (_, _, path, says) in errors.items()
        if says not in reported.get((file, path), "")
    ]
    assert not missing, "not reported:\n    " + "\n    ".join(missing) + "\ngot:\n" + listing(result.problems)
    assert len(result.errors) == len(errors), listing(result.problems)


# --- the real command ------------------------------------------------------------------------------------------------

PROBLEM_LINE = re.compile(
    r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+): (?P<path>[A-Za-z_][\w.\[\]]*): (?P<msg>\S.*)$"
)


def plenary(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("plenary")
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from app.cli import main; main()"]
    return subprocess.run(
        [*command, *args],
        cwd=cwd,
        env=os.environ | ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(root: Path, texts: dict[str, str]) -> None:
    for name, text in texts.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_validate_prints_each_error_as_file_line_col_path_message_and_exits_1(tmp_path: Path) -> None:
    texts = dict(BASE)
    texts[PLENARY] = texts[PLENARY].replace("    city: {ru", "    cty: {ru")
    texts[WG] = texts[WG].replace("[rus-morozova]", "[rus-morozva]")
    write(tmp_path / "config", texts)

    done = plenary("validate", "config", cwd=tmp_path)

    assert done.returncode == 1, done
    lines = done.stdout.splitlines()
    assert lines == [
        "config/sessions/plenary-20.yaml:12:5: session.venue.cty: unknown key 'cty' (did you mean 'city'?)",
        "config/sessions/wg-2022-10.yaml:13:17: session.invited.delegates[0]: "
        "unknown delegate 'rus-morozva' (did you mean 'rus-morozova'?)",
    ], done.stdout
    assert all(PROBLEM_LINE.match(line) for line in lines)
    assert "2 error(s), 0 warning(s) in 5 file(s): nothing was changed." in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_validate_accepts_a_warning_and_exits_0(tmp_path: Path) -> None:
    texts = dict(BASE)
    texts[WG] = texts[WG].replace(
        WG_TIMES, "  start: 2022-10-19T16:00\n  end: 2022-10-19T18:00\n  timezone: Europe/Moscow"
    )
    write(tmp_path / "config", texts)

    done = plenary("validate", "config", cwd=tmp_path)

    assert done.returncode == 0, done
    assert done.stdout.splitlines() == [
        "OK: testcom: 2 states, 3 agencies, 4 delegates, 2 sessions, 5 invitations; 1 warning(s) in 5 file(s)"
    ]
    assert done.stderr.splitlines() == [
        "config/sessions/wg-2022-10.yaml:6:10: session.start: warning: "
        "overlaps 'plenary-20', and 1 delegate(s) are invited to both: rus-morozova"
    ]


def test_validate_accepts_the_examples_with_a_one_line_summary(tmp_path: Path) -> None:
    done = plenary("validate", str(EXAMPLES), cwd=tmp_path)

    assert done.returncode == 0, done
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert re.fullmatch(
        r"OK: icmec: \d+ states, \d+ agencies, \d+ delegates, \d+ sessions, \d+ invitations; "
        r"0 warning\(s\) in \d+ file\(s\)",
        lines[0],
    ), lines[0]
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("old", "new", "secret"),
    [
        ("    url: https://meet.example.org/wg-2022-10", "    url: ${WG_URL}", "e"),
        ("    delegates: [rus-morozova]", '    delegates: ["${WHO}"]', "rus-morozova-secret"),
        (
            "  timezone: Europe/Moscow\n  video:\n    url: https://meet.example.org/wg",
            "  timezone: ${ZONE}\n  video:\n    url: https://meet.example.org/wg",
            "Europe/Moskow",
        ),
    ],
    ids=["short-value", "reference", "suggestion"],
)
def test_values_from_the_environment_never_appear(old: str, new: str, secret: str) -> None:
    texts = dict(BASE)
    assert texts[WG].count(old) == 1
    texts[WG] = texts[WG].replace(old, new)
    environ = ENV | {"WG_URL": secret, "WHO": secret, "ZONE": secret}
    result = load_texts(texts, environ)
    assert result.deployment is None
    shown = listing(result.problems)
    assert "${" in shown
    for problem in result.problems:
        assert repr(secret) not in problem.message
        if len(secret) > 3:
            assert secret not in problem.message
        assert "did you mean 'Europe/Moscow'" not in problem.message
