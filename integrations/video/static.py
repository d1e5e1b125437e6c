"""The ``static`` provider: one link for everyone (``video.url``), and no attendance from the platform."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.model import Session
from domain.video import Participant, Seat, WebhookReading, WebhookRequest
from integrations.video import VideoUnavailable


class StaticProvider:
    """The session's own link, the same for every seat; it has no webhooks and cannot say who is on the call."""

    name = "static"

    async def join_url(self, session: Session, seat: Seat, now: datetime) -> str:
        """The session's ``video.url``."""
        if session.video is None or session.video.url is None:
            raise VideoUnavailable(self.name, f"session {session.id} has no video link")
        return session.video.url

    async def read_webhook(self, sessions: Sequence[Session], request: WebhookRequest) -> WebhookReading:
        """There is no such webhook: 404, nothing read."""
        return WebhookReading(status=404, refused="a static video link sends no webhooks")

    async def present(self, session: Session) -> list[Participant] | None:
        """Unknown: a static link tells nothing."""
        return None

    async def keep_up(self, sessions: Sequence[Session], callback_url: str, now: datetime) -> None:
        """Nothing to keep up."""

    async def close(self) -> None:
        """Nothing to close."""
