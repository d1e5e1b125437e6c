"""Benchmark: validating and planning a commission-sized configuration, against a bare YAML parse.

The run generates a synthetic deployment into a temporary directory (deleted afterwards unless
``--keep DIR`` is given): by default 6 member states × 20 agencies × 50 delegates (6,000 delegates;
one file per state with the state in ``states:`` and its ``delegation:``), a ``commission.yaml``, and
200 sessions spread over one year (one file each, mixed kinds and formats), each inviting every head
of delegation and 2–5 whole agencies chosen at random — about 36,000 invitations. The seed is fixed,
so runs are comparable.

It then measures, in the same process:

* bare parse — ``yaml.load`` of every generated file with PyYAML's C loader (``yaml.CSafeLoader``),
  reading the files included, as ``load`` reads them too;
* validate — ``config.loader.load`` of the directory;
* plan — ``scheduler.plan.plan`` of the deployment, ``now`` a fixed instant before the first session.

Wall times are the best of three runs (``time.perf_counter``, after a warm-up load that also checks
the configuration). Peak memory is measured with tracemalloc in a separate pass, so that tracing does
not distort the timings; the plan's peak includes the deployment it works on. The process's peak RSS
is printed at the end. The figures are checked against the targets — validate + plan under 3 s,
peak under 300 MB, within 4× the bare parse — and each is marked PASS or FAIL.

Then the same shape is generated 4× larger (4× the states, so 4× the delegates, and 4× the sessions) into
another temporary directory, validated and planned the same way, and both sizes' figures are printed side by
side: validation and planning must grow with the input, not faster (time ratio at most 1.25× the ratio of
the input's bytes), which the larger size would show at once if a step were quadratic.

It is a report, not a test: the exit code is 0 whatever the figures, and 1 only when a generated
configuration does not validate (the first 20 problems are printed) or does not invite whom it was meant to.

Run it from the project root::

    python -m benchmarks.config_plan
    python -m benchmarks.config_plan --seed 7 --sessions 400 --keep /tmp/plenary-bench
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks._common import positive, verdict
from config.loader import LoadResult, load
from domain.deployment import Deployment
from messages import catalogues
from scheduler.plan import plan

DESCRIPTION = "Time and memory of validating and planning a generated commission-sized configuration."
RUNS = 3
MB = 1_000_000
TARGET_SECONDS = 3.0
TARGET_PEAK_BYTES = 300 * MB
TARGET_RATIO = 4.0
SCALE = 4
"""How much larger the second size is."""
TARGET_GROWTH = 1.25
"""How much faster than the input the time may grow from one size to the other."""

YEAR = 2027
NOW = datetime(2026, 12, 1, tzinfo=UTC)
"""The planning instant: before the first session (and before its invitation is due)."""

FIRST_PLENARY = 25
"""The number of the first plenary meeting of the generated year."""

ENVIRON = {"BENCH_VIDEO_PASSCODE": "314159"}
CATALOGUES = catalogues.languages()
"""The languages notices can be written in: ``plenary validate`` checks the configuration's against them."""
"""The environment given to ``load``: some sessions take their video passcode from it."""

Data = dict[str, Any]

# --- the material the configuration is built from (fictional people, contacts and places) ---------

# (code, Russian name, English name, time zone): the six CSTO member states, then made-up ones.
STATES: tuple[tuple[str, str, str, str], ...] = (
    ("ARM", "Республика Армения", "Republic of Armenia", "Asia/Yerevan"),
    ("BLR", "Республика Беларусь", "Republic of Belarus", "Europe/Minsk"),
    ("KAZ", "Республика Казахстан", "Republic of Kazakhstan", "Asia/Almaty"),
    ("KGZ", "Кыргызская Республика", "Kyrgyz Republic", "Asia/Bishkek"),
    ("RUS", "Российская Федерация", "Russian Federation", "Europe/Moscow"),
    ("TJK", "Республика Таджикистан", "Republic of Tajikistan", "Asia/Dushanbe"),
)

AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("defence-industry", "Комитет военно-промышленного комплекса", "Defence Industry Committee"),
    ("mfa", "Министерство иностранных дел", "Ministry of Foreign Affairs"),
    ("mod", "Министерство обороны", "Ministry of Defence"),
    ("industry", "Министерство промышленности и торговли", "Ministry of Industry and Trade"),
    ("economy", "Министерство экономики", "Ministry of Economy"),
    ("finance", "Министерство финансов", "Ministry of Finance"),
    ("customs", "Таможенная служба", "Customs Service"),
    ("border", "Пограничная служба", "Border Service"),
    ("standards", "Комитет по стандартизации", "Standardization Committee"),
    ("ip", "Служба интеллектуальной собственности", "Intellectual Property Service"),
    ("emergencies", "Министерство по чрезвычайным ситуациям", "Ministry of Emergency Situations"),
    ("justice", "Министерство юстиции", "Ministry of Justice"),
    ("transport", "Министерство транспорта", "Ministry of Transport"),
    ("energy", "Министерство энергетики", "Ministry of Energy"),
    ("digital", "Министерство цифрового развития", "Ministry of Digital Development"),
    ("science", "Министерство науки", "Ministry of Science"),
    ("education", "Министерство образования", "Ministry of Education"),
    ("statistics", "Статистический комитет", "Statistics Committee"),
    ("security-council", "Аппарат Совета безопасности", "Security Council Staff"),
    ("export-control", "Служба экспортного контроля", "Export Control Service"),
)

FIRST_NAMES: tuple[tuple[str, str, bool], ...] = (  # (ru, en, female)
    ("Андрей", "Andrei", False),
    ("Арсен", "Arsen", False),
    ("Бакыт", "Bakyt", False),
    ("Дмитрий", "Dmitry", False),
    ("Ерлан", "Yerlan", False),
    ("Игорь", "Igor", False),
    ("Нурлан", "Nurlan", False),
    ("Павел", "Pavel", False),
    ("Сергей", "Sergei", False),
    ("Фаррух", "Farrukh", False),
    ("Айгуль", "Aigul", True),
    ("Анна", "Anna", True),
    ("Динара", "Dinara", True),
    ("Елена", "Elena", True),
    ("Карина", "Karina", True),
    ("Мадина", "Madina", True),
    ("Ольга", "Olga", True),
    ("Татьяна", "Tatiana", True),
)

SURNAMES: tuple[tuple[str, str, str, str], ...] = (  # (ru male, ru female, en male, en female)
    ("Волков", "Волкова", "Volkov", "Volkova"),
    ("Ковалёв", "Ковалёва", "Kovalev", "Kovaleva"),
    ("Морозов", "Морозова", "Morozov", "Morozova"),
    ("Назаров", "Назарова", "Nazarov", "Nazarova"),
    ("Осмонов", "Осмонова", "Osmonov", "Osmonova"),
    ("Петросян", "Петросян", "Petrosyan", "Petrosyan"),
    ("Сапаров", "Сапарова", "Saparov", "Saparova"),
    ("Соколов", "Соколова", "Sokolov", "Sokolova"),
    ("Токоев", "Токоева", "Tokoev", "Tokoeva"),
    ("Каримов", "Каримова", "Karimov", "Karimova"),
    ("Абенов", "Абенова", "Abenov", "Abenova"),
    ("Рахимов", "Рахимова", "Rakhimov", "Rakhimova"),
)

POSITIONS: dict[str, tuple[str, str]] = {
    "head": ("Глава делегации", "Head of delegation"),
    "deputy": ("Заместитель главы делегации", "Deputy head of delegation"),
    "member": ("Член делегации", "Member of the delegation"),
    "expert": ("Эксперт", "Expert"),
    "observer": ("Наблюдатель", "Observer"),
}

