"""The XVIII-style video session on BigBlueButton, end to end on SQLite and PostgreSQL: each delegate's link to
Plenary (``/join/<token>``) takes them into the meeting under their own identity; the double's signed webhooks,
received by the real HTTP server, become the live table by state and agency with the quorum; a forged webhook
changes nothing; a ``user-left`` the webhooks missed is caught by the reconciliation; the secretariat's
correction and a venue check-in merge in."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import aiohttp
import pytest

from app.bootstrap import Services
from domain.attendance import Presence
from domain.deployment import Deployment
from domain.events import QuorumChanged
from domain.model import Session
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource
from storage.repositories import Store
from tests.doubles.bigbluebutton import BigBlueButtonServer, bigbluebutton_server, callback_checksum, form_encode
from tests.doubles.telegram_bot_api import FakeBotApi, TgUser
from tests.integration.bot_setup import running
from tests.integration.video_setup import running_now, service

BBB_SECRET = "xviii-shared-secret-for-the-double"
HEADS = ("rus-head", "kaz-head", "blr-head", "arm-head")
ADMIN = TgUser(100000001, "Secretariat", language_code="ru")
"""The example's secretariat account (``telegram_admins``)."""


def xviii_now(deployment: Deployment, bbb: BigBlueButtonServer) -> tuple[Deployment, Session]:
    """XVIII on the double's server, running now."""
    return running_now(deployment, "icmec-xviii", url=f"{bbb.base_url}/bigbluebutton/", secret=BBB_SECRET)


async def join(client: aiohttp.ClientSession, services: Services, bbb: BigBlueButtonServer, delegate: str) -> None:
    """The delegate opens their link from the e-mail: Plenary sends them on to the meeting, which they enter."""
    link = await services.video.url(delegate, "icmec-xviii")
    async with client.get(link, allow_redirects=False) as response:
        assert response.status == 302, await response.text()
        location = response.headers["Location"]
    assert location.startswith(bbb.base_url)
    await bbb.open_join_url(location)


