"""Calendar replies as answers, on SQLite and PostgreSQL: each client's sample (tests/fixtures/imip) read as the
mailbox reader reads it and recorded through the calendar-reply service, with the source ``calendar``; a forwarded
invitation's reply is nobody's answer and the secretariat hears of it in Telegram."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domain.deployment import Deployment
from domain.ledger import RecipientRecord
from domain.records import RsvpAnswer, RsvpSource
from integrations.email.replies import calendar_replies
from services.calendar_replies import Replied, Reply
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.integration.bot_setup import bot_services, running

SAMPLES = Path(__file__).resolve().parents[1] / "fixtures" / "imip"
NOW = datetime(2022, 10, 12, 11, 0, tzinfo=UTC)
ADMIN = TgUser(100000001, "Secretariat", language_code="ru")


def replies(sample: str) -> list[Reply]:
    message = email.message_from_bytes((SAMPLES / sample).read_bytes(), policy=email.policy.default)
    return [Reply(r.uid, r.sequence, r.attendee, r.partstat) for r in calendar_replies(message)]


@pytest.mark.parametrize(
    ("sample", "delegate", "answer"),
    [
        ("outlook-accepted.eml", "rus-deputy", RsvpAnswer.ATTENDING),  # XX is hybrid: how is not said
        ("google-declined.eml", "kaz-head", RsvpAnswer.NOT_ATTENDING),
        ("apple-tentative.eml", "arm-head", RsvpAnswer.TENTATIVE),
        ("thunderbird-accepted.eml", "kgz-asanov", RsvpAnswer.ATTENDING),
    ],
)
async def test_each_clients_reply_is_its_invitees_answer(
    store: Store, deployment: Deployment, sample: str, delegate: str, answer: RsvpAnswer
) -> None:
    services = bot_services(store, deployment, FakeClock(NOW))
    [reply] = replies(sample)
    assert await services.calendar_replies.record(reply) is Replied.RECORDED
    assert await services.calendar_replies.record(reply) is Replied.UNCHANGED  # read again: nothing new
    recorded = await store.answers.get("icmec-xx", delegate)
    assert recorded is not None
    assert (recorded.answer, recorded.source, recorded.comment) == (answer, RsvpSource.CALENDAR, None)
    assert len(await store.answers.history("icmec-xx", delegate)) == 1


async def test_a_reply_to_an_older_invitation_is_recorded_with_a_note(store: Store, deployment: Deployment) -> None:
    services = bot_services(store, deployment, FakeClock(NOW))
    held = RecipientRecord(invited=True, revision=0, holds=True, sequence=3)
    await store.announcements.save_recipients({("icmec-xx", "rus-deputy"): held}, NOW)
    [reply] = replies("outlook-accepted.eml")  # SEQUENCE 0
    assert await services.calendar_replies.record(reply) is Replied.RECORDED
    recorded = await store.answers.get("icmec-xx", "rus-deputy")
    assert recorded is not None
    assert recorded.comment == "calendar reply to an older invitation (SEQUENCE 0 < 3)"


async def test_a_forwarded_invitations_reply_is_nobodys_answer_and_the_secretariat_is_told(
    store: Store, deployment: Deployment
) -> None:
    services = bot_services(store, deployment, FakeClock(NOW))
    [forwarded] = replies("forwarded-accepted.eml")
    async with FakeBotApi() as api, running(api, services.conversation):
        assert await services.calendar_replies.record(forwarded) is Replied.NOT_INVITED
        await api.wait_for(lambda: api.sent_to(ADMIN.id), within=5)
    [told] = api.sent_to(ADMIN.id)
    say = services.conversation.sayer("ru")
    expected = say(
        "secretariat.reply_refused", title="XX заседание МКВЭС ОДКБ", address="colleague@minprom.example.org"
    )
    assert told.text == expected
    assert await store.answers.all() == {}
    other = Reply("meeting@another.example.org", 0, "deputy@rus.example.org", "ACCEPTED")
    assert await services.calendar_replies.record(other) is Replied.UNKNOWN_EVENT
    after = FakeClock(datetime(2022, 10, 19, 11, 0, tzinfo=UTC))  # the XX meeting has started: answers closed
    late = bot_services(store, deployment, after)
    [reply] = replies("google-declined.eml")
    assert await late.calendar_replies.record(reply) is Replied.CLOSED
    assert await store.answers.all() == {}
