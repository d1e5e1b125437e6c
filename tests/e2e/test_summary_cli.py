"""``plenary summary`` as a secretariat runs it, in a subprocess: corrections recorded by ``plenary attendance``,
then the summary printed, kept in the archive, and checked against the stored attendance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pypdf import PdfReader

from tests.e2e.test_cli import plenary


@pytest.mark.usefixtures("weasyprint_ready")
def test_the_summary_is_printed_kept_and_checked(tmp_path: Path) -> None:
    env = {"PLENARY_DATA_DIR": str(tmp_path)}
    marked = plenary(
        "attendance", "icmec-xx", "config/examples/", "--set", "rus-head=in-person", "--set", "kgz-asanov=remote",
        "--note", "signed the list", "--at", "2022-10-19T12:00:00Z", env=env,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr

    printed = plenary("summary", "icmec-xx", "config/examples/", "--format", "json", env=env)
    assert printed.returncode == 0, printed.stderr
    doc = json.loads(printed.stdout)
    assert doc["session_id"] == "icmec-xx"
    assert (doc["totals"]["in_person"], doc["totals"]["remote"], doc["totals"]["invited"]) == (1, 1, 20)
    assert doc["represented"] == 2
    assert doc["quorum"]["met"] is False
    assert doc["corrected"] == 2
    assert {c["delegate_id"] for c in doc["corrections"]} == {"rus-head", "kgz-asanov"}
    assert {c["note"] for c in doc["corrections"]} == {"signed the list"}

    english = plenary("summary", "icmec-xx", "config/examples/", "--language", "en", "--public", env=env)
    assert english.returncode == 0, english.stderr
    assert english.stdout.startswith("# Summary: 20th meeting of the ICMEC")
    assert "Igor Volkov" not in english.stdout
    assert "The secretariat corrected the attendance 2 times." in english.stdout

    kept = plenary("summary", "icmec-xx", "config/examples/", "--keep", env=env)
    assert kept.returncode == 0, kept.stderr
    archive = tmp_path / "summaries" / "icmec-xx"
    names = sorted(p.name for p in archive.iterdir())
    for language in ("ru", "en"):
        for name in (
            f"summary.{language}.md",
            f"summary.{language}.html",
            f"annex.{language}.pdf",
            f"chart.{language}.png",
        ):
            assert name in names
    assert "summary.json" in names
    assert "public.json" in names
    annex = " ".join(" ".join(p.extract_text() for p in PdfReader(archive / "annex.ru.pdf").pages).split())
    assert "Игорь Волков" in annex
    assert json.loads((archive / "summary.json").read_text())["events_sha256"] == doc["events_sha256"]

    same = plenary("summary", "icmec-xx", "config/examples/", "--verify", env=env)
    assert same.returncode == 0, same.stdout + same.stderr
    assert "the stored attendance is the one summarised" in same.stdout

    later = plenary(
        "attendance",
        "icmec-xx",
        "config/examples/",
        "--set",
        "kgz-asanov=absent",
        "--at",
        "2022-10-19T13:00:00Z",
        env=env,
    )
    assert later.returncode == 0, later.stderr
    changed = plenary("summary", "icmec-xx", "config/examples/", "--verify", env=env)
    assert changed.returncode == 1
    assert "the attendance changed since" in changed.stdout


def test_a_wrong_session_or_form_is_refused_with_what_there_is(tmp_path: Path) -> None:
    env = {"PLENARY_DATA_DIR": str(tmp_path)}
    wrong = plenary("summary", "icmec-xxi", "config/examples/", env=env)
    assert wrong.returncode == 2
    assert "unknown session 'icmec-xxi'" in wrong.stderr
    assert "icmec-xx" in wrong.stderr
    form = plenary("summary", "icmec-xx", "config/examples/", "--format", "docx", env=env)
    assert form.returncode == 2
    assert "md, html, json, pdf, png" in form.stderr
    early = plenary("summary", "icmec-xx", "config/examples/", "--reissue", env=env)
    assert early.returncode == 1
    assert "was not published yet: nothing to correct" in early.stderr


def test_corrections_from_a_file_are_checked_whole_then_recorded_and_summarised(tmp_path: Path) -> None:
    env = {"PLENARY_DATA_DIR": str(tmp_path)}
    shape = tmp_path / "shape.yaml"
    shape.write_text("attendance:\n  - delegate: kgz-asanov\n    presence: gone\ndecisions:\n  - item: 1\n    txt: x\n")
    refused = plenary("summary", "icmec-xx", "config/examples/", "--edit", str(shape), env=env)
    assert refused.returncode == 1
    assert f"{shape}:3:15: attendance[0].presence: " in refused.stderr
    assert f"{shape}:6:5: decisions[0].txt: unknown key" in refused.stderr
    assert "nothing was recorded" in refused.stderr

    facts = tmp_path / "facts.yaml"
    facts.write_text(
        "attendance:\n  - {delegate: nobody, presence: absent}\ndecisions:\n  - {item: 99, text: Approve}\n"
    )
    refused = plenary("summary", "icmec-xx", "config/examples/", "--edit", str(facts), env=env)
    assert refused.returncode == 1
    assert f"{facts}:2:16: attendance[0].delegate: 'nobody' is not invited to the session" in refused.stderr
    assert f"{facts}:4:12: decisions[0].item: item 99 is not on the agenda" in refused.stderr

    good = tmp_path / "good.yaml"
    good.write_text(
        "attendance:\n"
        "  - delegate: kgz-asanov\n    presence: remote\n    note: joined by phone\n"
        "decisions:\n"
        "  - item: 1\n    text: Одобрить план работы на 2023 год\n",
        encoding="utf-8",
    )
    recorded = plenary("summary", "icmec-xx", "config/examples/", "--edit", str(good), env=env)
    assert recorded.returncode == 0, recorded.stderr
    assert recorded.stdout == "2 correction(s) recorded; the summary, when it is published, will say so\n"

    printed = plenary("summary", "icmec-xx", "config/examples/", "--format", "json", env=env)
    assert printed.returncode == 0, printed.stderr
    doc = json.loads(printed.stdout)
    assert doc["agenda"][0]["decisions"][-1] == {"*": "Одобрить план работы на 2023 год"}  # after the YAML's
    assert [(c["delegate_id"], c["note"]) for c in doc["corrections"]] == [("kgz-asanov", "joined by phone")]
    assert doc["totals"]["remote"] == 1
