"""Feed links: the generation of each link (raised to revoke it) and when each feed last changed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import reader
from storage.repositories._sql import insert
from storage.tables import feed_links


class LinkRepository:
    """Implements ``domain.ports.Links`` over the ``feed_links`` table."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.reader = reader(engine)

    async def generations(self) -> dict[tuple[str, str], int]:
        """The generation of every feed link that was ever rotated (others are at 0)."""
        async with self.reader.connect() as conn:
            rows = await conn.execute(select(feed_links.c.scope, feed_links.c.subject, feed_links.c.generation))
        return {(scope, subject): generation for scope, subject, generation in rows}

    async def rotate(self, scope: str, subject: str, now: datetime) -> int:
        """Revoke a feed link by raising its generation; return the new generation."""
        where = (feed_links.c.scope == scope) & (feed_links.c.subject == subject)
        async with self.engine.begin() as conn:
            current = await conn.scalar(select(feed_links.c.generation).where(where))
            generation = (current or 0) + 1
            if current is None:
                await conn.execute(
                    feed_links.insert().values(scope=scope, subject=subject, generation=generation, rotated_at=now)
                )
            else:
                await conn.execute(
                    update(feed_links)
                    .where(where)
                    .values(generation=generation, rotated_at=now, etag=None, changed_at=None)
                )
        return generation

    async def changed_at(self, scope: str, subject: str, etag: str, now: datetime) -> datetime:
        """When this feed last changed: ``now`` if its ETag differs from the one recorded, else the recorded time."""
        where = (feed_links.c.scope == scope) & (feed_links.c.subject == subject)
        async with self.reader.connect() as conn:
            row = (await conn.execute(select(feed_links.c.etag, feed_links.c.changed_at).where(where))).first()
        if row is not None and row.etag == etag and row.changed_at is not None:
            changed: datetime = row.changed_at
            return changed
        stamp = now.replace(microsecond=0)
        async with self.engine.begin() as conn:
            if row is None:
                statement = insert(self.engine, feed_links).values(
                    scope=scope, subject=subject, generation=0, etag=etag, changed_at=stamp
                )
                await conn.execute(
                    statement.on_conflict_do_update(
                        index_elements=["scope", "subject"], set_={"etag": etag, "changed_at": stamp}
                    )
                )
            else:
                await conn.execute(update(feed_links).where(where).values(etag=etag, changed_at=stamp))
        return stamp
