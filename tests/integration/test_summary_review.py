"""A summary the secretariat reviews first (``summary: review``): when the XX meeting's summary is due, its draft
reaches the secretariat's accounts (the Bot API double) with Publish and Edit, and nobody else gets anything;
Edit says how to correct it; a ``/mark`` in the chat sends a new draft; the old draft's Publish publishes
nothing (it no longer says what the facts say) and shows the current one; the new one's Publish sends the
corrected summary to every delegate (aiosmtpd) and the second account's Publish finds it done. The service as
``app.bootstrap`` builds it, the bot polling the double, over the real store on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import email.message
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.bootstrap import Services
from domain.attendance import Presence
from domain.deployment import Deployment
from messages import catalogues
from storage.repositories import Store
from tests.doubles.channels import FakeClock
from tests.doubles.telegram_bot_api import BotMessage, FakeBotApi, TgUser
from tests.integration.bot_setup import running
from tests.integration.test_summary_delivery import delivering, drain, facts

ADMIN = TgUser(100000001, "Secretariat", language_code="ru")
OTHER_ADMIN = TgUser(100000002, "Secretariat 2", language_code="ru")
TITLE = "XX заседание МКВЭС ОДКБ"
DRAFT_LINE = catalogues.catalogue("ru").translations.gettext(
    "Draft for your review: not sent to anyone yet. Publish sends it to the delegations; Edit says how to correct it."
)


def reviewed(deployment: Deployment) -> Deployment:
    xx = deployment.sessions["icmec-xx"].model_copy(update={"summary": "review"})
    return dataclasses.replace(deployment, sessions={**deployment.sessions, "icmec-xx": xx})


def xx_summary(message: email.message.EmailMessage) -> bool:
    return message["X-Plenary-Kind"] == "summary" and message["X-Plenary-Session"] == "icmec-xx"


async def delivered(services: Services, api: FakeBotApi, chat: int, count: int) -> None:
    """Send what the outbox holds until ``chat`` has ``count`` drafts (the bot queues them as it answers)."""
    for _ in range(100):
        await drain(services)
        if len(drafts(api, chat)) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"chat {chat} has {len(drafts(api, chat))} drafts, not {count}")


def drafts(api: FakeBotApi, chat: int) -> list[BotMessage]:
    return [m for m in api.photos if m.chat_id == chat and m.callback_data]


@pytest.mark.usefixtures("weasyprint_ready")
async def test_the_draft_is_reviewed_corrected_and_published_from_the_chat(
    store: Store, deployment: Deployment, tmp_path: Path
) -> None:
    chosen = reviewed(deployment)
    clock = FakeClock(datetime(2022, 10, 19, 16, 1, tzinfo=UTC))  # the meeting ended at 14:00 UTC; +2 h
    async with delivering(store, clock, tmp_path) as (services, smtp, api):
        services.roster.base = chosen
        for fact in facts(chosen):
            assert await services.attendance.record(fact)
        async with running(api, services.conversation):
            await services.timeline.apply(chosen, services.configuration.put)
            await drain(services)
            say = services.conversation.sayer("ru")

            # The draft, to each of the secretariat's accounts, and to nobody else.
            [first] = drafts(api, ADMIN.id)
            assert len(drafts(api, OTHER_ADMIN.id)) == 1
            assert first.caption is not None
            assert first.caption.startswith(DRAFT_LINE)
            assert [b["text"] for b in first.buttons] == [say("button.publish"), say("button.edit")]
            assert "Представлено государств-членов: 5 из 6." in first.caption
            assert not [r for r in smtp.received if xx_summary(r.message)]
            assert await store.summaries.latest("icmec-xx") is None

            # Edit says how; a correction in the chat sends a new draft.
            publish_first, edit = first.callback_data
            api.push(api.callback_update(ADMIN, first, edit))
            how = say("review.edit", title=TITLE, session="icmec-xx")
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == how], within=5)
            api.push(api.command_update(ADMIN, "/mark icmec-xx kgz-asanov absent left before the vote"))
            marked = say("attendance.marked", delegate="kgz-asanov", presence=say("attendance.as.absent"), title=TITLE)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == marked], within=5)
            await delivered(services, api, OTHER_ADMIN.id, 2)
            second = drafts(api, ADMIN.id)[1]
            assert second.caption is not None
            assert "Представлено государств-членов: 4 из 6." in second.caption

            # The first draft's Publish publishes nothing: the summary changed; the current draft is shown.
            api.push(api.callback_update(ADMIN, first, publish_first))
            await api.wait_for(lambda: len(drafts(api, ADMIN.id)) == 3 or None, within=5)
            assert await store.summaries.latest("icmec-xx") is None
            shown = drafts(api, ADMIN.id)[2]
            assert shown.callback_data[0] == second.callback_data[0]  # the same summary, the same fingerprint

            # The current draft's Publish sends it out; the other account's finds it done.
            api.push(api.callback_update(ADMIN, second, second.callback_data[0]))
            await api.wait_for(lambda: not api.message(ADMIN.id, second.message_id).buttons or None, within=5)
            published = await store.summaries.latest("icmec-xx")
            assert published is not None
            version, summary = published
            assert version == 1
            line = next(d for s in summary.states for a in s.agencies for d in a.delegates if d.id == "kgz-asanov")
            assert line.presence == Presence.ABSENT.value
            await drain(services)
            late = drafts(api, OTHER_ADMIN.id)[-1]
            api.push(api.callback_update(OTHER_ADMIN, late, late.callback_data[0]))
            already = say("review.already", title=TITLE, version="1")
            await api.wait_for(lambda: [m for m in api.sent_to(OTHER_ADMIN.id) if m.text == already], within=5)
            await drain(services)
        received = list(smtp.received)

    invited = chosen.invitations["icmec-xx"]
    with_email = {chosen.delegates[d].email for d in invited if chosen.delegates[d].email}
    sent = [r for r in received if xx_summary(r.message) and r.recipients[0] in with_email]
    assert {r.recipients[0] for r in sent} == with_email  # every delegate, once
    assert len(sent) == len(with_email)
    assert all(str(r.message["Subject"]) == f"Итоги: {TITLE}" for r in sent if r.message["Content-Language"] == "ru")
    press = [r for r in received if r.recipients == ("press@icmec.example.org",) and xx_summary(r.message)]
    assert len(press) == 1
    assert await store.summaries.version("icmec-xx", 2) is None  # one publication, not one per press
