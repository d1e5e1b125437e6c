"""The bot's commands as delegates, heads and the secretariat use them: the real python-telegram-bot
Application by long polling against the Bot API double, over the real store on SQLite and PostgreSQL, the
service's parts built as the service builds them. Russian and English readers; the clock moves when told."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain import checkin
from domain.callbacks import sign
from domain.deployment import Deployment
from domain.notices import NoticeKind
from domain.records import RsvpAnswer, RsvpSource
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.telegram_bot_api import BotMessage, FakeBotApi, TgUser
from tests.integration.bot_setup import SECRET, bot_services, running

ASANOV = TgUser(7001, "Нурлан", username="asanov_kg", language_code="ru")
"""kgz-asanov: head of the Kyrgyz delegation, reads Russian; invited to the XX meeting."""
EXPERT = TgUser(7002, "Ivan", language_code="en")
"""rus-expert reads English; invited to the October working group only."""
MAMYTOVA = TgUser(7003, "Айгуль", language_code="ru")
"""kgz-mamytova, the Kyrgyz deputy: a member of Asanov's delegation at the XX meeting."""
ADMIN = TgUser(100000001, "Secretariat", language_code="ru")
STRANGER = TgUser(7999, "Curious", language_code="en")


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as api:
        yield api


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2022, 10, 10, 9, 0, tzinfo=UTC))


async def bind(store: Store, delegate_id: str, user: TgUser, clock: FakeClock) -> None:
    from domain.records import TelegramBinding

    binding = TelegramBinding(delegate_id=delegate_id, telegram_user_id=user.id, chat_id=user.id, bound_at=clock.now())
    await store.bindings.bind(binding)


async def said(api: FakeBotApi, user: TgUser, count: int) -> list[BotMessage]:
    await api.wait_for(lambda: len(api.sent_to(user.id)) >= count, within=5)
    return api.sent_to(user.id)


async def test_a_delegate_answers_changes_and_is_stopped_by_the_cut_off(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "rus-expert", EXPERT, clock)
    say = talk.sayer("en")
    async with running(api, talk):
        api.push(api.command_update(EXPERT, "/rsvp"))
        [card] = await said(api, EXPERT, 1)
        assert (card.text or "").startswith("Working Group on Military-Economic Cooperation\n17 October 2022")
        assert say("card.no_answer") in (card.text or "")
        labels = [b["text"] for b in card.buttons]
        assert labels[:4] == [say(f"answer.{a}") for a in ("in_person", "remote", "not_attending", "substitute")]

        api.push(api.callback_update(EXPERT, card, card.button(say("answer.remote"))["callback_data"]))
        await api.wait_for(lambda: len(api.callback_answers) == 1, within=5)
        assert api.callback_answers[0].text == say("answered.recorded", answer=say("answer.remote"))
        await api.wait_for(lambda: api.message(EXPERT.id, card.message_id).history, within=5)
        now = api.message(EXPERT.id, card.message_id)  # its own message shows the answer recorded
        assert [b["text"] for b in now.buttons if b["text"].startswith("✓")] == ["✓ " + say("answer.remote")]

        # The same answer again: not an error, nothing recorded, the keyboard as it was.
        api.push(api.callback_update(EXPERT, now, now.button("✓ " + say("answer.remote"))["callback_data"]))
        await api.wait_for(lambda: len(api.callback_answers) == 2, within=5)
        assert api.callback_answers[1].text == say("answered.unchanged", answer=say("answer.remote"))

        now = api.message(EXPERT.id, card.message_id)
        api.push(api.callback_update(EXPERT, now, now.button(say("answer.in_person"))["callback_data"]))
        await api.wait_for(lambda: len(api.callback_answers) == 3, within=5)
        history = await store.answers.history("icmec-wg-2022-10", "rus-expert")
        assert [(r.answer, r.source) for r in history] == [
            (RsvpAnswer.REMOTE, RsvpSource.TELEGRAM),
            (RsvpAnswer.IN_PERSON, RsvpSource.TELEGRAM),
        ]

        # Past the start (the default cut-off) an answer is refused, and the record stays.
        clock.current = deployment.sessions["icmec-wg-2022-10"].starts_at + timedelta(minutes=1)
        now = api.message(EXPERT.id, card.message_id)
        api.push(api.callback_update(EXPERT, now, now.button(say("answer.not_attending"))["callback_data"]))
        await api.wait_for(lambda: len(api.callback_answers) == 4, within=5)
        assert (api.callback_answers[3].text or "").startswith("Answers to this invitation closed on")
    assert (await services.answers.current("icmec-wg-2022-10", "rus-expert")).answer is RsvpAnswer.IN_PERSON  # type: ignore[union-attr]


