"""Telegram bindings: which Telegram account speaks for which delegate."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import TelegramBinding
from storage.engine import reader
from storage.tables import telegram_bindings


class BindingRepository:
    """Implements ``domain.ports.Bindings`` over the ``telegram_bindings`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def bind(self, binding: TelegramBinding) -> None:
        """Bind (or re-bind) a delegate's Telegram account; an account moves to the delegate binding it last."""
        async with self.engine.begin() as conn:
            await conn.execute(
                telegram_bindings.delete().where(
                    (telegram_bindings.c.telegram_user_id == binding.telegram_user_id)
                    | (telegram_bindings.c.delegate_id == binding.delegate_id)
                )
            )
            await conn.execute(telegram_bindings.insert().values(**binding.model_dump()))

    async def get(self, delegate_id: str) -> TelegramBinding | None:
        """Return a delegate's binding, if any."""
        async with self.reader.connect() as conn:
            row = (
                await conn.execute(select(telegram_bindings).where(telegram_bindings.c.delegate_id == delegate_id))
            ).first()
        return TelegramBinding.model_validate(row._asdict()) if row else None

    async def delegate_for(self, telegram_user_id: int) -> str | None:
        """Return the delegate a Telegram account is bound to, if any."""
        async with self.reader.connect() as conn:
            return await conn.scalar(
                select(telegram_bindings.c.delegate_id).where(telegram_bindings.c.telegram_user_id == telegram_user_id)
            )

    async def unbind(self, delegate_id: str) -> bool:
        """Remove a delegate's binding; return whether there was one."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                telegram_bindings.delete().where(telegram_bindings.c.delegate_id == delegate_id)
            )
        return bool(result.rowcount)
