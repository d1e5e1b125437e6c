"""A delegate bound to Telegram gets their notices there, and their calendar invitations still by e-mail, so
that their calendar holds the session as it is; the commission can turn the copy off. The composer and the
dispatcher as the service builds them, over the real store on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

from app.bootstrap import bootstrap
from config.settings import Settings
from domain.deployment import Deployment
from domain.records import TelegramBinding
from storage.repositories import Store
from tests.doubles.channels import FakeChannel, FakeClock
from tests.integration.bot_setup import SECRET


async def sent(store: Store, deployment: Deployment) -> tuple[FakeChannel, FakeChannel]:
    clock = FakeClock(datetime(2022, 9, 29, 9, 0, tzinfo=UTC))  # the XX invitation is due (21 days before)
    telegram, email = FakeChannel("telegram"), FakeChannel("email")
    services = bootstrap(Settings(), clock, store=store, channels={"telegram": telegram, "email": email}, secret=SECRET)
    await store.bindings.bind(
        TelegramBinding(delegate_id="rus-mfa", telegram_user_id=9001, chat_id=9001, bound_at=clock.now())
    )
    await services.timeline.apply(deployment, services.configuration.put)
    while await services.dispatcher.drain_once():
        pass
    services.composer.close()
    return telegram, email


async def test_a_bound_delegate_gets_the_invitation_in_telegram_and_its_calendar_part_by_e_mail(
    store: Store, deployment: Deployment
) -> None:
    telegram, email = await sent(store, deployment)
    [in_telegram] = [d for d in telegram.sent if d.key == "icmec-xx:invitation:rus-mfa"]
    assert in_telegram.address == "9001"
    assert in_telegram.buttons  # answered with a tap
    [by_email] = [d for d in email.sent if d.key.startswith("icmec-xx:invitation:rus-mfa")]
    assert by_email.key == "icmec-xx:invitation:rus-mfa/email"
    assert by_email.calendar is not None
    assert by_email.calendar.method == "REQUEST"
    assert not by_email.buttons
    # Delegates not bound get it once, by e-mail, as before.
    assert len([d for d in email.sent if d.key.startswith("icmec-xx:invitation:kgz-tokoev")]) == 1


async def test_the_commission_can_turn_the_e_mail_copy_off(store: Store, deployment: Deployment) -> None:
    commission = deployment.commission
    policy = commission.telegram.model_copy(update={"calendar_by_email": False})
    quiet = Deployment(
        commission=commission.model_copy(update={"telegram": policy}),
        states=deployment.states,
        agencies=deployment.agencies,
        delegates=deployment.delegates,
        sessions=deployment.sessions,
        invitations=deployment.invitations,
    )
    telegram, email = await sent(store, quiet)
    assert [d.key for d in telegram.sent if d.key.endswith(":rus-mfa")] == ["icmec-xx:invitation:rus-mfa"]
    assert [d.key for d in email.sent if "rus-mfa" in d.key] == []
