"""Calendar feeds as the rules see them: which sessions a feed shows, and a feed ready to serve."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cached_property

from domain.deployment import Deployment
from domain.links import LinkScope
from domain.model import Session, SessionStatus


@dataclass(frozen=True)
class FeedLink:
    """A feed link of a delegate or a delegation."""

    scope: LinkScope
    subject: str
    token: str


@dataclass(frozen=True, eq=False)
class Feed:
    """A calendar feed ready to serve: its bytes, strong ETag and the true time of its last change."""

    body: bytes
    etag: str
    last_modified: datetime
    gzipped: bytes | None = None
    """The body compressed once, for clients that accept gzip."""

    @cached_property
    def headers(self) -> dict[str, str]:
        """The response headers every answer about this feed carries (formatted once)."""
        return {
            "ETag": self.etag,
            "Last-Modified": format_datetime(self.last_modified.astimezone(UTC), usegmt=True),
            "Cache-Control": "private, max-age=300",
            "Vary": "Accept-Encoding",
        }

    @cached_property
    def not_modified_headers(self) -> dict[str, str]:
        """What a 304 carries (RFC 9110 §15.4.5): the validator and the caching fields, nothing more."""
        return {key: value for key, value in self.headers.items() if key != "Last-Modified"}


def feed_sessions(
    deployment: Deployment, delegate_ids: set[str], now: datetime, keep_cancelled: timedelta
) -> list[Session]:
    """The sessions a feed shows: those inviting any of the delegates, and the sessions related to them.

    A cancelled session stays (struck through by clients) until ``keep_cancelled`` after its end: an event
    that simply disappears is dropped silently by some clients.
    """
    chosen: dict[str, Session] = {}
    for session in deployment.sessions.values():
        if delegate_ids & set(deployment.invitations[session.id]):
            chosen[session.id] = session
    for session in list(chosen.values()):
        for related in session.related:
            if related in deployment.sessions:
                chosen.setdefault(related, deployment.sessions[related])
    return [
        s
        for s in deployment.sessions.values()
        if s.id in chosen and not (s.status is SessionStatus.CANCELLED and s.ends_at + keep_cancelled < now)
    ]


def webcal(url: str) -> str:
    """The ``webcal://`` address a calendar app subscribes to for an http(s) feed, else an empty string."""
    if not url.startswith(("https://", "http://")):
        return ""
    return "webcal://" + url.split("://", 1)[1]
