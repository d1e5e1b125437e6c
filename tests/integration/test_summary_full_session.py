"""The XX meeting from its invitation to its summary, through the doubles, on SQLite and PostgreSQL: the service as
``app.bootstrap`` builds it behind its real HTTP server, the real bot (python-telegram-bot polling the Bot API
double), aiosmtpd, and a BigBlueButton double whose signed webhooks reach Plenary. The meeting is made hybrid on
that double, and the Kazakh head reads English.

Invitations go out; three delegates answer "in person" with the invitation's buttons; two of them check in at the
hall in the bot (the third never comes: an answer is not attendance); three join remotely by the links of their
e-mails (one drops and comes back), a guest dials in; the secretariat records a ``/decision``; the meeting ends.
Two hours later the summary goes out by itself. What its readers get is checked: the JSON kept in the archive,
the photo with its caption in Telegram (a bound delegate, the secretariat's chats), the e-mails in Russian and
English with the chart inline, the PDF annex read back with pypdf, the press's variant naming nobody and linking
nowhere, and the hash recomputed from the stored attendance events."""

from __future__ import annotations

import dataclasses
import email.message
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from pypdf import PdfReader

from app.bootstrap import Services
from domain import checkin
from domain.deployment import Deployment
from domain.model import Session
from domain.ports import Channel
from domain.records import RsvpAnswer, RsvpSource
from domain.summary import events_digest
from integrations.email.channel import SmtpChannel
from integrations.telegram.channel import TelegramChannel
from storage.repositories import Store
from tests.doubles.bigbluebutton import Attendee, BigBlueButtonServer, bigbluebutton_server
from tests.doubles.channels import FakeClock
from tests.doubles.smtp import SmtpServer, smtp_server
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.integration.bot_setup import SECRET, running
from tests.integration.test_bot_commands import ADMIN, ASANOV, bind, said
from tests.integration.test_summary_delivery import parts
from tests.integration.video_setup import service

XX = "icmec-xx"
TITLE = "XX заседание МКВЭС ОДКБ"
BBB_SECRET = "xx-shared-secret-for-the-double"
VOLKOV = TgUser(8001, "Игорь", language_code="ru")
"""rus-head, bound: answers "in person" and checks in by the hall's QR code."""
KOVALEV = TgUser(8002, "Сергей", language_code="ru")
"""blr-head, bound: answers "in person" and checks in with /checkin."""
BOUND = {"rus-head": VOLKOV, "blr-head": KOVALEV, "kgz-asanov": ASANOV}
"""Asanov answers "in person" too, and never comes."""
DECISION = "Утвердить план мероприятий на 2023 год"
PNG = b"\x89PNG\r\n\x1a\n"
EMAILS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "deputy@rus.example.org": (
        "ru",
        f"Итоги: {TITLE}",
        (
            "Представлено государств-членов: 4 из 6.",
            "лично: 2; дистанционно: 3; кратковременно: 0; отсутствуют: 15",
            "| Ерлан Сапаров | дистанционно | 180 |",
            "| Талант Асанов | отсутствует |",
            "имеется с 19 октября 2022, 14:30",
            f"Решено: {DECISION}",
        ),
    ),
    "head@kaz.example.org": (
        "en",
        "Summary: 20th meeting of the ICMEC",
        (
            "Member states represented: 4 of 6.",
            "in person: 2; remotely: 3; joined briefly: 0; absent: 15",
            "| Yerlan Saparov | remotely | 180 |",
            "| Elena Morozova | remotely | 175 |",
            "| Talant Asanov | absent |",
            "met from 19 October 2022, 14:30",
            f"Decided: {DECISION}",
        ),
    ),
}
"""A Russian and an English reader's summary e-mail: its language, subject, and words of its plain text."""
ANNEXES: dict[str, tuple[str, ...]] = {
    "en": (
        "Member states represented: 4 of 6.",
        "in person: 2; remotely: 3; joined briefly: 0; absent: 15",
        "Yerlan Saparov remotely 180",
        "Elena Morozova remotely 175",
        "Karina Sahakyan remotely 60",
        "Igor Volkov in person",
        "Asanov absent",  # "T alant": pypdf reads the kerning as a space
        "Kyrgyz Republic — not represented",
        "met from 19 October 2022, 14:30",
    ),
    "ru": (
        "Представлено государств-членов: 4 из 6.",
        "лично: 2; дистанционно: 3; кратковременно: 0; отсутствуют: 15",
        "Ерлан Сапаров дистанционно 180",
        "Елена Морозова дистанционно 175",
        "Кыргызская Республика — не представлено",
        "имеется с 19 октября 2022, 14:30",
    ),
}
"""What the PDF annex in each of the commission's languages says, read back as text."""