async def test_the_video_session_becomes_the_live_table_by_state_with_its_quorum(
    store: Store, deployment: Deployment
) -> None:
    async with bigbluebutton_server(BBB_SECRET) as bbb:
        chosen, session = xviii_now(deployment, bbb)
        async with service(store, chosen) as (services, public, heard), aiohttp.ClientSession() as client:
            await services.video.keep_up(public)  # the hook registered with bbb-webhooks
            [hook] = bbb.hooks.values()
            assert hook.callback_url == f"{public}/webhooks/bigbluebutton"
            for head in HEADS:
                await join(client, services, bbb, head)
            await bbb.settle()
            assert {d.status for d in bbb.deliveries} == {200}

            table = await services.attendance.table(session.id)
            assert table is not None
            assert table.live
            for head in HEADS:
                line = table.delegate(head)
                assert line is not None
                assert line.presence is Presence.REMOTE
                assert line.here
            represented = {s.state for s in table.states if s.represented}
            assert represented == {"RUS", "KAZ", "BLR", "ARM"}
            assert table.quorum is not None
            assert (table.quorum.required, table.quorum.met) == (4, True)  # a majority of six
            await services.attendance.settled()
            assert [(e.met, e.represented) for e in heard if isinstance(e, QuorumChanged)] == [(True, 4)]

            # A forged webhook (wrong checksum) is refused before it is read: nothing is recorded.
            before = await store.attendance.for_session(session.id)
            forged = "domain=127.0.0.1&event=%5B%5D&timestamp=1"
            async with client.post(
                f"{public}/webhooks/bigbluebutton?checksum={'0' * 64}",
                data=forged,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status == 401
            assert await store.attendance.for_session(session.id) == before

            # BLR's head leaves, and the webhook is lost: the reconciliation sees them gone; the quorum is lost.
            bbb.drop("user-left")
            blr = next(u for u in bbb.meetings[session.id].attendees.values() if u.external_user_id == "blr-head")
            await bbb.leave(blr)
            await bbb.settle()
            await services.video.keep_up(public)
            table = await services.attendance.table(session.id)
            assert table is not None
            blr_line = table.delegate("blr-head")
            assert blr_line is not None
            assert not blr_line.here
            assert table.quorum is not None
            assert not table.quorum.met
            await services.attendance.settled()
            assert [(e.met, e.represented) for e in heard if isinstance(e, QuorumChanged)] == [(True, 4), (False, 3)]

            # A guest on a forwarded meeting link is kept apart, never counted for a state.
            await bbb.join_guest(session.id, "Someone at a hotel")
            await bbb.settle()
            table = await services.attendance.table(session.id)
            assert table is not None
            assert [g.name for g in table.guests] == ["Someone at a hotel"]

            # The secretariat's correction and a venue check-in merge into the same record.
            await services.attendance.correct(session.id, "tjk-head", "remote", "cli:secretary", "joined by phone")
            await services.attendance.record(
                AttendanceEvent(
                    session_id=session.id,
                    delegate_id="kgz-asanov",
                    state="KGZ",
                    source=AttendanceSource.VENUE,
                    kind=AttendanceKind.CHECK_IN,
                    occurred_at=services.clock.now(),
                )
            )
            table = await services.attendance.table(session.id)
            assert table is not None
            assert table.delegate("tjk-head").presence is Presence.REMOTE  # type: ignore[union-attr]
            assert table.delegate("kgz-asanov").presence is Presence.IN_PERSON  # type: ignore[union-attr]
            assert table.quorum is not None
            assert table.quorum.met
            assert table.quorum.represented == 5


async def test_a_join_link_says_when_it_opens_and_a_forged_one_opens_nothing(
    store: Store, deployment: Deployment
) -> None:
    async with bigbluebutton_server(BBB_SECRET) as bbb:
        chosen, session = xviii_now(deployment, bbb)
        later = Session.model_validate(
            {**session.model_dump(), "start": session.start + timedelta(days=2), "end": session.end + timedelta(days=2)}
        )
        chosen = dataclasses.replace(chosen, sessions={**chosen.sessions, later.id: later})
        async with service(store, chosen) as (services, _, _), aiohttp.ClientSession() as client:
            link = await services.video.url("rus-head", session.id)
            async with client.get(link, allow_redirects=False) as response:
                assert response.status == 200  # a page, not the meeting: it says when it opens, in Russian
                assert "Location" not in response.headers
                page = await response.text()
            assert "XVIII заседание МКВЭС ОДКБ" in page
            assert str(later.start.year) in page
            assert not bbb.calls  # nothing asked of the platform before its time
            forged = link[:-4] + ("AAAA" if not link.endswith("AAAA") else "BBBB")
            async with client.get(forged, allow_redirects=False) as response:
                assert response.status == 404
            async with client.get(await services.video.url("rus-mfa", session.id), allow_redirects=False) as response:
                assert response.status == 404  # not invited to XVIII
            await services.links.rotate_delegate("rus-head")  # the link was forwarded: the secretariat revokes it
            async with client.get(link, allow_redirects=False) as response:
                assert response.status == 404
            async with client.get(await services.video.url("rus-head", session.id), allow_redirects=False) as response:
                assert response.status == 200  # the new one works


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)


