"""Binding a delegate's Telegram account, and undoing it; the personal deep links that bind one."""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from domain.deployment import Deployment
from domain.events import AccountBound, BindingRefused
from domain.links import START_PREFIX, LinkScope, start_token
from domain.ports import Audit, Bindings, Clock, EventSink, Links
from domain.records import AuditEntry, TelegramBinding
from services.events import EventBus


class LinkOpened(StrEnum):
    """What opening a personal Telegram link did."""

    BOUND = "bound"
    """The account now speaks for the delegate."""
    ALREADY = "already"
    """It already did: nothing changed."""
    TAKEN = "taken"
    """The delegate's account is another one: refused, and the secretariat is told."""
    OTHER_DELEGATE = "other_delegate"
    """This account already speaks for another delegate: refused, and the secretariat is told."""
    UNKNOWN = "unknown"
    """No live link carries this parameter (revoked, mistyped, forged): nothing changed."""


@dataclass(frozen=True, slots=True)
class Opened:
    """The outcome of opening a link, and the delegate it named (None when it named nobody)."""

    outcome: LinkOpened
    delegate_id: str | None = None


class BindingService:
    """From binding on, a delegate's notices reach them in Telegram."""

    def __init__(
        self,
        bindings: Bindings,
        events: EventSink,
        clock: Clock,
        links: StartLinks | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.bindings, self.events, self.clock = bindings, events, clock
        self.links, self.audit = links, audit

    async def open_link(self, token: str, telegram_user_id: int, chat_id: int, username: str | None = None) -> Opened:
        """Bind the account that opened a delegate's personal link, once: a link opened again by the same account
        changes nothing; opened by another account (a forwarded invitation), it is refused and reported."""
        delegate_id = await self.links.resolve(token) if self.links is not None else None
        if delegate_id is None:
            return Opened(LinkOpened.UNKNOWN)
        current = await self.bindings.get(delegate_id)
        if current is not None:
            if current.telegram_user_id == telegram_user_id:
                return Opened(LinkOpened.ALREADY, delegate_id)
            return await self._refuse(delegate_id, telegram_user_id, LinkOpened.TAKEN)
        speaks_for = await self.bindings.delegate_for(telegram_user_id)
        if speaks_for is not None and speaks_for != delegate_id:
            return await self._refuse(delegate_id, telegram_user_id, LinkOpened.OTHER_DELEGATE)
        await self.bind(delegate_id, telegram_user_id, chat_id, username)
        await self._log("telegram.bound", delegate_id, telegram_user_id)
        return Opened(LinkOpened.BOUND, delegate_id)

    async def by_username(
        self, deployment: Deployment, telegram_user_id: int, chat_id: int, username: str | None
    ) -> Opened:
        """Bind, on a plain /start, the delegate whose YAML ``telegram`` is this account's username, when the
        commission allows it (``telegram.bind_by_username``) and neither is bound yet."""
        if not username or not deployment.commission.telegram.bind_by_username:
            return Opened(LinkOpened.UNKNOWN)
        wanted = username.lower().lstrip("@")
        matches = [
            d.id for d in deployment.delegates.values() if d.telegram and d.telegram.lower().lstrip("@") == wanted
        ]
        if len(matches) != 1 or await self.bindings.delegate_for(telegram_user_id) is not None:
            return Opened(LinkOpened.UNKNOWN)
        if await self.bindings.get(matches[0]) is not None:
            return Opened(LinkOpened.UNKNOWN)
        await self.bind(matches[0], telegram_user_id, chat_id, username)
        await self._log("telegram.bound.username", matches[0], telegram_user_id)
        return Opened(LinkOpened.BOUND, matches[0])

    async def _refuse(self, delegate_id: str, telegram_user_id: int, outcome: LinkOpened) -> Opened:
        await self._log(f"telegram.refused.{outcome.value}", delegate_id, telegram_user_id)
        await self.events.publish(BindingRefused(delegate_id, telegram_user_id, outcome.value))
        return Opened(outcome, delegate_id)

    async def _log(self, action: str, delegate_id: str, telegram_user_id: int) -> None:
        if self.audit is not None:
            entry = AuditEntry(
                at=self.clock.now(),
                actor=f"telegram:{telegram_user_id}",
                action=action,
                subject=delegate_id,
            )
            await self.audit.append(entry)

    async def bind(self, delegate_id: str, telegram_user_id: int, chat_id: int, username: str | None = None) -> None:
        """Bind the account (moving it from another delegate if it was theirs) and publish it."""
        binding = TelegramBinding(
            delegate_id=delegate_id,
            telegram_user_id=telegram_user_id,
            chat_id=chat_id,
            username=username,
            bound_at=self.clock.now(),
        )
        await self.bindings.bind(binding)
        await self.events.publish(AccountBound(delegate_id, True))

    async def unbind(self, delegate_id: str) -> bool:
        """Remove the delegate's binding; return whether there was one."""
        removed = await self.bindings.unbind(delegate_id)
        if removed:
            await self.events.publish(AccountBound(delegate_id, False))
        return removed


class StartLinks:
    """Each delegate's personal deep link into the bot, ``https://t.me/<bot>?start=b…``, and which delegate a
    ``/start`` parameter names.

    The token is derived from the server's secret and the link's generation (``domain.links.start_token``):
    nothing that binds an account is stored, ``plenary links`` prints the same link every time, and
    ``plenary links --rotate DELEGATE`` revokes it in every process at once (the generations are read from
    the database on every ``/start``, which is rare).
    """

    def __init__(
        self,
        links: Links,
        bindings: Bindings,
        deployment: Callable[[], Deployment | None],
        secret: bytes = b"",
        bot_username: str | None = None,
    ) -> None:
        self.links, self.bindings, self.deployment = links, bindings, deployment
        self.secret, self.bot_username = secret, bot_username

    def _token(self, delegate_id: str, generations: Mapping[tuple[str, str], int]) -> str:
        return start_token(self.secret, delegate_id, generations.get((LinkScope.TELEGRAM.value, delegate_id), 0))

    def url(self, token: str) -> str | None:
        """The deep link for a token, when the bot's username is known."""
        return f"https://t.me/{self.bot_username}?start={token}" if self.bot_username else None

    async def tokens(self) -> dict[str, str]:
        """Every delegate's current token, by delegate id."""
        deployment = self.deployment()
        if deployment is None:
            return {}
        generations = await self.links.generations()
        return {d: self._token(d, generations) for d in deployment.delegates}

    async def resolve(self, token: str) -> str | None:
        """The delegate whose live link carries this ``/start`` parameter; None for any other (revoked, forged)."""
        if not token.startswith(START_PREFIX) or len(token) > 64:
            return None
        for delegate_id, current in (await self.tokens()).items():
            if hmac.compare_digest(current, token):
                return delegate_id
        return None

    async def personal_links(self, delegate_id: str) -> dict[str, str]:
        """The link to put in a delegate's invitation, while their account is not bound yet."""
        if not self.bot_username or self.deployment() is None or await self.bindings.get(delegate_id) is not None:
            return {}
        generations = await self.links.generations()
        url = self.url(self._token(delegate_id, generations))
        return {"telegram": url} if url else {}


class Accounts:
    """Implements ``domain.ports.Bindings`` over the stored bindings, knowing who speaks for whom from memory.

    Every update asks which delegate its sender is; the answer changes only when an account is bound or
    unbound, which publishes ``AccountBound`` here at once and in every other process through the change log
    (within its poll, at once on PostgreSQL). On that event everything known is forgotten and read again.
    """

    LIMIT = 20_000
    """Accounts remembered at most (strangers included); past it, the memory starts afresh."""

    def __init__(self, bindings: Bindings) -> None:
        self.bindings = bindings
        self._delegates: dict[int, str | None] = {}

    def follow(self, bus: EventBus) -> None:
        """Forget what is known whenever an account is bound or unbound, in any process."""
        bus.subscribe(AccountBound, self._forget)

    async def _forget(self, event: AccountBound) -> None:
        self._delegates.clear()

    async def bind(self, binding: TelegramBinding) -> None:
        """Bind (and forget what is known)."""
        await self.bindings.bind(binding)
        self._delegates.clear()

    async def get(self, delegate_id: str) -> TelegramBinding | None:
        """A delegate's binding, read from the database."""
        return await self.bindings.get(delegate_id)

    async def delegate_for(self, telegram_user_id: int) -> str | None:
        """The delegate an account speaks for, if any."""
        if telegram_user_id in self._delegates:
            return self._delegates[telegram_user_id]
        delegate_id = await self.bindings.delegate_for(telegram_user_id)
        if len(self._delegates) >= self.LIMIT:
            self._delegates.clear()
        self._delegates[telegram_user_id] = delegate_id
        return delegate_id

    async def unbind(self, delegate_id: str) -> bool:
        """Unbind (and forget what is known)."""
        removed = await self.bindings.unbind(delegate_id)
        self._delegates.clear()
        return removed
