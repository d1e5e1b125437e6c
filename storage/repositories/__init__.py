"""The repositories, one per aggregate, over one engine; ``Store`` holds them all for the composition root."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.engine import Transactions, reader
from storage.repositories.announcements import AnnouncementRepository
from storage.repositories.answers import AnswerRepository
from storage.repositories.attendance import AttendanceRepository
from storage.repositories.audit import AuditRepository
from storage.repositories.bindings import BindingRepository
from storage.repositories.changes import ChangeLogRepository
from storage.repositories.conversation import (
    NudgeRepository,
    PreferenceRepository,
    SubstitutionRepository,
    UpdateRepository,
)
from storage.repositories.leadership import LeaseRepository
from storage.repositories.links import LinkRepository
from storage.repositories.outbox import OutboxRepository
from storage.repositories.secrets import SecretRepository
from storage.repositories.steering import BroadcastRepository, ClosureRepository
from storage.repositories.summaries import OutcomeRepository, SummaryRepository
from storage.repositories.video import VideoStateRepository

__all__ = [
    "AnnouncementRepository",
    "AnswerRepository",
    "AttendanceRepository",
    "AuditRepository",
    "BindingRepository",
    "ChangeLogRepository",
    "LeaseRepository",
    "LinkRepository",
    "NudgeRepository",
    "OutboxRepository",
    "OutcomeRepository",
    "PreferenceRepository",
    "SecretRepository",
    "Store",
    "SubstitutionRepository",
    "SummaryRepository",
    "UpdateRepository",
]


class Store:
    """Every repository over one engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.transactions = Transactions(engine)
        self.outbox = OutboxRepository(engine)
        self.announcements = AnnouncementRepository(engine)
        self.bindings = BindingRepository(engine)
        self.answers = AnswerRepository(engine)
        self.video = VideoStateRepository(engine)
        self.summaries = SummaryRepository(engine)
        self.outcomes = OutcomeRepository(engine)
        self.links = LinkRepository(engine)
        self.audit = AuditRepository(engine)
        self.changes = ChangeLogRepository(engine)
        self.attendance = AttendanceRepository(engine, self.changes)
        self.secrets = SecretRepository(engine)
        self.updates = UpdateRepository(engine)
        self.preferences = PreferenceRepository(engine)
        self.nudges = NudgeRepository(engine)
        self.substitutions = SubstitutionRepository(engine)
        self.broadcasts = BroadcastRepository(engine)
        self.closures = ClosureRepository(engine)
        self.leases = LeaseRepository(engine)

    async def close(self) -> None:
        """Finish the writes still under way (the updates' notes written behind), then close the connections."""
        await self.updates.settle()
        await self.engine.dispose()

    async def ping(self, within: float = 2.0) -> bool:
        """Whether the database answers a trivial query within ``within`` seconds."""
        try:
            async with asyncio.timeout(within), reader(self.engine).connect() as conn:
                await conn.execute(select(1))
        except (TimeoutError, OSError, SQLAlchemyError):
            return False
        return True
