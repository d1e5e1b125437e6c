"""Revoking a personal link: the old one stops working at once here, and within seconds in every other process."""

from __future__ import annotations

from domain.events import AccountBound, LinkRotated
from domain.links import LinkScope
from domain.ports import Bindings, Clock, EventSink, Links


class LinkService:
    """Rotates delegates' and delegations' feed links."""

    def __init__(self, links: Links, events: EventSink, clock: Clock, bindings: Bindings | None = None) -> None:
        self.links, self.events, self.clock, self.bindings = links, events, clock, bindings

    async def rotate(self, scope: LinkScope, subject: str) -> int:
        """Revoke the link of ``subject`` and issue a new one; return its generation."""
        generation = await self.links.rotate(scope.value, subject, self.clock.now())
        await self.events.publish(LinkRotated(scope.value, subject, generation))
        return generation

    async def rotate_delegate(self, delegate_id: str) -> bool:
        """Revoke every personal link of a delegate: their calendar feed's, their Telegram deep link, their
        answer pages' and their join links'; the Telegram account bound through the old link (perhaps not
        theirs: a forwarded invitation) is disconnected, and the delegate connects again with the new one.
        Whether an account was disconnected."""
        for scope in (LinkScope.DELEGATE, LinkScope.TELEGRAM, LinkScope.ANSWERS, LinkScope.JOIN):
            await self.rotate(scope, delegate_id)
        if self.bindings is None or not await self.bindings.unbind(delegate_id):
            return False
        await self.events.publish(AccountBound(delegate_id, False))
        return True
