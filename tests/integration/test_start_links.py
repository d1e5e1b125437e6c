"""Personal Telegram deep links as the bot will read them: each names one delegate, rotation revokes it, forged
parameters name nobody, and a bound delegate's invitation no longer offers one. On SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from domain.deployment import Deployment
from domain.events import AccountBound, BindingRefused, LinkRotated
from services.bindings import BindingService, LinkOpened, Opened, StartLinks
from services.links import LinkService
from storage.repositories import Store
from tests.doubles.channels import FakeClock, RecordingEvents

SECRET = bytes(range(32))


def start_links(store: Store, deployment: Deployment, username: str | None = "icmec_bot") -> StartLinks:
    return StartLinks(store.links, store.bindings, lambda: deployment, SECRET, bot_username=username)


async def test_each_link_names_its_delegate_until_rotated(store: Store, deployment: Deployment) -> None:
    links = start_links(store, deployment)
    tokens = await links.tokens()
    assert set(tokens) == set(deployment.delegates)
    assert len(set(tokens.values())) == len(tokens)
    for delegate_id, token in tokens.items():
        assert await links.resolve(token) == delegate_id
    old = tokens["kgz-asanov"]
    events = RecordingEvents()
    await LinkService(store.links, events, FakeClock()).rotate_delegate("kgz-asanov")
    assert await links.resolve(old) is None  # revoked at once
    fresh = (await links.tokens())["kgz-asanov"]
    assert fresh != old
    assert await links.resolve(fresh) == "kgz-asanov"
    assert await links.resolve(tokens["kgz-mamytova"]) == "kgz-mamytova"  # nobody else's changed
    rotated = {(e.scope, e.subject) for e in events.published if isinstance(e, LinkRotated)}
    assert rotated == {(scope, "kgz-asanov") for scope in ("delegate", "telegram", "answers", "join")}


@pytest.mark.parametrize(
    "forged",
    ["", "b", "c123456", "b" + "A" * 32, "b" + "A" * 100, "kgz-asanov", "bxhMGZ6HlfAlr0M0ucEsJlO_rHo8fHIwN"],
)
async def test_a_forged_or_foreign_parameter_names_nobody(store: Store, deployment: Deployment, forged: str) -> None:
    assert await start_links(store, deployment).resolve(forged) is None
    other_secret = StartLinks(store.links, store.bindings, lambda: deployment, b"another server's secret")
    assert await start_links(store, deployment).resolve((await other_secret.tokens())["kgz-asanov"]) is None


async def test_the_invitation_offers_the_link_until_the_account_is_bound(store: Store, deployment: Deployment) -> None:
    links = start_links(store, deployment)
    offered = await links.personal_links("kgz-tokoev")
    token = (await links.tokens())["kgz-tokoev"]
    assert offered == {"telegram": f"https://t.me/icmec_bot?start={token}"}
    await BindingService(store.bindings, RecordingEvents(), FakeClock()).bind("kgz-tokoev", 555, 555)
    assert await links.personal_links("kgz-tokoev") == {}
    assert await start_links(store, deployment, username=None).personal_links("kgz-mamytova") == {}


async def test_a_link_binds_the_account_that_opens_it_once(store: Store, deployment: Deployment) -> None:
    links = start_links(store, deployment)
    events = RecordingEvents()
    service = BindingService(store.bindings, events, FakeClock(), links, store.audit)
    tokens = await links.tokens()
    opened = await service.open_link(tokens["kgz-tokoev"], 111, 111, "tokoev")
    assert opened == Opened(LinkOpened.BOUND, "kgz-tokoev")
    binding = await store.bindings.get("kgz-tokoev")
    assert binding is not None
    assert (binding.telegram_user_id, binding.chat_id, binding.username) == (111, 111, "tokoev")
    assert await service.open_link(tokens["kgz-tokoev"], 111, 111) == Opened(LinkOpened.ALREADY, "kgz-tokoev")
    # A forwarded invitation: another account opens the same link. Refused, reported, nothing moves.
    assert await service.open_link(tokens["kgz-tokoev"], 222, 222) == Opened(LinkOpened.TAKEN, "kgz-tokoev")
    assert (await store.bindings.get("kgz-tokoev")) == binding
    assert await store.bindings.delegate_for(222) is None
    # The same account cannot speak for a second delegate either.
    assert await service.open_link(tokens["kgz-osmonov"], 111, 111) == Opened(LinkOpened.OTHER_DELEGATE, "kgz-osmonov")
    assert await store.bindings.get("kgz-osmonov") is None
    refused = [(e.delegate_id, e.telegram_user_id, e.reason) for e in events.published if isinstance(e, BindingRefused)]
    assert refused == [("kgz-tokoev", 222, "taken"), ("kgz-osmonov", 111, "other_delegate")]
    trail = [(e.actor, e.action, e.subject) for e in reversed(await store.audit.trail())]
    assert trail == [
        ("telegram:111", "telegram.bound", "kgz-tokoev"),
        ("telegram:222", "telegram.refused.taken", "kgz-tokoev"),
        ("telegram:111", "telegram.refused.other_delegate", "kgz-osmonov"),
    ]


async def test_a_revoked_or_forged_link_binds_nobody(store: Store, deployment: Deployment) -> None:
    links = start_links(store, deployment)
    service = BindingService(store.bindings, RecordingEvents(), FakeClock(), links, store.audit)
    old = (await links.tokens())["kgz-tokoev"]
    await LinkService(store.links, RecordingEvents(), FakeClock()).rotate_delegate("kgz-tokoev")
    for token in (old, "b" + "A" * 32, "", "/start"):
        assert await service.open_link(token, 333, 333) == Opened(LinkOpened.UNKNOWN)
    assert await store.bindings.delegate_for(333) is None
    assert await store.audit.trail() == []


async def test_rotating_disconnects_the_account_bound_through_the_old_link(
    store: Store, deployment: Deployment
) -> None:
    # A colleague opened a forwarded invitation first: the secretariat rotates the delegate's links.
    links = start_links(store, deployment)
    events = RecordingEvents()
    service = BindingService(store.bindings, events, FakeClock(), links, store.audit)
    old = (await links.tokens())["kgz-tokoev"]
    assert (await service.open_link(old, 444, 444)).outcome is LinkOpened.BOUND
    rotation = LinkService(store.links, events, FakeClock(), store.bindings)
    assert await rotation.rotate_delegate("kgz-tokoev")
    assert await store.bindings.delegate_for(444) is None  # the colleague's account speaks for nobody now
    assert AccountBound("kgz-tokoev", False) in events.published  # every process's cache hears it
    new = (await links.tokens())["kgz-tokoev"]
    assert (await service.open_link(new, 555, 555)).outcome is LinkOpened.BOUND  # the delegate's own account
    assert not await rotation.rotate_delegate("kgz-osmonov")  # nobody was bound: nothing to disconnect