KINDS: tuple[tuple[str, str, int], ...] = (  # (kind, id prefix, weight)
    ("plenary", "plenary", 1),
    ("working_group", "wg", 5),
    ("council", "council", 3),
    ("other", "meeting", 1),
)

FORMATS: tuple[str, ...] = ("in_person", "hybrid", "video")

WORKING_TOPICS: tuple[tuple[str, str], ...] = (
    ("Рабочая группа по каталогизации продукции", "Working Group on Cataloguing Supplies"),
    ("Рабочая группа по стандартизации", "Working Group on Standardization"),
    ("Рабочая группа по интеллектуальной собственности", "Working Group on Intellectual Property"),
    ("Рабочая группа по кооперации предприятий", "Working Group on Industrial Cooperation"),
    ("Рабочая группа по экспортному контролю", "Working Group on Export Control"),
)

COUNCILS: tuple[tuple[str, str], ...] = (
    ("Координационный совет по стандартизации", "Coordinating Council for Standardization"),
    ("Координационный совет по каталогизации", "Coordinating Council for Cataloguing"),
    ("Научно-технический совет", "Scientific and Technical Council"),
)

OTHER_MEETINGS: tuple[tuple[str, str], ...] = (
    ("Консультации экспертов", "Expert consultations"),
    ("Совещание ответственных секретарей", "Meeting of the executive secretaries"),
)

AGENDA_ITEMS: tuple[tuple[str, str], ...] = (
    ("О ходе выполнения решений предыдущего заседания", "Implementation of the decisions of the previous meeting"),
    ("О проекте плана работы на следующий год", "The draft work plan for next year"),
    ("О совместных научно-исследовательских работах", "Joint research and development"),
    ("О межгосударственной системе каталогизации", "An interstate cataloguing system"),
    ("О взаимной охране прав на результаты интеллектуальной деятельности", "Mutual protection of IP rights"),
    ("О кооперации предприятий оборонных отраслей", "Cooperation between defence-industry enterprises"),
    ("О проекте бюджета", "The draft budget"),
    ("Разное", "Any other business"),
)

VENUES: tuple[tuple[str, str, str, str], ...] = (  # (ru name, en name, ru city, en city)
    ("Дом приёмов Правительства", "Government Reception House", "Москва", "Moscow"),
    ("Дворец Независимости", "Palace of Independence", "Минск", "Minsk"),
    ("Конгресс-центр", "Congress Centre", "Астана", "Astana"),
    ("Дом правительства", "Government House", "Бишкек", "Bishkek"),
    ("Дворец Наций", "Palace of Nations", "Душанбе", "Dushanbe"),
    ("Дом приёмов МИД", "Foreign Ministry Reception House", "Ереван", "Yerevan"),
)

DEADLINES: tuple[tuple[str, str, str], ...] = (
    ("comments", "Приём замечаний к проектам документов", "Comments on the draft documents"),
    ("registration", "Окончание регистрации участников", "Registration of participants closes"),
    ("accreditation", "Окончание аккредитации СМИ", "Media accreditation closes"),
)


# --- generation --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Shape:
    """How big a deployment to generate, and from which seed."""

    seed: int
    states: int
    agencies: int
    delegates: int
    sessions: int


@dataclass(frozen=True, slots=True)
class StateInfo:
    """A generated member state: what sessions refer to."""

    code: str
    timezone: str
    head: str
    agencies: tuple[str, ...]
    """References ``STATE/agency-id``."""


@dataclass(frozen=True, slots=True)
class Generated:
    """What was written, and what it should amount to once loaded."""

    files: tuple[Path, ...]
    total_bytes: int
    delegates: int
    invitations: int
    """The number of (session, delegate) invitations the sessions are meant to resolve to."""


def _text(ru: str, en: str) -> dict[str, str]:
    return {"ru": ru, "en": en}


