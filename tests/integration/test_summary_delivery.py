"""The XX meeting ends and its summary goes out with nobody touching it: the timeline finds the summary notices
due two hours after the end, the first one publishes the summary (composed from the facts then, kept in the
archive), and every invited delegate receives the same published summary in their language: by e-mail
(aiosmtpd) with the chart inline, in Telegram (the Bot API double) as the chart with the summary in short.
The service as ``app.bootstrap`` builds it, over the real store on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
import dataclasses
import email.message
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.bootstrap import Services, bootstrap
from config.settings import Settings
from domain.deployment import Deployment
from domain.model import SummaryPolicy
from domain.ports import Channel
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource, TelegramBinding
from domain.summary import events_digest
from integrations.email.channel import SmtpChannel
from integrations.telegram.channel import TelegramChannel
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_bot_api import FakeBotApi
from tests.integration.bot_setup import SECRET

CHAT = 9001


def facts(deployment: Deployment) -> list[AttendanceEvent]:
    xx = deployment.sessions["icmec-xx"]

    def fact(who: str, source: AttendanceSource, kind: AttendanceKind, minutes: int) -> AttendanceEvent:
        video = source is AttendanceSource.VIDEO
        return AttendanceEvent(
            session_id=xx.id,
            delegate_id=who,
            state=deployment.delegates[who].state,
            source=source,
            kind=kind,
            occurred_at=xx.starts_at + timedelta(minutes=minutes),
            external_id=f"{who}:{kind}:{minutes}" if video else None,
            participant_id=f"p-{who}" if video else None,
        )

    venue, video = AttendanceSource.VENUE, AttendanceSource.VIDEO
    return [
        fact("rus-head", venue, AttendanceKind.CHECK_IN, -15),
        fact("blr-head", venue, AttendanceKind.CHECK_IN, -2),
        fact("kgz-asanov", video, AttendanceKind.JOIN, 4),
        fact("kgz-asanov", video, AttendanceKind.LEAVE, 64),
        fact("kaz-head", video, AttendanceKind.JOIN, 0),
        fact("arm-deputy", video, AttendanceKind.JOIN, 30),
    ]


@contextlib.asynccontextmanager
async def delivering(
    store: Store, clock: FakeClock, data: Path
) -> AsyncIterator[tuple[Services, SmtpServer, FakeBotApi]]:
    """The service as bootstrap builds it, sending by e-mail to aiosmtpd and in Telegram to the Bot API double."""
    with smtp_server() as smtp:
        async with FakeBotApi() as api:
            channels: dict[str, Channel] = {
                "email": SmtpChannel(smtp.host, smtp.port, "secretariat@icmec.example.org", "Секретариат", tls="none"),
                "telegram": TelegramChannel(api.token, api.base_url),
            }
            for channel in channels.values():
                await channel.start()
            services = bootstrap(Settings(data_dir=data), clock, store=store, channels=channels, secret=SECRET)
            try:
                yield services, smtp, api
            finally:
                services.composer.close()
                for channel in channels.values():
                    await channel.close()


async def drain(services: Services) -> None:
    """Send everything the outbox holds that is due."""
    while await services.dispatcher.drain_once():
        pass


def parts(message: email.message.EmailMessage) -> dict[str, email.message.EmailMessage]:
    return {part.get_content_type(): part for part in message.walk()}  # type: ignore[misc]


@pytest.mark.usefixtures("weasyprint_ready")
async def test_the_ended_session_s_summary_reaches_every_invited_delegate_in_their_language(
    store: Store, deployment: Deployment, tmp_path: Path
) -> None:
    clock = FakeClock(datetime(2022, 10, 19, 16, 0, tzinfo=UTC))  # the meeting ended at 14:00 UTC (17:00 Moscow)
    recorded = facts(deployment)
    async with delivering(store, clock, tmp_path) as (services, smtp, api):
        await store.bindings.bind(
            TelegramBinding(delegate_id="rus-mfa", telegram_user_id=CHAT, chat_id=CHAT, bound_at=clock.now())
        )
        for fact in recorded:
            assert await services.attendance.record(fact)
        await services.timeline.apply(deployment, services.configuration.put)
        await drain(services)
        first = len(smtp.received)

        # Published once: asked again with nothing changed, nothing is sent.
        assert await services.summaries.reissue("icmec-xx") is None
        clock.advance(600)
        await services.attendance.correct("icmec-xx", "kgz-asanov", "absent", "cli:secretary", "left at once")
        corrected = await services.summaries.reissue("icmec-xx")
        assert corrected is not None
        await drain(services)
        assert await services.summaries.reissue("icmec-xx") is None  # and the correction is not sent twice
        await drain(services)
        received = smtp.received[:first]
        again = smtp.received[first:]

    invited = deployment.invitations["icmec-xx"]
    summaries = {
        r.recipients[0]: r.message
        for r in received
        if r.message["X-Plenary-Kind"] == "summary"
        and r.message["X-Plenary-Session"] == "icmec-xx"
        and r.recipients != ("press@icmec.example.org",)
    }
    with_email = {deployment.delegates[d].email for d in invited if deployment.delegates[d].email} - {None}
    assert set(summaries) == with_email - {deployment.delegates["rus-mfa"].email}  # rus-mfa reads Telegram

    published = await store.summaries.version("icmec-xx", 1)
    assert published is not None
    summary, _ = published
    assert summary.events_sha256 == events_digest(recorded)
    assert (summary.totals.in_person, summary.totals.remote, summary.represented) == (2, 3, 5)

    russian = summaries[deployment.delegates["kgz-asanov"].email]
    armenian = summaries[deployment.delegates["arm-deputy"].email]
    assert str(russian["Subject"]) == "Итоги: XX заседание МКВЭС ОДКБ"
    assert str(armenian["Subject"]).startswith("Արդյունքներ")
    assert russian["Content-Language"] == "ru"
    assert armenian["Content-Language"] == "hy"
    for message, words in ((russian, "Талант Асанов"), (armenian, "Талант Асанов")):
        found = parts(message)
        assert "multipart/related" in found
        html = found["text/html"].get_content()
        assert 'src="cid:chart"' in html
        assert words in html
        image = found["image/png"]
        assert image["Content-ID"] == "<chart>"
        assert image.get_content()[:8] == b"\x89PNG\r\n\x1a\n"
        text = found["text/plain"].get_content()
        assert words in text
        assert summary.events_sha256 in text
    assert "| 60 |" in parts(armenian)["text/plain"].get_content()  # Asanov's minutes on the call
    assert "## Մասնակիցների ներկայություն" in parts(armenian)["text/plain"].get_content()  # in Armenian words

    [photo, _] = [m for m in api.photos if m.chat_id == CHAT]
    assert photo.photo is not None
    assert photo.photo[:8] == b"\x89PNG\r\n\x1a\n"
    assert photo.caption is not None
    assert photo.caption.startswith("Итоги: XX заседание МКВЭС ОДКБ")
    assert "Представлено государств-членов: 5 из 6." in photo.caption
    assert "имеется с 19 октября 2022, 14:04" in photo.caption  # the quorum, from Asanov's join at 14:04
    assert "— Республика Таджикистан: 0/3" in photo.caption

    # Posted to the secretariat's accounts (no chats named), and the public variant to the press secretary.
    admins = deployment.commission.secretariat.telegram_admins
    for admin in admins:
        first_post, corrected_post = [m for m in api.photos if m.chat_id == admin and "XX" in (m.caption or "")]
        assert first_post.caption is not None
        assert first_post.caption.startswith("Итоги: XX заседание МКВЭС ОДКБ")
        assert corrected_post.caption is not None
        assert corrected_post.caption.startswith("Исправленные итоги: XX заседание МКВЭС ОДКБ")
    press = [
        r.message
        for r in received
        if r.recipients == ("press@icmec.example.org",) and r.message["X-Plenary-Session"] == "icmec-xx"
    ]
    assert len(press) == 1
    text = parts(press[0])["text/plain"].get_content()
    assert "Республика Армения" in text
    for delegate in deployment.delegates.values():
        assert delegate.name["ru"] not in text
    assert "http" not in parts(press[0])["text/html"].get_content().replace("http://www.w3.org", "")

    archive = tmp_path / "summaries" / "icmec-xx"
    assert (archive / "annex.ru.pdf").read_bytes()[:5] == b"%PDF-"
    assert (archive / "summary.json").is_file()
    assert (archive / "public.en.md").is_file()

    version, correction = corrected
    assert version == 2
    assert [(d.kind, d.subject, d.before, d.after) for d in correction.differences] == [
        ("presence", "kgz-asanov", "remote:60", "absent"),
        ("represented", "KGZ", "True", "False"),  # he was his state's only one there; the quorum still holds
    ]
    resent = {
        r.recipients[0]: r.message
        for r in again
        if r.message["X-Plenary-Session"] == "icmec-xx" and r.recipients != ("press@icmec.example.org",)
    }
    assert set(resent) == set(summaries)  # the same readers, once each
    note = parts(resent[deployment.delegates["kgz-asanov"].email])["text/plain"].get_content()
    assert str(resent[deployment.delegates["kgz-asanov"].email]["Subject"]).endswith("XX заседание МКВЭС ОДКБ")
    assert "Талант Асанов:" in note
    assert "→" in note
    latest = await store.summaries.latest("icmec-xx")
    assert latest is not None
    assert latest[0] == 2
    assert latest[1].events_sha256 != summary.events_sha256  # the correction is one more fact
    [photo_v2] = [m for m in api.photos if m.chat_id == CHAT][1:]
    assert photo_v2.caption is not None
    assert "Талант Асанов" in photo_v2.caption


async def test_each_chat_the_yaml_names_gets_the_summary_in_its_own_language(
    store: Store, deployment: Deployment, tmp_path: Path
) -> None:
    commission = deployment.commission
    chats = SummaryPolicy.model_validate({"chats": [-1001234567890, {"id": -1009876543210, "language": "en"}]})
    chosen = dataclasses.replace(deployment, commission=commission.model_copy(update={"summaries": chats}))
    clock = FakeClock(datetime(2022, 10, 19, 16, 0, tzinfo=UTC))
    async with delivering(store, clock, tmp_path) as (services, _, api):
        for fact in facts(chosen):
            assert await services.attendance.record(fact)
        await services.timeline.apply(chosen, services.configuration.put)
        await drain(services)
    posts = {m.chat_id: m.caption or "" for m in api.photos if "XX" in (m.caption or "") or "20th" in (m.caption or "")}
    assert set(posts) == {-1001234567890, -1009876543210}  # the chats named, not the secretariat's accounts
    assert posts[-1001234567890].startswith("Итоги: XX заседание МКВЭС ОДКБ")
    assert posts[-1009876543210].startswith("Summary: 20th meeting of the ICMEC")