def on_the_double(deployment: Deployment, bbb: BigBlueButtonServer) -> Deployment:
    """The example's XX meeting alone, its video on the BigBlueButton double; kaz-head reads English."""
    values = deployment.sessions[XX].model_dump()
    values["video"] = {"provider": "bigbluebutton", "url": f"{bbb.base_url}/bigbluebutton/", "secret": BBB_SECRET}
    english = deployment.delegates["kaz-head"].model_copy(update={"language": "en"})
    return dataclasses.replace(
        deployment,
        sessions={XX: Session.model_validate(values)},
        invitations={XX: deployment.invitations[XX]},
        delegates={**deployment.delegates, "kaz-head": english},
    )


async def deliver(services: Services) -> None:
    """The timeline queues what is due now; the dispatcher sends it all."""
    await services.timeline.sync()
    while await services.dispatcher.drain_once():
        pass


def emails(smtp: SmtpServer, kind: str) -> dict[str, email.message.EmailMessage]:
    """The e-mails of a kind about XX, by recipient."""
    found = {}
    for received in smtp.received:
        message = received.message
        if message["X-Plenary-Kind"] == kind and message["X-Plenary-Session"] == XX:
            [recipient] = received.recipients
            assert recipient not in found, f"{recipient} received two {kind} e-mails"
            found[recipient] = message
    return found


def flat(text: str) -> str:
    """Text with its line breaks and runs of spaces made single spaces (a PDF's wrapped cells)."""
    return " ".join(text.split())