def _state(index: int) -> tuple[str, str, str, str]:
    if index < len(STATES):
        return STATES[index]
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    code = "X" + letters[index // 26 % 26] + letters[index % 26]
    return code, f"Государство {code}", f"State {code}", "Europe/Moscow"


def _agency(index: int) -> tuple[str, str, str]:
    if index < len(AGENCIES):
        return AGENCIES[index]
    return f"agency-{index + 1:02d}", f"Ведомство № {index + 1}", f"Agency No. {index + 1}"


def _role(rng: random.Random, agency: int, position: int) -> str:
    if position == 0 and agency == 0:
        return "head"
    if position == 0 and agency in (1, 2):
        return "deputy"
    return rng.choices(("member", "expert", "observer"), weights=(55, 35, 10))[0]


def _delegation(rng: random.Random, shape: Shape, index: int) -> tuple[Data, StateInfo, dict[str, set[str]]]:
    """Return a state file's data, the state's summary and the delegate ids of each of its agencies."""
    code, name_ru, name_en, timezone = _state(index)
    low = code.lower()
    agencies: list[Data] = []
    delegates: list[Data] = []
    members: dict[str, set[str]] = {}
    for a in range(shape.agencies):
        agency_id, agency_ru, agency_en = _agency(a)
        agencies.append({"id": agency_id, "name": _text(agency_ru, agency_en)})
        ids = members.setdefault(f"{code}/{agency_id}", set())
        for k in range(shape.delegates):
            first_ru, first_en, female = rng.choice(FIRST_NAMES)
            male_ru, female_ru, male_en, female_en = rng.choice(SURNAMES)
            last_ru, last_en = (female_ru, female_en) if female else (male_ru, male_en)
            role = _role(rng, a, k)
            delegate_id = f"{low}-{agency_id}-{k + 1:03d}"
            delegate: Data = {
                "id": delegate_id,
                "name": _text(f"{first_ru} {last_ru}", f"{first_en} {last_en}"),
            }
            if role in ("head", "deputy") or rng.random() < 0.3:
                delegate["position"] = _text(*POSITIONS[role])
            delegate["role"] = role
            delegate["agency"] = agency_id
            delegate["email"] = f"{first_en[0].lower()}.{last_en.lower()}.{k + 1}@{agency_id}.{low}.example.org"
            if role == "head" or rng.random() < 0.35:
                delegate["telegram"] = f"@{last_en.lower()}_{low}{a + 1:02d}{k + 1:03d}"
            if rng.random() < 0.1:
                delegate["language"] = "en"
            delegates.append(delegate)
            ids.add(delegate_id)
    data: Data = {
        "states": [{"code": code, "name": _text(name_ru, name_en), "timezone": timezone, "language": "ru"}],
        "delegation": {"state": code, "agencies": agencies, "delegates": delegates},
    }
    info = StateInfo(code, timezone, f"{low}-{_agency(0)[0]}-001", tuple(members))
    return data, info, members


def _commission() -> Data:
    return {
        "commission": {
            "id": "icmec",
            "name": _text(
                "Межгосударственная комиссия по военно-экономическому сотрудничеству",
                "Interstate Commission for Military-Economic Cooperation",
            ),
            "short_name": _text("МКВЭС", "ICMEC"),
            "languages": ["ru", "en"],
            "timezone": "Europe/Moscow",
            "website": "https://icmec.example.org",
            "public_calendar": True,
            "secretariat": {
                "name": _text("Секретариат МКВЭС", "ICMEC Secretariat"),
                "email": "secretariat@icmec.example.org",
                "phone": "+7 495 000-00-00",
                "telegram_admins": [100000001, 100000002],
                "contacts": [
                    {
                        "name": _text("Анна Белова", "Anna Belova"),
                        "position": _text("Ответственный секретарь", "Executive Secretary"),
                        "email": "a.belova@icmec.example.org",
                        "telegram": "@belova_icmec",
                    }
                ],
            },
            "notifications": {
                "invitation": "21d",
                "agenda": "7d",
                "reminders": ["1d", "1h"],
                "start": "10m",
                "summary": "2h",
                "deadline_reminders": ["1d"],
                "summary_to": ["head"],
            },
        }
    }


def _session_days(rng: random.Random, count: int) -> list[date]:
    """Distinct days of the year when they suffice (sessions of one day then never overlap)."""
    first = date(YEAR, 1, 1)
    days = range((date(YEAR + 1, 1, 1) - first).days)
    offsets = rng.sample(days, count) if count <= len(days) else rng.choices(days, k=count)
    return [first + timedelta(days=offset) for offset in sorted(offsets)]


def _session(
    rng: random.Random, number: int, day: date, states: Sequence[StateInfo], plenary: int, earlier: Sequence[str]
) -> Data:
    """Return a session file's data; ``plenary`` is its number if it is one, ``earlier`` the ids before it."""
    kind, prefix, _ = rng.choices(KINDS, weights=[weight for *_, weight in KINDS])[0]
    session_format = rng.choice(FORMATS)
    if kind == "plenary":
        title = _text(f"Заседание МКВЭС № {plenary}", f"Meeting No. {plenary} of the ICMEC")
    else:
        pool = {"working_group": WORKING_TOPICS, "council": COUNCILS}.get(kind, OTHER_MEETINGS)
        title = _text(*rng.choice(pool))
    start = datetime(day.year, day.month, day.day, rng.randint(9, 14), rng.choice((0, 30)))
    end = start + timedelta(minutes=30 * rng.randint(2, 8))
    host = rng.choice(states)
    heads = [state.head for state in states]

    session: Data = {"id": f"{prefix}-{number:03d}"}
    if kind == "plenary":
        session["number"] = plenary
    session |= {"title": title, "kind": kind, "format": session_format}
    session |= {"start": f"{start:%Y-%m-%dT%H:%M}", "end": f"{end:%Y-%m-%dT%H:%M}"}
    if rng.random() < 0.5:
        session["timezone"] = host.timezone  # else the commission's
    if session_format != "video":
        venue_ru, venue_en, city_ru, city_en = rng.choice(VENUES)
        hall = rng.randint(1, 12)
        session["venue"] = {
            "name": _text(venue_ru, venue_en),
            "room": _text(f"зал {hall}", f"hall {hall}"),
            "city": _text(city_ru, city_en),
        }
    if session_format != "in_person":
        provider = rng.choice(("static", "jitsi", "zoom"))
        video: Data = {"provider": provider, "url": f"https://meet.example.org/{session['id']}"}
        if provider == "zoom":
            video["meeting_id"] = f"{rng.randint(100, 999)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}"
            video["passcode"] = "${BENCH_VIDEO_PASSCODE}"
        session["video"] = video
    if rng.random() < 0.4:
        session["chair"] = {"delegate": host.head}
    pool_of_agencies = [ref for state in states for ref in state.agencies]
    agencies = rng.sample(pool_of_agencies, min(rng.randint(2, 5), len(pool_of_agencies)))
    session["invited"] = {"states": "all", "roles": ["head"], "agencies": agencies}
    agenda: list[Data] = []
    for title_ru, title_en in rng.sample(AGENDA_ITEMS, rng.randint(2, 5)):
        item: Data = {"title": _text(title_ru, title_en)}
        if rng.random() < 0.3:
            item["presenters"] = [rng.choice(heads)]
        if rng.random() < 0.2:
            item["documents"] = [
                {
                    "title": _text("Проект решения", "Draft decision"),
                    "url": f"https://icmec.example.org/docs/{session['id']}-{len(agenda) + 1}.pdf",
                }
            ]
        agenda.append(item)
    session["agenda"] = agenda
    if rng.random() < 0.3:
        deadlines: list[Data] = []
        for deadline_id, title_ru, title_en in rng.sample(DEADLINES, rng.randint(1, 2)):
            at = datetime(day.year, day.month, day.day, 18) - timedelta(days=rng.randint(2, 14))
            deadline: Data = {"id": deadline_id, "title": _text(title_ru, title_en), "at": f"{at:%Y-%m-%dT%H:%M}"}
            deadline["audience"] = rng.choice(("heads", "invited"))
            if rng.random() < 0.3:
                deadline["remind"] = ["3d", "1d"]
            deadlines.append(deadline)
        session["deadlines"] = deadlines
    if rng.random() < 0.1:
        session["notifications"] = rng.choice(({"reminders": ["2d", "1h"]}, {"invitation": "30d"}, {"start": "15m"}))
    if earlier and rng.random() < 0.15:
        session["related"] = [rng.choice(earlier[-10:])]
    session["public"] = kind == "plenary"
    return {"session": session}


def _write(path: Path, header: str, data: Data) -> int:
    text = f"# {header}\n" + yaml.dump(
        data, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False, default_flow_style=None, width=120
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def generate(root: Path, shape: Shape) -> Generated:
    """Write the deployment under root: commission.yaml, delegations/*.yaml, sessions/*.yaml."""
    rng = random.Random(shape.seed)
    files: list[Path] = []
    total = 0

    def write(relative: str, header: str, data: Data) -> None:
        nonlocal total
        files.append(root / relative)
        total += _write(root / relative, header, data)

    write("commission.yaml", "The commission and its notification defaults (generated).", _commission())
    states: list[StateInfo] = []
    members: dict[str, set[str]] = {}
    for index in range(shape.states):
        data, info, agency_members = _delegation(rng, shape, index)
        states.append(info)
        members |= agency_members
        write(f"delegations/{info.code.lower()}.yaml", f"The {info.code} delegation (generated, fictional).", data)

    heads = {state.head for state in states}
    invitations = 0
    plenary = FIRST_PLENARY
    session_ids: list[str] = []
    for number, day in enumerate(_session_days(rng, shape.sessions), start=1):
        data = _session(rng, number, day, states, plenary, session_ids)
        session = data["session"]
        if session["kind"] == "plenary":
            plenary += 1
        session_ids.append(session["id"])
        invitations += len(heads.union(*(members[ref] for ref in session["invited"]["agencies"])))
        write(f"sessions/{day:%Y-%m-%d}-{session['id']}.yaml", f"Session {session['id']} (generated).", data)
    return Generated(tuple(files), total, shape.states * shape.agencies * shape.delegates, invitations)


# --- measurement -------------------------------------------------------------------------------------


def best_time(action: Callable[[], object], runs: int = RUNS) -> float:
    """Return the shortest wall time of several runs of an action (its result is dropped each time)."""
    best = float("inf")
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - start)
    return best


def bare_parse(files: Sequence[Path]) -> list[object]:
    """Read and parse every file with PyYAML's C loader, nothing more."""
    return [yaml.load(file.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader) for file in files]


@dataclass(frozen=True, slots=True)
class Peaks:
    """Peak traced memory (bytes) of validating, and of planning with the deployment held."""

    validate: int
    deployment: int
    """What the loaded configuration keeps once validation is over."""
    plan: int


def measure_peaks(root: Path) -> Peaks:
    """Validate then plan under tracemalloc, and return the peak of each step."""
    gc.collect()
    tracemalloc.start()
    try:
        result = load([str(root)], ENVIRON, CATALOGUES)
        validate_peak = tracemalloc.get_traced_memory()[1]
        deployment = _deployment_of(result)
        del result
        gc.collect()
        held = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        notices = plan(deployment, NOW)
        plan_peak = tracemalloc.get_traced_memory()[1]
        del notices
    finally:
        tracemalloc.stop()
    return Peaks(validate_peak, held, plan_peak)


def _deployment_of(result: LoadResult) -> Deployment:
    if result.deployment is None or result.errors:
        raise SystemExit(_invalid(result))
    return result.deployment


def _invalid(result: LoadResult) -> str:
    shown = "\n".join(f"  {problem}" for problem in result.problems[:20])
    more = f"\n  … and {len(result.problems) - 20} more" if len(result.problems) > 20 else ""
    return f"FAIL: the generated configuration does not validate ({len(result.errors)} errors):\n{shown}{more}"


def peak_rss_bytes() -> int:
    """The process's peak resident set size (ru_maxrss is in KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


# --- the report --------------------------------------------------------------------------------------


def _mb(size: int) -> str:
    return f"{size / MB:,.1f} MB"


def run(root: Path, shape: Shape) -> int:
    """Generate under root, measure and print the report; return the exit code."""
    generated = generate(root, shape)
    print(f"Plenary configuration benchmark (seed {shape.seed}, Python {sys.version.split()[0]})")
    print(
        f"generated: {shape.states} states × {shape.agencies} agencies × {shape.delegates} delegates"
        f" = {generated.delegates:,} delegates; {shape.sessions} sessions in {YEAR}"
    )
    print(f"files: {len(generated.files)}, {generated.total_bytes:,} bytes, in {root}")

    result = load([str(root)], ENVIRON, CATALOGUES)  # the warm-up, and the check that the configuration is valid
    deployment = _deployment_of(result)
    invitations = sum(len(ids) for ids in deployment.invitations.values())
    if invitations != generated.invitations:
        print(f"FAIL: the sessions resolve to {invitations:,} invitations, {generated.invitations:,} were meant")
        return 1
    notices = len(plan(deployment, NOW))
    print(
        f"delegates loaded: {len(deployment.delegates):,}; sessions: {len(deployment.sessions)};"
        f" invitations: {invitations:,}; warnings: {len(result.warnings)}"
    )
    print(f"notices planned at {NOW:%Y-%m-%dT%H:%MZ}: {notices:,}")
    del result

    parse_s = best_time(lambda: bare_parse(generated.files))
    validate_s = best_time(lambda: load([str(root)], ENVIRON))
    plan_s = best_time(lambda: plan(deployment, NOW))
    peaks = measure_peaks(root)
    total_s = validate_s + plan_s
    ratio = total_s / parse_s
    peak = max(peaks.validate, peaks.plan)

    print()
    print(f"{'':<18}{f'time (best of {RUNS})':>20}{'peak (tracemalloc)':>22}")
    print(f"{'bare parse':<18}{parse_s:>18.3f} s{'':>22}")
    print(f"{'validate':<18}{validate_s:>18.3f} s{_mb(peaks.validate):>22}")
    print(f"{'plan':<18}{plan_s:>18.3f} s{_mb(peaks.plan):>22}  (the deployment held: {_mb(peaks.deployment)})")
    print(f"{'validate + plan':<18}{total_s:>18.3f} s{_mb(peak):>22}")
    print()
    print("targets")
    checks = (
        (f"validate + plan under {TARGET_SECONDS:g} s", f"{total_s:.3f} s", total_s < TARGET_SECONDS),
        (f"peak under {TARGET_PEAK_BYTES // MB} MB", _mb(peak), peak < TARGET_PEAK_BYTES),
        (f"within {TARGET_RATIO:g}× the bare parse", f"{ratio:.2f}×", ratio <= TARGET_RATIO),
    )
    for label, figure, ok in checks:
        print(f"  {label:<32}{figure:>12}  {verdict(ok)}")
    print()
    with tempfile.TemporaryDirectory(prefix="plenary-bench-scaled-") as tmp:
        code = scaling(Path(tmp), shape, Figures(generated.total_bytes, invitations, validate_s, plan_s))
    print()
    print(f"peak RSS of the process: {_mb(peak_rss_bytes())}")
    return code


@dataclass(frozen=True, slots=True)
class Figures:
    """One size's input and timings."""

    input_bytes: int
    invitations: int
    validate_s: float
    plan_s: float

    @property
    def total_s(self) -> float:
        """Validate and plan together."""
        return self.validate_s + self.plan_s


def scaling(root: Path, shape: Shape, small: Figures) -> int:
    """Generate the shape SCALE× larger under root, time it, and print both sizes side by side."""
    larger = Shape(shape.seed, shape.states * SCALE, shape.agencies, shape.delegates, shape.sessions * SCALE)
    generated = generate(root, larger)
    result = load([str(root)], ENVIRON)
    deployment = _deployment_of(result)
    invitations = sum(len(ids) for ids in deployment.invitations.values())
    if invitations != generated.invitations:
        print(f"FAIL: the larger sessions resolve to {invitations:,} invitations, {generated.invitations:,} were meant")
        return 1
    del result
    validate_s = best_time(lambda: load([str(root)], ENVIRON))
    plan_s = best_time(lambda: plan(deployment, NOW))
    big = Figures(generated.total_bytes, invitations, validate_s, plan_s)
    print(
        f"scaling: {SCALE}× the shape: {larger.states} states, {generated.delegates:,} delegates,"
        f" {larger.sessions} sessions ({len(generated.files)} files)"
    )
    print(f"{'':<18}{'size ×1':>14}{f'size ×{SCALE}':>14}{'ratio':>10}")
    rows = (
        (
            "input",
            f"{small.input_bytes / MB:.1f} MB",
            f"{big.input_bytes / MB:.1f} MB",
            big.input_bytes / small.input_bytes,
        ),
        ("invitations", f"{small.invitations:,}", f"{big.invitations:,}", big.invitations / small.invitations),
        ("validate", f"{small.validate_s:.3f} s", f"{big.validate_s:.3f} s", big.validate_s / small.validate_s),
        ("plan", f"{small.plan_s:.3f} s", f"{big.plan_s:.3f} s", big.plan_s / small.plan_s),
        ("validate + plan", f"{small.total_s:.3f} s", f"{big.total_s:.3f} s", big.total_s / small.total_s),
    )
    for label, first, second, ratio in rows:
        print(f"{label:<18}{first:>14}{second:>14}{ratio:>9.2f}×")
    growth = (big.validate_s / small.validate_s) / (big.input_bytes / small.input_bytes)
    plan_growth = (big.plan_s / small.plan_s) / (big.invitations / small.invitations)
    print()
    print("targets")
    checks = (
        (f"validate grows with the input (≤ {TARGET_GROWTH:g}×)", f"{growth:.2f}×", growth <= TARGET_GROWTH),
        (
            f"plan grows with the invitations (≤ {TARGET_GROWTH:g}×)",
            f"{plan_growth:.2f}×",
            plan_growth <= TARGET_GROWTH,
        ),
    )
    for label, figure, ok in checks:
        print(f"  {label:<44}{figure:>8}  {verdict(ok)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the benchmark in a temporary (or kept) directory, return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.config_plan", description=DESCRIPTION)
    parser.add_argument("--seed", type=int, default=20270101, help="random seed (default: %(default)s)")
    parser.add_argument("--states", type=positive, default=6, help="member states (default: %(default)s)")
    parser.add_argument("--agencies", type=positive, default=20, help="agencies per state (default: %(default)s)")
    parser.add_argument("--delegates", type=positive, default=50, help="delegates per agency (default: %(default)s)")
    parser.add_argument("--sessions", type=positive, default=200, help="sessions in the year (default: %(default)s)")
    parser.add_argument("--keep", metavar="DIR", type=Path, help="generate into DIR (new or empty) and keep it")
    args = parser.parse_args(argv)
    shape = Shape(args.seed, args.states, args.agencies, args.delegates, args.sessions)
    if args.agencies * args.states < 2:
        parser.error("sessions invite 2 agencies or more: give at least 2 agencies in all")
    keep: Path | None = args.keep
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="plenary-bench-") as tmp:
            return run(Path(tmp), shape)
    if keep.exists() and (not keep.is_dir() or any(keep.iterdir())):
        parser.error(f"--keep {keep}: give a new or empty directory")
    keep.mkdir(parents=True, exist_ok=True)
    return run(keep, shape)


if __name__ == "__main__":
    sys.exit(main())
