"""The running service end to end: real SMTP (aiosmtpd), the Bot API double, SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import icalendar

from tests.doubles.smtp import Received, SmtpServer
from tests.doubles.telegram_api import FakeTelegramApi
from tests.e2e.harness import BOUND, XX_START, start


def kinds_by_recipient(received: list[Received], session: str = "icmec-xx") -> Counter[tuple[str, str]]:
    return Counter(
        (r.recipients[0], r.message["X-Plenary-Kind"]) for r in received if r.message["X-Plenary-Session"] == session
    )


async def test_on_time_delivery_on_a_compressed_clock_with_catch_up(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    # Start on 12 October, 10:30 UTC: the XX invitation (due 28 September) is late but useful and goes at
    # once; the agenda falls due at 11:00 UTC, half a simulated hour (three real seconds) later.
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 12, 10, 30, tzinfo=UTC), 600)
    try:
        await h.until(datetime(2022, 10, 12, 11, 30, tzinfo=UTC))
        await h.settle()
        # The invitation carries the delegate's personal calendar link, and the link opens their feed.
        invitation = next(r for r in h.emails("invitation") if r.recipients == ("b.tokoev@kgz.example.org",))
        text = invitation.message.get_body(("plain",)).get_content()
        link = re.search(r"http://127\.0\.0\.1:\d+/calendar/[a-z2-7]{26}\.ics", text)
        assert link is not None, text
        async with aiohttp.ClientSession() as http, http.get(link.group(0)) as response:
            assert response.status == 200
            assert "UID:icmec-xx@icmec.plenary" in await response.text()
        # and, as the account is not bound yet, the deep link that binds it (the bot's name from getMe)
        deep = re.search(r"https://t\.me/plenary_test_bot\?start=(b[A-Za-z0-9_-]{32})", text)
        assert deep is not None, text
        assert await h.service.services.start_links.resolve(deep.group(1)) == "kgz-tokoev"
    finally:
        await h.service.stop()
    deployment = h.service.deployment
    assert deployment is not None
    invited = [deployment.delegates[d] for d in deployment.invitations["icmec-xx"]]
    by = kinds_by_recipient(h.emails())
    for delegate in invited:
        if delegate.id in BOUND:
            continue
        assert by[(delegate.email, "invitation")] == 1, delegate.id
        assert by[(delegate.email, "agenda")] == 1, delegate.id
    agenda_times = [
        h.clock.at_monotonic(r.at) for r in h.emails("agenda") if "icmec-xx" in r.message["X-Plenary-Session"]
    ]
    assert len(agenda_times) == len([d for d in invited if d.id not in BOUND])
    due = datetime(2022, 10, 12, 11, 0, tzinfo=UTC)
    assert all(due <= t <= due + timedelta(minutes=20) for t in agenda_times), agenda_times
    # A delegate who bound Telegram gets each notice there, once, instead of by e-mail; only the calendar
    # invitation goes by e-mail too, so that their calendar holds the session.
    asanov_telegram = [m for m in telegram.messages if m.chat_id == BOUND["kgz-asanov"]]
    assert len(asanov_telegram) == 2  # the XX invitation and its agenda
    assert ("t.asanov@kgz.example.org", "agenda") not in by
    [copy] = [r for r in h.emails("invitation") if r.recipients == ("t.asanov@kgz.example.org",)]
    assert copy.message["X-Plenary-Notice"] == "icmec-xx:invitation:kgz-asanov/email"
    assert _calendar(copy)["METHOD"] == "REQUEST"


def _edit(config_dir: Path, old: str, new: str) -> None:
    path = config_dir / "sessions" / "2022-10-19-xx.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")


def _calendar(received: Received) -> icalendar.Calendar:
    part = next(p for p in received.message.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") in ("REQUEST", "CANCEL")
    cal = icalendar.Calendar.from_ical(part.get_content())
    assert cal["METHOD"] == part.get_param("method")
    return cal


async def test_an_edit_sends_one_update_per_delegate_told_and_a_cancellation_cancels(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 5, tzinfo=UTC))
    try:
        await h.settle()
        invitations = [r for r in h.emails("invitation") if r.message["X-Plenary-Session"] == "icmec-xx"]
        told = {r.recipients[0] for r in invitations}
        assert len(told) == 20  # 20 invited; the two on Telegram get the calendar invitation by e-mail too
        first = _calendar(invitations[0]).walk("VEVENT")[0]
        assert int(first["SEQUENCE"]) == 0

        _edit(config_dir, "  start: 2022-10-19T14:00", "  start: 2022-10-19T15:00")
        assert await h.service.reload()
        await h.settle()
        updates = [r for r in h.emails("update") if r.message["X-Plenary-Session"] == "icmec-xx"]
        assert sorted(r.recipients[0] for r in updates) == sorted(told)
        event = _calendar(updates[0]).walk("VEVENT")[0]
        assert event["UID"] == first["UID"]
        assert int(event["SEQUENCE"]) == 1
        assert event.decoded("DTSTART").astimezone(UTC) == datetime(2022, 10, 19, 12, 0, tzinfo=UTC)
        text = updates[0].message.get_body(("plain",)).get_content()
        assert "15:00" in text
        assert "14:00" in text
        telegram_updates = [m for m in telegram.messages if "15:00" in (m.text or "")]
        assert {m.chat_id for m in telegram_updates} == set(BOUND.values())

        # A reload that changes nothing sends nothing.
        before = len(smtp.received) + len(telegram.messages)
        assert await h.service.reload()
        await h.settle()
        assert len(smtp.received) + len(telegram.messages) == before

        # An invalid edit is refused and the service keeps the last good configuration.
        _edit(config_dir, "  format: hybrid", "  format: hybird")
        assert not await h.service.reload()
        _edit(config_dir, "  format: hybird", "  format: hybrid\n  status: cancelled")
        assert await h.service.reload()
        await h.settle()
        cancellations = [r for r in h.emails("cancellation") if r.message["X-Plenary-Session"] == "icmec-xx"]
        assert sorted(r.recipients[0] for r in cancellations) == sorted(told)
        cancel = _calendar(cancellations[0])
        assert cancel["METHOD"] == "CANCEL"
        vevent = cancel.walk("VEVENT")[0]
        assert vevent["STATUS"] == "CANCELLED"
        assert vevent["UID"] == first["UID"]
        assert int(vevent["SEQUENCE"]) == 2
    finally:
        await h.service.stop()


async def test_an_smtp_outage_of_a_minute_loses_nothing(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    smtp.fail_for(2.0, "421 4.3.2 Service not available, closing transmission channel")
    # 30 times faster: two real seconds of outage are one simulated minute.
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 5, tzinfo=UTC), 30)
    try:
        await asyncio.sleep(2.5)
        await h.settle(limit=30)
    finally:
        await h.service.stop()
    deployment = h.service.deployment
    assert deployment is not None
    expected = {
        (deployment.delegates[d].email, s)
        for s in ("icmec-xx", "icmec-wg-2022-10", "icmec-council-2022-10")
        for d in deployment.invitations[s]
    }  # those bound to Telegram too: the calendar invitation goes by e-mail to everyone with an address
    got = Counter((r.recipients[0], r.message["X-Plenary-Session"]) for r in h.emails("invitation"))
    assert set(got) == expected
    assert all(count == 1 for count in got.values())
    counts = await h.store.outbox.counts()
    assert "failed" not in counts
    assert "pending" not in counts


async def test_after_downtime_useful_notices_go_out_and_stale_ones_are_recorded(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    # The service was down until half an hour before the XX meeting.
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, XX_START - timedelta(minutes=30))
    try:
        await h.settle()
    finally:
        await h.service.stop()
    by = kinds_by_recipient(h.emails())
    deployment = h.service.deployment
    assert deployment is not None
    for delegate_id in deployment.invitations["icmec-xx"]:
        if delegate_id in BOUND:
            continue
        email = deployment.delegates[delegate_id].email
        assert by[(email, "invitation")] == 1
        assert by[(email, "agenda")] == 1
        assert by[(email, "reminder")] == 1  # the one-hour reminder; the one-day reminder is stale
        assert by[(email, "deadline")] == 0  # accreditation closed the day before
    reminders = [r for r in h.emails("reminder") if r.message["X-Plenary-Session"] == "icmec-xx"]
    assert all("PT1H" in r.message["X-Plenary-Notice"] for r in reminders)
    counts = await h.store.outbox.counts()
    assert counts["skipped"] > 0
    skipped = await h.store.outbox.entry("icmec-xx:reminder:P1D@20221019T1100Z:kgz-tokoev")
    assert skipped is not None
    assert skipped.status.value == "skipped"


async def test_a_blocked_bot_falls_back_to_email(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    telegram.block_chat(BOUND["kgz-asanov"])
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 5, tzinfo=UTC))
    try:
        await h.settle()
    finally:
        await h.service.stop()
    assert kinds_by_recipient(h.emails())[("t.asanov@kgz.example.org", "invitation")] == 1
    assert not [m for m in telegram.messages if m.chat_id == BOUND["kgz-asanov"]]
    entry = await h.store.outbox.entry("icmec-xx:invitation:kgz-asanov")
    assert entry is not None
    assert entry.channel_used == "email"
    assert entry.attempts == 1
    # The other bound delegate still gets Telegram.
    assert [m for m in telegram.messages if m.chat_id == BOUND["rus-head"]]


async def test_removing_an_announced_session_is_refused_and_readiness_says_the_configuration_is_stale(
    database_url: str, config_dir: Path, smtp: SmtpServer, telegram: FakeTelegramApi, tmp_path: Path
) -> None:
    h = await start(database_url, config_dir, smtp, telegram, tmp_path, datetime(2022, 10, 5, tzinfo=UTC))
    try:
        await h.settle()
        sent = len(smtp.received)
        sessions = config_dir / "sessions"
        kept = {p: p.read_text(encoding="utf-8") for p in sessions.iterdir()}
        (sessions / "2022-10-19-xx.yaml").unlink()  # the XX meeting deleted, and what referred to it
        for name in ("2022-10-17-coordinating-council.yaml", "2022-10-17-working-group.yaml"):
            (sessions / name).write_text(kept[sessions / name].replace("  related: [icmec-xx]\n", ""), "utf-8")
        assert not await h.service.reload()
        assert h.service.deployment is not None
        assert "icmec-xx" in h.service.deployment.sessions  # the configuration in force stays
        readyz = f"http://127.0.0.1:{h.service.http_port}/readyz"
        async with aiohttp.ClientSession() as http, http.get(readyz) as r:
            assert r.status == 503
            body = await r.json()
        assert body["checks"]["configuration"] is False
        problem = str(body["problems"]["configuration"])
        assert "icmec-xx" in problem
        assert "status: cancelled" in problem
        await asyncio.sleep(0.5)
        assert len(smtp.received) == sent  # nothing was sent on the refused edit
        for path, text in kept.items():
            path.write_text(text, encoding="utf-8")
        _edit(config_dir, "  format: hybrid", "  format: hybrid\n  status: cancelled")
        assert await h.service.reload()
        await h.settle()
        async with aiohttp.ClientSession() as http, http.get(readyz) as r:
            assert r.status == 200
        cancellations = [r for r in h.emails("cancellation") if r.message["X-Plenary-Session"] == "icmec-xx"]
        assert len(cancellations) == 20  # the two on Telegram get the calendar's CANCEL by e-mail too
    finally:
        await h.service.stop()
