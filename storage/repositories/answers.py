"""Answers to invitations (RSVPs): the latest per delegate and session, and every one ever given."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import bindparam, select, tuple_
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import Rsvp
from storage.engine import connection, reader
from storage.repositories._sql import insert
from storage.tables import rsvp_history, rsvps


class AnswerRepository:
    """Implements ``domain.ports.Answers`` over the ``rsvps`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)
        # Built once, executed with each answer's values: what a bot press records, without building SQL anew.
        upsert: Any = insert(engine, rsvps)
        self._upsert = upsert.on_conflict_do_update(
            index_elements=["session_id", "delegate_id"],
            set_={k: upsert.excluded[k] for k in ("answer", "substitute_id", "comment", "answered_at", "source")},
        )
        self._history = rsvp_history.insert()
        self._get = select(rsvps).where(
            rsvps.c.session_id == bindparam("session"), rsvps.c.delegate_id == bindparam("delegate")
        )
        self._get_many = select(rsvps).where(
            tuple_(rsvps.c.session_id, rsvps.c.delegate_id).in_(bindparam("keys", expanding=True))
        )

    async def record(self, rsvp: Rsvp) -> None:
        """Record a delegate's answer, replacing an earlier one for the same session; the history keeps both."""
        await self.record_many([rsvp])

    async def record_many(self, rsvps: Sequence[Rsvp]) -> None:
        """Record answers in their order, each statement once for all of them (executemany)."""
        if not rsvps:
            return
        values = [rsvp.model_dump() for rsvp in rsvps]
        async with self.engine.begin() as conn:
            await conn.execute(self._upsert, values if len(values) > 1 else values[0])
            await conn.execute(self._history, values if len(values) > 1 else values[0])

    async def get(self, session_id: str, delegate_id: str) -> Rsvp | None:
        """A delegate's latest answer for a session."""
        async with connection(self.reader) as conn:
            row = (await conn.execute(self._get, {"session": session_id, "delegate": delegate_id})).first()
        return Rsvp.model_validate(row._asdict()) if row is not None else None

    async def get_many(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Rsvp]:
        """The latest answers of these (session, delegate) pairs, in one query."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        async with connection(self.reader) as conn:
            rows = await conn.execute(self._get_many, {"keys": wanted})
        return {(row.session_id, row.delegate_id): Rsvp.model_validate(row._asdict()) for row in rows}

    async def history(self, session_id: str, delegate_id: str) -> list[Rsvp]:
        """Every answer a delegate gave for a session, oldest first."""
        query = (
            select(*(rsvp_history.c[name] for name in Rsvp.model_fields))
            .where(rsvp_history.c.session_id == session_id, rsvp_history.c.delegate_id == delegate_id)
            .order_by(rsvp_history.c.id)
        )
        async with self.reader.connect() as conn:
            rows = await conn.execute(query)
        return [Rsvp.model_validate(row._asdict()) for row in rows]

    async def all(self) -> dict[tuple[str, str], Rsvp]:
        """Every recorded answer, by (session, delegate)."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(rsvps))
        return {(row.session_id, row.delegate_id): Rsvp.model_validate(row._asdict()) for row in rows}

    async def for_session(self, session_id: str) -> list[Rsvp]:
        """Return the answers recorded for a session, by delegate id."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(
                select(rsvps).where(rsvps.c.session_id == session_id).order_by(rsvps.c.delegate_id)
            )
        return [Rsvp.model_validate(row._asdict()) for row in rows]