async def test_a_session_whose_secret_is_not_set_signs_nothing_and_trusts_no_webhook(
    store: Store, deployment: Deployment
) -> None:
    async with bigbluebutton_server(BBB_SECRET) as bbb:
        chosen, session = xviii_now(deployment, bbb)
        unset = Session.model_validate(
            {**session.model_dump(), "video": {**session.model_dump()["video"], "secret": ""}}
        )
        chosen = dataclasses.replace(chosen, sessions={**chosen.sessions, unset.id: unset})
        async with service(store, chosen) as (services, public, _), aiohttp.ClientSession() as client:
            async with client.get(await services.video.url("rus-head", unset.id), allow_redirects=False) as response:
                assert response.status == 503  # "the platform cannot be reached": no link is signed with nothing
            assert not bbb.calls
            event = '[{"data":{"type":"event","id":"user-joined","attributes":{"meeting":{"internal-meeting-id":"m-1",'
            event += '"external-meeting-id":"icmec-xviii"},"user":{"internal-user-id":"w_1","external-user-id":'
            event += '"rus-head","name":"Forged"}},"event":{"ts":1}}}]'
            body = form_encode([("domain", "x"), ("event", event), ("timestamp", "1")])
            checksum = callback_checksum(f"{public}/webhooks/bigbluebutton", body, "")  # signed with the empty secret
            async with client.post(
                f"{public}/webhooks/bigbluebutton?checksum={checksum}",
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as response:
                assert response.status in (401, 404)
            assert await store.attendance.for_session(unset.id) == []


async def test_the_secretariat_is_told_when_the_quorum_is_reached_and_lost_and_reads_the_table_in_the_chat(
    store: Store, deployment: Deployment
) -> None:
    async with bigbluebutton_server(BBB_SECRET) as bbb:
        chosen, session = xviii_now(deployment, bbb)
        async with (
            service(store, chosen) as (services, public, _),
            aiohttp.ClientSession() as client,
            FakeBotApi() as api,
            running(api, services.conversation),
        ):
            await services.video.keep_up(public)
            for head in HEADS:
                await join(client, services, bbb, head)
            await bbb.settle()
            say = services.conversation.sayer("ru")  # the commission's working language
            title = "XVIII заседание МКВЭС ОДКБ"
            reached = say("secretariat.quorum.met", title=title, represented="4", states="6", required="4")
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == reached], within=5)
            kaz = next(u for u in bbb.meetings[session.id].attendees.values() if u.external_user_id == "kaz-head")
            await bbb.leave(kaz)
            await bbb.settle()
            lost = say("secretariat.quorum.lost", title=title, represented="3", states="6", required="4")
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == lost], within=5)

            api.push(api.command_update(ADMIN, f"/attendance {session.id}"))
            shown = say("attendance.quorum.not_met", rule="majority", represented="3", states="6", required="4")
            [table] = await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if shown in m.text], within=5)
            assert say("attendance.heading", title=title) in table.text
            assert table.text.count("\n") >= 7  # the heading, a line per state, the quorum

            api.push(api.command_update(ADMIN, "/mark tjk-head remote joined by phone"))
            marked = say("attendance.marked", delegate="tjk-head", presence=say("attendance.as.remote"), title=title)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == marked], within=5)
            api.push(api.command_update(ADMIN, "/mark nobody remote"))
            refused = say("attendance.mark_refused", delegate="nobody", title=title)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == refused], within=5)
            table_now = await services.attendance.table(session.id)
            assert table_now is not None
            tjk = table_now.delegate("tjk-head")
            assert tjk is not None
            assert tjk.presence is Presence.REMOTE
            assert tjk.correction is not None
            assert (tjk.correction.recorded_by, tjk.correction.note) == (f"secretariat:{ADMIN.id}", "joined by phone")
            assert table_now.quorum is not None
            assert table_now.quorum.represented == 4  # TJK, said to be there, counts

            # What the session decides goes into its summary, under its item; an item not on the agenda is refused.
            api.push(api.command_update(ADMIN, "/decision 2 Утвердить задачи на предстоящий период"))
            item = session.agenda[1].title["ru"]
            recorded = say("decision.recorded", number="2", item=item, title=title)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == recorded], within=5)
            api.push(api.command_update(ADMIN, "/decision 99 Что-то"))
            items = str(len(session.agenda))
            no_item = say("decision.no_item", number="99", title=title, items=items)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == no_item], within=5)
            api.push(api.command_update(ADMIN, "/decision"))
            usage = say("decision.usage", items=items)
            await api.wait_for(lambda: [m for m in api.sent_to(ADMIN.id) if m.text == usage], within=5)
            summary = await services.summaries.compose(session.id)
            assert summary.agenda[1].decisions == ({"*": "Утвердить задачи на предстоящий период"},)
            assert [i.decisions for i in summary.agenda if i.number != 2] == [()] * (len(session.agenda) - 1)
