"""What the bot keeps between updates: the updates handled, delegates' own choices, nudges, substitutions."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.records import Preferences, Substitution
from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import delegate_preferences, nudges, substitutions, telegram_updates

log = logging.getLogger(__name__)


class UpdateRepository:
    """Implements ``domain.ports.Updates`` over the ``telegram_updates`` table.

    Updates are noted in batches: those that arrive while a batch is being written go together in the next one,
    one transaction for all of them (a group commit). A lone update waits for nothing; a burst of presses no
    longer takes a turn of SQLite's writer each, and each still learns, from the primary key, whether it was first.

    On SQLite, whose file one process holds (``app.instance``), that process's memory decides at once (loaded
    from the table on first use) and the note is written behind, while the update is handled: ``noted`` waits
    for it, so that the update is acknowledged only once it is stored. A note that could not be stored is
    forgotten, so that Telegram's next delivery is handled. On PostgreSQL, shared by replicas, the primary key
    decides, before the update is handled.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._waiting: list[tuple[int, datetime, asyncio.Future[bool]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._local = engine.dialect.name == "sqlite"
        self._seen: dict[int, datetime] | None = None
        self._loading = asyncio.Lock()
        self._behind: dict[int, asyncio.Future[bool]] = {}

    async def first_time(self, update_id: int, now: datetime) -> bool:
        """Note an update; True when no process had noted it before."""
        if not self._local:
            return await self._batched(update_id, now)
        seen = await self._memory()
        if update_id in seen:
            return False
        seen[update_id] = now
        note = asyncio.ensure_future(self._batched(update_id, now))
        self._behind[update_id] = note
        note.add_done_callback(lambda done: self._stored(update_id, done))
        return True

    async def settle(self) -> None:
        """Wait for the notes still being written (before the connections close)."""
        if self._behind:
            await asyncio.gather(*self._behind.values(), return_exceptions=True)

    async def noted(self, update_id: int) -> None:
        """Wait until the note of an update is stored; raise what stopped it."""
        note = self._behind.get(update_id)
        if note is not None:
            await asyncio.shield(note)

    def _stored(self, update_id: int, note: asyncio.Future[bool]) -> None:
        if self._behind.get(update_id) is note:
            del self._behind[update_id]
        if note.cancelled() or note.exception() is not None:
            if self._seen is not None:
                self._seen.pop(update_id, None)
            log.warning("update %d could not be noted; its next delivery will be handled", update_id)

    async def _memory(self) -> dict[int, datetime]:
        async with self._loading:
            if self._seen is None:
                async with self.engine.connect() as conn:
                    rows = await conn.execute(select(telegram_updates.c.update_id, telegram_updates.c.received_at))
                    self._seen = {int(row.update_id): row.received_at for row in rows}
        return self._seen

    async def _batched(self, update_id: int, now: datetime) -> bool:
        noted: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((update_id, now, noted))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write())
        return await noted

    async def _write(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                first = await self._note({update_id: now for update_id, now, _ in reversed(batch)})
            except Exception as exc:  # the database failed: every update of the batch hears why
                for *_, noted in batch:
                    if not noted.done():
                        noted.set_exception(exc)
                continue
            for update_id, _, noted in batch:  # the same id twice in a batch: the second is a replay
                if not noted.done():
                    noted.set_result(update_id in first)
                first.discard(update_id)

    async def _note(self, received: dict[int, datetime]) -> set[int]:
        rows = [{"update_id": update_id, "received_at": at} for update_id, at in received.items()]
        statement = insert(self.engine, telegram_updates).values(rows)
        statement = statement.on_conflict_do_nothing(index_elements=["update_id"])
        async with self.engine.begin() as conn:
            result = await conn.execute(statement.returning(telegram_updates.c.update_id))
            return {int(row[0]) for row in result}

    async def prune(self, before: datetime) -> int:
        """Forget the updates received before ``before``."""
        if self._seen is not None:
            self._seen = {u: at for u, at in self._seen.items() if at >= before}
        async with self.engine.begin() as conn:
            result = await conn.execute(delete(telegram_updates).where(telegram_updates.c.received_at < before))
        return int(result.rowcount or 0)

    async def forget(self, update_id: int) -> None:
        """Forget one update (its handling failed)."""
        if self._seen is not None:
            self._seen.pop(update_id, None)
        async with self.engine.begin() as conn:
            await conn.execute(delete(telegram_updates).where(telegram_updates.c.update_id == update_id))


class PreferenceRepository:
    """Implements ``domain.ports.Preferences`` over the ``delegate_preferences`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def get(self, delegate_id: str) -> Preferences | None:
        """A delegate's choices, if any."""
        query = select(delegate_preferences).where(delegate_preferences.c.delegate_id == delegate_id)
        async with self.reader.connect() as conn:
            row = (await conn.execute(query)).first()
        return Preferences.model_validate(row._asdict()) if row is not None else None

    async def put(self, preferences: Preferences) -> None:
        """Keep a delegate's choices, replacing earlier ones."""
        statement = insert(self.engine, delegate_preferences).values(**preferences.model_dump())
        statement = statement.on_conflict_do_update(
            index_elements=["delegate_id"],
            set_={k: statement.excluded[k] for k in ("language", "timezone", "updated_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def all(self) -> dict[str, Preferences]:
        """Every delegate's choices."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(delegate_preferences))
        return {row.delegate_id: Preferences.model_validate(row._asdict()) for row in rows}


class NudgeRepository:
    """Implements ``domain.ports.Nudges`` over the ``nudges`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def last(self, session_id: str) -> dict[str, datetime]:
        """When each delegate nudged for this session was nudged last."""
        query = select(nudges.c.delegate_id, nudges.c.nudged_at).where(nudges.c.session_id == session_id)
        async with self.reader.connect() as conn:
            rows = await conn.execute(query)
        return {row.delegate_id: row.nudged_at for row in rows}

    async def record(self, session_id: str, delegate_ids: Sequence[str], at: datetime) -> None:
        """Note that these delegates were nudged at ``at``."""
        if not delegate_ids:
            return
        statement = insert(self.engine, nudges).values(
            [{"session_id": session_id, "delegate_id": d, "nudged_at": at} for d in delegate_ids]
        )
        statement = statement.on_conflict_do_update(
            index_elements=["session_id", "delegate_id"], set_={"nudged_at": statement.excluded.nudged_at}
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)


class SubstitutionRepository:
    """Implements ``domain.ports.Substitutions`` over the ``substitutions`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def name(self, substitution: Substitution) -> None:
        """Record a substitution, replacing an earlier one for the same member and session."""
        statement = insert(self.engine, substitutions).values(**substitution.model_dump())
        statement = statement.on_conflict_do_update(
            index_elements=["session_id", "delegate_id"],
            set_={k: statement.excluded[k] for k in ("substitute_id", "named_by", "named_at")},
        )
        async with self.engine.begin() as conn:
            await conn.execute(statement)

    async def withdraw(self, session_id: str, delegate_id: str) -> bool:
        """Undo a member's substitution."""
        async with self.engine.begin() as conn:
            result = await conn.execute(
                delete(substitutions).where(
                    substitutions.c.session_id == session_id, substitutions.c.delegate_id == delegate_id
                )
            )
        return bool(result.rowcount)

    async def for_session(self, session_id: str | None = None) -> list[Substitution]:
        """A session's substitutions (every session's, when None), by replaced member."""
        query = select(substitutions).order_by(substitutions.c.session_id, substitutions.c.delegate_id)
        if session_id is not None:
            query = query.where(substitutions.c.session_id == session_id)
        async with self.reader.connect() as conn:
            rows = await conn.execute(query)
        return [Substitution.model_validate(row._asdict()) for row in rows]