async def test_sessions_agenda_join_and_calendar_in_russian(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    say = talk.sayer("ru")
    async with running(api, talk):
        api.push(api.command_update(ASANOV, "/sessions"))
        [card] = await said(api, ASANOV, 1)
        assert (card.text or "").startswith("XX заседание МКВЭС ОДКБ")

        api.push(api.command_update(ASANOV, "/agenda"))
        agenda = (await said(api, ASANOV, 2))[1].text or ""
        assert agenda.startswith("Повестка дня: XX заседание МКВЭС ОДКБ")

        # A week before: the link is not given yet, and the bot says from when it is.
        api.push(api.callback_update(ASANOV, card, card.button(say("button.join"))["callback_data"]))
        later = (await said(api, ASANOV, 3))[2].text or ""
        assert later.startswith(say("join.later", when="").split("%")[0][:20])
        assert "19 октября 2022" in later
        assert "13:30" in later

        clock.current = deployment.sessions["icmec-xx"].starts_at - timedelta(minutes=10)
        api.push(api.command_update(ASANOV, "/join"))
        link = (await said(api, ASANOV, 4))[3].text or ""
        assert deployment.sessions["icmec-xx"].video is not None
        assert deployment.sessions["icmec-xx"].video.url in link

        api.push(api.command_update(ASANOV, "/calendar"))
        feed = (await said(api, ASANOV, 5))[4].text or ""
        assert "/calendar/" in feed
        assert "webcal://" in feed


async def test_check_in_with_a_valid_an_expired_a_foreign_and_a_wrong_code(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    await bind(store, "rus-expert", EXPERT, clock)
    xx = deployment.sessions["icmec-xx"]
    clock.current = xx.starts_at - timedelta(minutes=20)
    shown = checkin.current(SECRET, "icmec-xx", clock.now())
    async with running(api, talk):
        # Scanned in the hall: the QR code is a deep link, /start c<code>.
        api.push(api.command_update(ASANOV, f"/start c{shown.code}"))
        [done] = await said(api, ASANOV, 1)
        assert done.text == talk.sayer("ru")("checkin.checked_in", title="XX заседание МКВЭС ОДКБ")
        events = await store.attendance.for_session("icmec-xx")
        assert [(e.delegate_id, e.kind.value, e.source.value) for e in events] == [("kgz-asanov", "check_in", "venue")]

        api.push(api.command_update(ASANOV, f"/checkin {shown.code}"))
        assert (await said(api, ASANOV, 2))[1].text == talk.sayer("ru")(
            "checkin.already", title="XX заседание МКВЭС ОДКБ"
        )

        # A delegate not invited to the XX meeting, with its code: refused with the reason.
        api.push(api.command_update(EXPERT, f"/checkin {shown.code}"))
        [foreign] = await said(api, EXPERT, 1)
        assert foreign.text == talk.sayer("en")("checkin.not_invited", title="20th meeting of the ICMEC")

        clock.advance(15 * 60)  # the code on the screen has changed twice since
        api.push(api.command_update(EXPERT, f"/checkin {shown.code}"))
        api.push(api.command_update(EXPERT, "/checkin 1234 5678"))
        texts = [m.text for m in (await said(api, EXPERT, 3))[1:]]
    say = talk.sayer("en")
    assert texts == [say("checkin.not_invited", title="20th meeting of the ICMEC"), say("checkin.unknown")]
    assert len(await store.attendance.for_session("icmec-xx")) == 1


async def test_an_expired_code_and_a_closed_window_are_refused_with_the_reason(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    xx = deployment.sessions["icmec-xx"]
    clock.current = xx.starts_at - timedelta(hours=3)  # before check-in opens (1 h before the start)
    early = checkin.current(SECRET, "icmec-xx", clock.now())
    say = talk.sayer("ru")
    async with running(api, talk):
        api.push(api.command_update(ASANOV, f"/checkin {early.code}"))
        [closed] = await said(api, ASANOV, 1)
        assert "XX заседание МКВЭС ОДКБ" in (closed.text or "")
        assert "13:00" in (closed.text or "")
        assert "17:00" in (closed.text or "")
        clock.current = xx.starts_at
        api.push(api.command_update(ASANOV, f"/checkin {early.code}"))
        [_, expired] = await said(api, ASANOV, 2)
        assert expired.text == say("checkin.expired")
    assert await store.attendance.for_session("icmec-xx") == []


async def test_the_head_sees_the_delegation_and_names_a_substitute(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    await bind(store, "kgz-mamytova", MAMYTOVA, clock)
    await services.answers.record("icmec-xx", "kgz-tokoev", RsvpAnswer.IN_PERSON, source=RsvpSource.TELEGRAM)
    say = talk.sayer("ru")
    async with running(api, talk):
        api.push(api.command_update(ASANOV, "/delegation icmec-xx"))
        [page] = await said(api, ASANOV, 1)
        lines = (page.text or "").splitlines()
        assert lines[1] == " · ".join([say("count.in_person", n=1), say("count.none", n=4)])  # counts first

        api.push(api.callback_update(ASANOV, page, page.button(say("button.substitute"))["callback_data"]))
        members = (await said(api, ASANOV, 2))[1]
        api.push(api.callback_update(ASANOV, members, members.button("Айгуль Мамытова")["callback_data"]))
        candidates = (await said(api, ASANOV, 3))[2]
        assert [b["text"] for b in candidates.buttons] == ["Максат Осмонов"]  # the one member not invited yet
        api.push(api.callback_update(ASANOV, candidates, candidates.button("Максат Осмонов")["callback_data"]))
        await said(api, ASANOV, 4)
        # The replaced member is told (through their channels, by the outbox); the secretariat is told; the
        # substitute is invited.
        told = await store.outbox.entry("icmec-xx:substituted:kgz-osmonov:kgz-mamytova")
        assert told is not None
        assert told.kind == NoticeKind.SUBSTITUTED.value
        notice = services.renderer.render(
            services.configuration.require(),
            NoticeKind.SUBSTITUTED,
            "icmec-xx",
            "kgz-mamytova",
            extra={"substitute": "kgz-osmonov", "head": "kgz-asanov"},
        )
        assert "Максат Осмонов" in notice.text
        assert "Талант Асанов" in notice.text
        await api.wait_for(lambda: api.sent_to(ADMIN.id), within=5)
        assert "kgz-osmonov" in services.configuration.require().invitations["icmec-xx"]
        assert await store.outbox.entry("icmec-xx:invitation:kgz-osmonov") is not None
        current = await services.answers.current("icmec-xx", "kgz-mamytova")
        assert current is not None
        assert (current.answer, current.substitute_id) == (RsvpAnswer.SUBSTITUTE, "kgz-osmonov")

        # Someone who is not in the delegation's list: only the secretariat can add them, and it is told.
        api.push(api.command_update(ASANOV, "/delegation icmec-xx Иван Петров"))
        outsider = (await said(api, ASANOV, 5))[4]
        assert outsider.text == say("delegation.outsider")
        await api.wait_for(lambda: len(api.sent_to(ADMIN.id)) >= 2, within=5)
        assert "Иван Петров" in (api.sent_to(ADMIN.id)[1].text or "")

        # A member who is not a head is refused.
        api.push(api.command_update(MAMYTOVA, "/delegation"))
        assert (await said(api, MAMYTOVA, 1))[0].text == say("forbidden.head")


async def test_the_secretariat_sees_the_status_and_nudges_only_the_silent_once_a_day(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    given = (("kgz-tokoev", RsvpSource.TELEGRAM), ("rus-head", RsvpSource.WEB), ("arm-head", RsvpSource.TELEGRAM))
    for delegate, source in given:
        await services.answers.record("icmec-xx", delegate, RsvpAnswer.IN_PERSON, source=source)
    say = talk.sayer("ru")
    async with running(api, talk):
        api.push(api.command_update(ADMIN, "/status icmec-xx"))
        [status] = await said(api, ADMIN, 1)
        text = status.text or ""
        assert text.splitlines()[1] == " · ".join([say("count.in_person", n=3), say("count.none", n=17)])
        by = " · ".join([say("status.by.telegram", n=2), say("status.by.web", n=1)])
        assert text.splitlines()[2] == say("status.sources", sources=by)  # where the answers on record came from
        assert "Киргизская Республика" in text or "Кыргызская Республика" in text

        api.push(api.command_update(ADMIN, "/remind icmec-xx"))
        [_, nudged] = await said(api, ADMIN, 2)
        assert nudged.text == say("remind.done", title="XX заседание МКВЭС ОДКБ", count=17, recent=0)
        queued = await store.outbox.unsettled(failed_only=False, session_id="icmec-xx", limit=1000)
        nudges = {e.delegate_id for e in queued if e.kind == NoticeKind.NUDGE.value}
        assert len(nudges) == 17
        assert not nudges & {"kgz-tokoev", "rus-head", "arm-head"}

        api.push(api.command_update(ADMIN, "/remind icmec-xx"))  # the same day: nobody twice
        assert (await said(api, ADMIN, 3))[2].text == say(
            "remind.done", title="XX заседание МКВЭС ОДКБ", count=0, recent=17
        )

        # A delegate is not the secretariat: refused, and the attempt is in the audit log.
        api.push(api.command_update(ASANOV, "/status icmec-xx"))
        assert (await said(api, ASANOV, 1))[0].text == say("forbidden.secretariat")
    trail = await store.audit.trail(subject="icmec-xx")
    attempts = [(e.actor, e.action, e.details.get("allowed")) for e in trail if e.action.startswith("secretariat.")]
    assert ("telegram:7001", "secretariat.status", False) in attempts
    assert ("telegram:100000001", "secretariat.remind", True) in attempts


async def test_forged_stale_and_foreign_buttons_change_nothing(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "rus-expert", EXPERT, clock)
    say = talk.sayer("en")
    async with running(api, talk):
        api.push(api.command_update(EXPERT, "/rsvp"))
        [card] = await said(api, EXPERT, 1)
        genuine = card.button(say("answer.remote"))["callback_data"]
        forged = genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB")
        for data in (forged, "a:x:i", "x" * 64, sign(b"another secret" * 2, "a", "abcdef", "i")):
            api.push(api.callback_update(EXPERT, card, data, check_button=False))
        # A valid button pressed by a stranger (a forwarded message): they learn nothing, nothing changes.
        api.push(api.callback_update(STRANGER, card, genuine))
        await api.wait_for(lambda: len(api.callback_answers) == 5, within=5)
    assert [a.text for a in api.callback_answers] == [say("stale")] * 4 + [say("stranger")]
    assert await store.answers.for_session("icmec-wg-2022-10") == []


async def test_a_delegate_chooses_another_language_and_time_zone(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    async with running(api, talk):
        api.push(api.command_update(ASANOV, "/language"))
        [menu] = await said(api, ASANOV, 1)
        assert [b["text"] for b in menu.buttons] == ["✓ Русский", "English"]
        api.push(api.callback_update(ASANOV, menu, menu.button("English")["callback_data"]))
        [_, chosen] = await said(api, ASANOV, 2)
        assert chosen.text == talk.sayer("en")("language.set", language="English")
        api.push(api.command_update(ASANOV, "/timezone Europe/Moscow"))
        api.push(api.command_update(ASANOV, "/timezone Mars/Olympus"))
        [*_, zone, wrong] = await said(api, ASANOV, 4)
        assert zone.text == talk.sayer("en")("timezone.set", zone="Europe/Moscow")
        assert wrong.text == talk.sayer("en")("timezone.unknown", zone="Mars/Olympus")
        api.push(api.command_update(ASANOV, "/sessions"))
        card = (await said(api, ASANOV, 5))[4].text or ""
    # From now on in English, with the times of Moscow only (the session's zone is theirs now).
    assert card.startswith("20th meeting of the ICMEC\n19 October 2022, 14:00")
    assert "your time" not in card
    kept = await store.preferences.get("kgz-asanov")
    assert kept is not None
    assert (kept.language, kept.timezone) == ("en", "Europe/Moscow")
    # The notices follow: the deployment in force has the delegate's choice.
    assert services.configuration.require().delegates["kgz-asanov"].language == "en"


async def test_the_secretariat_broadcasts_once_confirmed_and_closes_a_session(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    talk = services.conversation
    await bind(store, "kgz-asanov", ASANOV, clock)
    say = talk.sayer("ru")
    text = "Уважаемые коллеги,\nначало переносится на 15:00."
    async with running(api, talk):
        api.push(api.command_update(ADMIN, f"/broadcast icmec-xx {text}"))
        [preview] = await said(api, ADMIN, 1)
        assert preview.text == say("broadcast.preview", title="XX заседание МКВЭС ОДКБ", count=20, text=text)
        assert await store.outbox.unsettled(failed_only=False, session_id="icmec-xx", limit=100) == []  # not yet
        send = preview.button(say("button.send", count=20))["callback_data"]
        api.push(api.callback_update(ADMIN, preview, send))
        await api.wait_for(lambda: len(api.callback_answers) == 1, within=5)
        assert api.callback_answers[0].text == say("broadcast.sent", count=20)
        # Pressed again (a stale keyboard on another device): nothing is sent twice.
        api.push(api.callback_update(ADMIN, preview, send, check_button=False))
        await api.wait_for(lambda: len(api.callback_answers) == 2, within=5)
        assert api.callback_answers[1].text == say("broadcast.already", count=20)
        queued = await store.outbox.unsettled(failed_only=False, session_id="icmec-xx", limit=100)
        broadcasts = [e for e in queued if e.kind == NoticeKind.BROADCAST.value]
        assert sorted(e.delegate_id for e in broadcasts) == sorted(deployment.invitations["icmec-xx"])

        # Someone else cannot broadcast.
        api.push(api.command_update(ASANOV, "/broadcast icmec-xx Всем привет"))
        assert (await said(api, ASANOV, 1))[0].text == say("forbidden.secretariat")

        # Closed during the session: the join link and check-in close with it.
        xx = deployment.sessions["icmec-xx"]
        clock.current = xx.starts_at + timedelta(hours=1)
        api.push(api.command_update(ADMIN, "/close icmec-xx"))
        assert (await said(api, ADMIN, 2))[1].text == say("close.done", title="XX заседание МКВЭС ОДКБ", when="15:00")
        queued = await store.outbox.unsettled(failed_only=False, session_id="icmec-xx", limit=200)
        summaries = {e.delegate_id for e in queued if e.kind == NoticeKind.SUMMARY.value}
        assert summaries == set(deployment.invitations["icmec-xx"])  # the summary goes out now, to everyone
        clock.advance(60)
        api.push(api.command_update(ASANOV, "/join icmec-xx"))
        shown = checkin.current(SECRET, "icmec-xx", clock.now())
        api.push(api.command_update(ASANOV, f"/checkin {shown.code}"))
        [_, ended, refused] = await said(api, ASANOV, 3)
        assert ended.text == say("join.ended", title="XX заседание МКВЭС ОДКБ")
        assert "XX заседание МКВЭС ОДКБ" in (refused.text or "")  # check-in is not open any more
        assert "15:00" in (refused.text or "")
        api.push(api.command_update(ADMIN, "/close icmec-xx"))
        assert (await said(api, ADMIN, 3))[2].text == say(
            "close.already", title="XX заседание МКВЭС ОДКБ", when="15:00"
        )
    assert await store.attendance.for_session("icmec-xx") == []


CYRILLIC = re.compile(r"[А-Яа-яЁё]")


@pytest.mark.parametrize(("delegate_id", "language"), [("rus-deputy", "ru"), ("rus-expert", "en")], ids=["ru", "en"])
async def test_every_delegate_command_answers_in_the_readers_language(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock, delegate_id: str, language: str
) -> None:
    services = bot_services(store, deployment, clock)
    reader = TgUser(7100, "Reader", language_code="de")  # Telegram's language is not what decides
    await bind(store, delegate_id, reader, clock)
    commands = ["/sessions", "/rsvp", "/agenda", "/join", "/checkin", "/calendar", "/language", "/timezone", "/help"]
    commands += ["/delegation", "/status", "/nonsense", "hello"]
    answers: dict[str, list[str]] = {}
    async with running(api, services.conversation):
        for command in commands:
            before = len(api.sent_to(reader.id))
            update = (
                api.command_update(reader, command) if command.startswith("/") else api.message_update(reader, command)
            )
            api.push(update)
            await said(api, reader, before + 1)
            await asyncio.sleep(0.2)  # /sessions sends a card per session
            answers[command] = [m.text or "" for m in api.sent_to(reader.id)[before:]]
    say = services.conversation.sayer(language)
    assert answers["/help"] == [say("help")]
    assert answers["hello"] == [say("help")]
    assert answers["/delegation"] == [say("forbidden.head")]
    assert answers["/status"] == [say("forbidden.secretariat")]
    assert answers["/nonsense"] == [say("unknown_command")]
    assert answers["/checkin"] == [say("checkin.usage")]
    assert answers["/join"][0].startswith(say("join.later", when="")[:12])
    for command, texts in answers.items():
        for text in texts:
            if language == "en":
                assert not CYRILLIC.search(text), (command, text)
            else:
                assert CYRILLIC.search(text), (command, text)


async def test_the_secretariat_commands_in_english_where_english_is_the_working_language(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    commission = deployment.commission.model_copy(update={"languages": ["en", "ru"]})
    english = dataclasses.replace(deployment, commission=commission)
    services = bot_services(store, english, clock)
    say = services.conversation.sayer("en")
    async with running(api, services.conversation):
        for command in ("/status icmec-xx", "/remind icmec-xx", "/broadcast icmec-xx", "/close icmec-council-2022-10"):
            api.push(api.command_update(ADMIN, command))
        status, remind, broadcast, close = (m.text or "" for m in await said(api, ADMIN, 4))
    assert status.startswith(say("status.heading", title="20th meeting of the ICMEC"))
    assert remind == say("remind.done", title="20th meeting of the ICMEC", count=20, recent=0)
    assert broadcast == say("broadcast.usage")
    assert close.endswith(say("close.done", title="", when="").split(")", 1)[1])  # "…: join links and … closed."


async def test_the_secretariat_gets_the_halls_code_and_its_qr_code(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    import segno

    services = bot_services(store, deployment, clock)
    services.start_links.bot_username = "icmec_bot"
    clock.current = deployment.sessions["icmec-xx"].starts_at - timedelta(minutes=30)
    shown = checkin.current(SECRET, "icmec-xx", clock.now())
    async with running(api, services.conversation):
        api.push(api.command_update(ADMIN, "/checkincode icmec-xx"))
        api.push(api.command_update(ADMIN, "/checkincode icmec-xviii"))  # by video: no hall
        api.push(api.command_update(ASANOV, "/checkincode icmec-xx"))
        photo, video = await said(api, ADMIN, 2)
        [refused] = await said(api, ASANOV, 1)
    assert shown.code in (photo.caption or "")
    expected = io.BytesIO()
    segno.make(f"https://t.me/icmec_bot?start=c{shown.code}", error="m").save(expected, kind="png", scale=8, border=4)
    assert photo.photo == expected.getvalue()  # scanning it opens the bot with the code
    assert video.text == services.conversation.sayer("ru")("checkincode.no_venue", title="XVIII заседание МКВЭС ОДКБ")
    assert refused.text == services.conversation.sayer("ru")("forbidden.secretariat")


async def test_guessing_check_in_codes_is_stopped_after_ten_wrong_ones(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    services = bot_services(store, deployment, clock)
    await bind(store, "kgz-asanov", ASANOV, clock)
    clock.current = deployment.sessions["icmec-xx"].starts_at - timedelta(minutes=20)
    say = services.conversation.sayer("ru")
    async with running(api, services.conversation):
        for guess in range(11):
            api.push(api.command_update(ASANOV, f"/checkin {guess:08d}"))
        shown = checkin.current(SECRET, "icmec-xx", clock.now())
        api.push(api.command_update(ASANOV, f"/checkin {shown.code}"))  # even the right code waits now
        texts = [m.text for m in await said(api, ASANOV, 12)]
        assert texts == [say("checkin.unknown")] * 10 + [say("checkin.too_many")] * 2
        clock.advance(10 * 60)  # the pause is over
        shown = checkin.current(SECRET, "icmec-xx", clock.now())
        api.push(api.command_update(ASANOV, f"/checkin {shown.code}"))
        assert (await said(api, ASANOV, 13))[12].text == say("checkin.checked_in", title="XX заседание МКВЭС ОДКБ")


async def test_a_plain_start_binds_by_username_only_where_the_commission_allows_it(
    api: FakeBotApi, store: Store, deployment: Deployment, clock: FakeClock
) -> None:
    # kgz-asanov's YAML names the Telegram username asanov_kg, which ASANOV's account has.
    services = bot_services(store, deployment, clock)
    async with running(api, services.conversation):
        api.push(api.command_update(ASANOV, "/start"))
        [told] = await said(api, ASANOV, 1)
    assert told.text == services.conversation.sayer("ru")("stranger")  # off by default: nobody is bound
    assert await store.bindings.delegate_for(ASANOV.id) is None

    policy = deployment.commission.telegram.model_copy(update={"bind_by_username": True})
    allowing = dataclasses.replace(deployment, commission=deployment.commission.model_copy(update={"telegram": policy}))
    services = bot_services(store, allowing, clock)
    impostor = TgUser(7201, "Someone", username="not_in_the_yaml", language_code="ru")
    async with running(api, services.conversation):
        api.push(api.command_update(ASANOV, "/start"))
        api.push(api.command_update(impostor, "/start"))
        bound = (await said(api, ASANOV, 3))[1]
        [stranger] = await said(api, impostor, 1)
    assert bound.text == services.conversation.sayer("ru")("start.bound", name="Талант Асанов")
    assert await store.bindings.delegate_for(ASANOV.id) == "kgz-asanov"
    assert stranger.text == services.conversation.sayer("ru")("stranger")
    assert await store.bindings.delegate_for(impostor.id) is None