@pytest.mark.usefixtures("weasyprint_ready")
async def test_a_full_session_through_the_doubles_ends_in_the_summary_its_readers_receive(
    store: Store, deployment: Deployment, tmp_path: Path
) -> None:
    clock = FakeClock(datetime(2022, 10, 12, 10, 0, tzinfo=UTC))  # a week before; the invitation is late
    start = deployment.sessions[XX].starts_at  # 19 October, 14:00 Moscow (11:00 UTC)
    with smtp_server() as smtp:
        async with (
            FakeBotApi() as api,
            bigbluebutton_server(BBB_SECRET, clock=lambda: int(clock.now().timestamp() * 1000)) as bbb,
        ):
            chosen = on_the_double(deployment, bbb)
            channels: dict[str, Channel] = {
                "email": SmtpChannel(smtp.host, smtp.port, "secretariat@icmec.example.org", "Секретариат", tls="none"),
                "telegram": TelegramChannel(api.token, api.base_url),
            }
            for channel in channels.values():
                await channel.start()
            for delegate_id, user in BOUND.items():
                await bind(store, delegate_id, user, clock)
            try:
                async with (
                    service(store, chosen, clock=clock, channels=channels, data_dir=tmp_path) as (services, public, _),
                    running(api, services.conversation),
                    aiohttp.ClientSession() as client,
                ):
                    await meeting(services, public, api, smtp, bbb, client, clock, start)
                    clock.current = start + timedelta(hours=5, minutes=1)  # two hours after the end
                    await deliver(services)
                    stored = await store.attendance.for_session(XX)
                    verified = await services.summaries.verify(XX)
                    services.composer.close()
            finally:
                for channel in channels.values():
                    await channel.close()
            photos = {m.chat_id: m for m in api.photos}
            assert len(photos) == len(api.photos)  # one photo to each chat, no more

        summary_emails = emails(smtp, "summary")

    archive = tmp_path / "summaries" / XX
    summary = json.loads((archive / "summary.json").read_text())
    published = await store.summaries.version(XX, 1)
    assert published is not None
    assert published[0].model_dump(mode="json") == summary  # the archive keeps the version published

    # The attendance, from the facts only: answering "in person" is not being there.
    assert summary["totals"] == {
        "invited": 20, "in_person": 2, "remote": 3, "briefly": 0, "absent": 15, "substitutes": 0
    }  # fmt: skip
    by_state = {
        s["code"]: (s["represented"], s["counts"]["in_person"], s["counts"]["remote"], s["counts"]["absent"])
        for s in summary["states"]
    }
    assert by_state == {
        "ARM": (True, 0, 1, 2),
        "BLR": (True, 1, 0, 2),
        "KAZ": (True, 0, 1, 2),
        "KGZ": (False, 0, 0, 5),
        "RUS": (True, 1, 1, 1),
        "TJK": (False, 0, 0, 3),
    }
    lines = {d["id"]: d for s in summary["states"] for a in s["agencies"] for d in a["delegates"]}
    took_part = {
        who: (line["presence"], line["minutes"]) for who, line in lines.items() if line["presence"] != "absent"
    }
    assert took_part == {
        "rus-head": ("in_person", 0.0),
        "blr-head": ("in_person", 0.0),
        "kaz-head": ("remote", 180.0),
        "rus-deputy": ("remote", 175.0),  # 40 minutes, a dropped connection, then 135 more
        "arm-deputy": ("remote", 60.0),
    }
    assert lines["rus-head"]["checked_in_at"] == "2022-10-19T10:40:00Z"
    assert lines["kgz-asanov"]["presence"] == "absent"  # answered "in person", never checked in nor joined
    assert summary["guests"] == 1  # the dial-in, counted for no state
    assert summary["represented"] == 4
    assert summary["quorum"] == {
        "rule": "majority", "required": 4, "states": 6, "represented": 4, "met": True,
        "first_met_at": "2022-10-19T11:30:00Z",  # when Armenia joined, the fourth state
    }  # fmt: skip
    agenda = {item["number"]: item for item in summary["agenda"]}
    assert agenda[2]["decisions"] == [{"*": DECISION}]  # the chat's /decision, under its item
    assert [d["ru"] for d in agenda[1]["decisions"]] == [
        "Принять к сведению информацию о ходе выполнения решений предыдущего заседания"
    ]  # and the YAML's outcomes under theirs
    assert [len(agenda[n]["decisions"]) for n in (3, 5)] == [0, 0]

    # The hash, recomputed from the events as stored, is the summary's; `--verify` says the same.
    assert summary["events"] == len(stored) == 13
    assert summary["events_sha256"] == events_digest(stored)
    assert verified == (True, summary["events_sha256"], summary["events_sha256"])

    # Telegram: the chart with the summary in short, to a bound delegate and to the secretariat's chats.
    caption_words = (
        f"Итоги: {TITLE}",
        "Представлено государств-членов: 4 из 6.",
        "Приглашено участников: 20; лично: 2; дистанционно: 3; кратковременно: 0; отсутствуют: 15; замены: 0.",
        "имеется с 19 октября 2022, 14:30",
        "✅ Российская Федерация: 2/3",
        "— Кыргызская Республика: 0/5",
    )
    readers = [VOLKOV.id, ASANOV.id, *deployment.commission.secretariat.telegram_admins]
    assert set(photos) == {KOVALEV.id, *readers}
    for chat in readers:
        photo = photos[chat]
        assert (photo.photo or b"")[:8] == PNG
        assert photo.caption is not None
        assert photo.caption.startswith(caption_words[0])
        for line in caption_words:
            assert line in photo.caption, (chat, line)

    # E-mail: every invited delegate not bound in Telegram, in their language, the chart inline.
    invited = {chosen.delegates[d].email for d in chosen.invitations[XX]} - {None}
    bound = {chosen.delegates[d].email for d in BOUND}
    assert set(summary_emails) == invited - bound | {"press@icmec.example.org"}
    for address, (language, subject, words) in EMAILS.items():
        message = summary_emails[address]
        assert (str(message["Subject"]), message["Content-Language"]) == (subject, language)
        found = parts(message)
        assert "multipart/related" in found
        assert 'src="cid:chart"' in found["text/html"].get_content()
        assert found["image/png"]["Content-ID"] == "<chart>"
        assert found["image/png"].get_content()[:8] == PNG
        text = found["text/plain"].get_content()
        for expected in (*words, summary["events_sha256"]):
            assert expected in text, (address, expected)

    # The archive: every form in both of the commission's languages; the PDF annex shows the table's numbers.
    names = {p.name for p in archive.iterdir() if not p.name.startswith(".")}
    for language in ("ru", "en"):
        assert {f"summary.{language}.md", f"summary.{language}.html", f"annex.{language}.pdf"} <= names
    assert {"summary.json", "public.json"} <= names
    for language, words in ANNEXES.items():
        annex = archive / f"annex.{language}.pdf"
        assert annex.read_bytes()[:5] == b"%PDF-"
        text = flat("\n".join(page.extract_text() for page in PdfReader(annex).pages))
        for expected in (*words, summary["events_sha256"]):
            assert expected in text, (language, expected)
    assert "Yerlan Saparov" in (archive / "summary.en.md").read_text()
    assert "Ерлан Сапаров" in (archive / "summary.ru.html").read_text()

    # The press's variant: the same tallies and quorum, no name, no address, no link.
    press = json.loads((archive / "public.json").read_text())
    assert (press["public"], press["totals"], press["quorum"]) == (True, summary["totals"], summary["quorum"])
    assert [s["counts"] for s in press["states"]] == [s["counts"] for s in summary["states"]]
    assert press["agenda"][1]["decisions"] == [{"*": DECISION}]
    press_email = parts(summary_emails["press@icmec.example.org"])
    texts = {
        "public.json": (archive / "public.json").read_text(),
        "public.ru.md": (archive / "public.ru.md").read_text(),
        "press e-mail": press_email["text/plain"].get_content(),
        "press e-mail (html)": press_email["text/html"].get_content().replace("http://www.w3.org", ""),
    }
    people = {name for d in chosen.delegates.values() for name in d.name.values()}
    people |= {name for c in deployment.commission.secretariat.contacts for name in (c.name or {}).values()}
    people.add("Someone at a hotel")
    for what, text in texts.items():
        assert "Республика Казахстан" in text or "Republic of Kazakhstan" in text, what
        for name in people:
            assert name not in text, (what, name)
        assert not re.search(r"[\w.+-]+@[\w-]+\.[\w.]+", text), what  # no e-mail address
        assert not re.search(r"https?:|webcal:|www\.|/join/", text), what  # no link


