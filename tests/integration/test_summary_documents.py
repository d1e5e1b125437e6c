"""The summary's documents as a reader gets them: Markdown and HTML in their language, the PDF annex parsed
back to text (WeasyPrint, read by pypdf), the chart a PNG of a phone's width (matplotlib)."""

from __future__ import annotations

import io
import struct
from datetime import timedelta

import pytest
from pypdf import PdfReader

from domain.attendance import attendance
from domain.deployment import Deployment
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource
from domain.summary import Summary, compose, public
from messages.summary import SummaryDocuments


@pytest.fixture
def summary(deployment: Deployment) -> Summary:
    xx = deployment.sessions["icmec-xx"]

    def fact(
        who: str, kind: AttendanceKind, minutes: int, source: AttendanceSource, pid: str | None = None
    ) -> AttendanceEvent:
        return AttendanceEvent(
            session_id=xx.id,
            delegate_id=who,
            source=source,
            kind=kind,
            occurred_at=xx.starts_at + timedelta(minutes=minutes),
            external_id=f"{who}-{kind}-{minutes}" if source is AttendanceSource.VIDEO else None,
            participant_id=pid,
        )

    facts = [
        fact("rus-head", AttendanceKind.CHECK_IN, -10, AttendanceSource.VENUE),
        fact("arm-head", AttendanceKind.CHECK_IN, -3, AttendanceSource.VENUE),
        fact("kgz-asanov", AttendanceKind.JOIN, 5, AttendanceSource.VIDEO, "w_1"),
        fact("kgz-asanov", AttendanceKind.LEAVE, 47, AttendanceSource.VIDEO, "w_1"),
        fact("blr-head", AttendanceKind.JOIN, 0, AttendanceSource.VIDEO, "w_2"),
    ]
    after = xx.ends_at + timedelta(hours=1)
    return compose(deployment, xx, attendance(deployment, xx, facts, after), facts, after)


def test_the_markdown_says_the_facts_in_russian_and_in_english(summary: Summary) -> None:
    docs = SummaryDocuments()
    ru, en = docs.markdown(summary, "ru", "ru"), docs.markdown(summary, "en", "ru")
    assert ru.startswith("# ")
    assert "XX заседание МКВЭС ОДКБ" in ru
    assert "20th meeting of the ICMEC" in en
    assert "| Talant Asanov |" in en.replace("| State Committee for Industry, Energy and Subsoil Use ", "")
    assert "| Талант Асанов |" in ru.replace(
        "| Государственный комитет промышленности, энергетики и недропользования ", ""
    )
    assert "| 42 |" in en  # minutes on the call
    assert "Member states represented: 4 of 6." in en
    assert "Approved the draft agreement on the mutual protection of intellectual-property rights" in en
    assert "Одобрить проект Соглашения" in ru
    assert summary.events_sha256 in ru
    assert summary.events_sha256 in en


def test_the_html_escapes_what_the_yaml_says(deployment: Deployment, summary: Summary) -> None:
    state = summary.states[0]
    agency = state.agencies[0]
    named = agency.delegates[0].model_copy(update={"name": {"en": "<script>alert(1)</script> & Co"}})
    forged = summary.model_copy(
        update={
            "states": (
                state.model_copy(update={"agencies": (agency.model_copy(update={"delegates": (named,)}),)}),
                *summary.states[1:],
            )
        }
    )
    html = SummaryDocuments().html(forged, "en", "ru")
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in html
    assert html.lstrip().startswith("<!DOCTYPE html>")
    assert '<html lang="en">' in html


@pytest.mark.usefixtures("weasyprint_ready")
def test_the_pdf_annex_holds_the_table_the_quorum_and_the_hash(summary: Summary) -> None:
    pdf = SummaryDocuments().pdf(summary, "ru", "ru")
    reader = PdfReader(io.BytesIO(pdf))
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (210, 297)  # A4
    text = "\n".join(page.extract_text() for page in reader.pages)
    flat = " ".join(text.split())
    for name in ("Республика Армения", "Кыргызская Республика", "Талант Асанов", "Сергей Ковалёв"):
        assert name in flat
    assert "42" in flat
    assert "majority" not in flat  # in Russian words, not the YAML's
    compact = flat.replace(" ", "")
    assert summary.events_sha256 in compact


def test_the_press_annex_names_nobody(deployment: Deployment, summary: Summary) -> None:
    press = public(summary, deployment)
    text = " ".join(SummaryDocuments().markdown(press, "en", "ru").split())
    for delegate in deployment.delegates.values():
        assert delegate.name["en"] not in text
    assert "Republic of Armenia" in text


def test_the_chart_is_a_png_a_phone_can_show(summary: Summary) -> None:
    png = SummaryDocuments().chart(summary, "kk", "ru")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert 900 <= width <= 1400
    assert height >= 400
    assert SummaryDocuments().chart(summary, "kk", "ru") == png  # the same facts draw the same chart
