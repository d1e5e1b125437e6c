"""Binding a delegate's Telegram account, and undoing it."""

from __future__ import annotations

from domain.events import AccountBound
from domain.ports import Bindings, Clock, EventSink
from domain.records import TelegramBinding


class BindingService:
    """From binding on, a delegate's notices reach them in Telegram."""

    def __init__(self, bindings: Bindings, events: EventSink, clock: Clock) -> None:
        self.bindings, self.events, self.clock = bindings, events, clock

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
