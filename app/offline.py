"""The services a command of the command line works with, over the service's own store: the attendance and the
summaries, built as the running service builds them (its corrections audited, its decisions read), for the
configuration with the store's substitutions and preferences applied. What a command queues is sent by the
running service's dispatcher, which looks at the outbox every second."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from config.settings import Settings

if TYPE_CHECKING:
    from domain.deployment import Deployment
    from services.attendance import AttendanceService
    from services.summaries import SummaryService
    from storage.repositories import Store


@dataclass(frozen=True, slots=True)
class Offline:
    """What a command has: the store, the configuration in force, the attendance and the summaries."""

    store: Store
    deployment: Deployment
    attendance: AttendanceService
    summaries: SummaryService


@asynccontextmanager
async def offline(settings: Settings, base: Deployment, actor: str) -> AsyncIterator[Offline]:
    """Open the store (migrated first) and build the services; ``actor`` names who the events are by."""
    from app.clock import SystemClock
    from domain.roster import effective
    from messages.summary import SummaryDocuments
    from services.attendance import AttendanceService
    from services.events import EventBus
    from services.summaries import SummaryService
    from storage.archive import FileArchive
    from storage.engine import create_engine
    from storage.migrate import upgrade
    from storage.repositories import Store

    url = settings.resolved_database_url()
    await upgrade(url)
    store = Store(create_engine(url))
    try:
        deployment = effective(base, await store.substitutions.for_session(), await store.preferences.all())
        clock = SystemClock()
        events = EventBus(store.changes, clock, actor)
        attendance = AttendanceService(
            store.attendance, events, clock, lambda: deployment, store.substitutions, store.closures, store.audit
        )
        summaries = SummaryService(
            attendance,
            SummaryDocuments(),
            clock,
            lambda: deployment,
            store.outcomes,
            FileArchive(Path(settings.data_dir) / "summaries"),
            store.summaries,
            store.outbox,
        )
        yield Offline(store, deployment, attendance, summaries)
    finally:
        await store.close()