async def meeting(
    services: Services,
    public: str,
    api: FakeBotApi,
    smtp: SmtpServer,
    bbb: BigBlueButtonServer,
    client: aiohttp.ClientSession,
    clock: FakeClock,
    start: datetime,
) -> None:
    """From the invitations to the end of the meeting, as its people live it."""
    say = services.conversation.sayer("ru")
    await services.timeline.apply(services.configuration.require(), services.configuration.put)
    await deliver(services)
    assert len(emails(smtp, "invitation")) == 20  # the calendar's invitation to everyone; the bound in Telegram too

    # Three answer "in person" with a tap on their invitation.
    for user in BOUND.values():
        [invitation] = [m for m in api.sent_to(user.id) if (m.text or "").startswith(f"Приглашение: {TITLE}")]
        api.push(api.callback_update(user, invitation, invitation.button(say("answer.in_person"))["callback_data"]))
    await api.wait_for(lambda: len(api.callback_answers) == len(BOUND), within=5)
    assert [a.text for a in api.callback_answers] == [say("answered.recorded", answer=say("answer.in_person"))] * 3
    for delegate_id in BOUND:
        answer = await services.answers.current(XX, delegate_id)
        assert answer is not None
        assert (answer.answer, answer.source) == (RsvpAnswer.IN_PERSON, RsvpSource.TELEGRAM)

    # Twenty minutes before the start, two of them check in at the hall: the QR code, and the code typed.
    clock.current = start - timedelta(minutes=20)
    await deliver(services)
    code = checkin.current(SECRET, XX, clock.now()).code
    told = {user.id: len(api.sent_to(user.id)) for user in (VOLKOV, KOVALEV)}
    api.push(api.command_update(VOLKOV, f"/start c{code}"))
    api.push(api.command_update(KOVALEV, f"/checkin {code}"))
    for user in (VOLKOV, KOVALEV):
        assert (await said(api, user, told[user.id] + 1))[-1].text == say("checkin.checked_in", title=TITLE)

    # The join links go out; the hook is registered with the platform.
    clock.current = start - timedelta(minutes=5)
    await deliver(services)
    await services.video.keep_up(public)
    links = emails(smtp, "start")

    async def join(delegate_id: str) -> Attendee:
        """The delegate opens the link of their e-mail: Plenary sends them into the meeting."""
        address = services.configuration.require().delegates[delegate_id].email
        assert address is not None
        text = links[address].get_body(("plain",)).get_content()  # type: ignore[union-attr]
        found = re.search(re.escape(public) + r"/join/[\w-]+\.[\w-]+", text)
        assert found is not None, text
        async with client.get(found.group(0), allow_redirects=False) as response:
            assert response.status == 302, await response.text()
            location = response.headers["Location"]
        return await bbb.open_join_url(location)

    async def at(minutes: int) -> None:
        await bbb.settle()
        await services.attendance.settled()
        clock.current = start + timedelta(minutes=minutes)

    await at(0)
    on_call = {"kaz-head": await join("kaz-head"), "rus-deputy": await join("rus-deputy")}
    await at(5)
    guest = await bbb.join_guest(XX, "Someone at a hotel")
    await at(20)
    await bbb.leave(guest)
    await at(30)
    on_call["arm-deputy"] = await join("arm-deputy")  # the fourth state: the quorum is met
    await at(40)
    await bbb.leave(on_call.pop("rus-deputy"))  # the connection drops
    await at(45)
    on_call["rus-deputy"] = await join("rus-deputy")
    await at(60)
    reached = say("secretariat.quorum.met", title=TITLE, represented="4", states="6", required="4")
    await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == reached], within=5)
    api.push(api.command_update(ADMIN, f"/decision 2 {DECISION}"))
    item = services.configuration.require().sessions[XX].agenda[1].title["ru"]
    recorded = say("decision.recorded", number="2", item=item, title=TITLE)
    await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == recorded], within=5)
    await at(90)
    await bbb.leave(on_call.pop("arm-deputy"))
    await at(180)
    await bbb.end_meeting(XX)  # the chair closes the call: everyone still on it leaves
    await at(180)
    assert {d.status for d in bbb.deliveries} == {200}
