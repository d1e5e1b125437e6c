"""What Plenary knows of a video platform: a meeting per session, a personal way in per delegate, and the
platform's join and leave events, read from its webhooks, as facts.

A participant is matched to a delegate only by the identity Plenary put in their link (BigBlueButton's
``external-user-id``, Jitsi's ``context.user.id``, Zoom's registrant), never by the name they show; anyone else
is a guest, kept apart until the secretariat says who they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class VideoEventKind(StrEnum):
    """What a platform's event says."""

    JOINED = "joined"
    LEFT = "left"
    ENDED = "ended"
    """The meeting ended: whoever is still on the call has left."""


@dataclass(frozen=True, slots=True)
class Participant:
    """Someone on a call, as the platform names them."""

    platform_id: str
    """The platform's own id of this participant in this meeting, the same in their join and their leave."""
    delegate_id: str | None
    """The delegate whose personal link they came by; None for a guest (a forwarded meeting link, a phone)."""
    name: str = ""
    email: str | None = None


@dataclass(frozen=True, slots=True)
class VideoEvent:
    """One event of a platform, for one of our sessions."""

    session_id: str
    kind: VideoEventKind
    at: datetime
    """When it happened, by the platform's clock (deliveries come late, twice and out of order)."""
    key: str
    """The same for every delivery of the same event, so that it is recorded once."""
    participant: Participant | None = None
    room: str | None = None
    """A breakout room's name: a move from the main room to a breakout room is not an absence."""

    @property
    def stored_key(self) -> str:
        """The key as the record keeps it (at most 200 characters): led by the moment in milliseconds, fixed
        width, so that the facts of a burst sort next to each other. A platform's keys are random within a
        moment (its participants' ids), and the record's index of them took a page of its own for nearly every
        fact, which was most of the cost of writing them (``python -m benchmarks.attendance``); the moment is
        the platform's, in the key already, so every delivery of an event gives the same key still."""
        return f"{round(self.at.timestamp() * 1000):013d}:{self.key}"[:200]


@dataclass(frozen=True, slots=True)
class Seat:
    """Who a personal link lets in."""

    delegate_id: str
    name: str
    email: str | None = None
    moderator: bool = False
    """The chair and the secretariat moderate."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """A webhook as it arrived, before anything of it is trusted."""

    url: str
    """Where it was sent, with its query string as the platform sent it: the whole URL, or (from the HTTP
    server) its path and query string."""
    headers: Mapping[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True, slots=True)
class WebhookReading:
    """What a platform's webhook says, once its signature is checked, and what to answer it."""

    status: int
    events: tuple[VideoEvent, ...] = ()
    body: str = ""
    content_type: str = "text/plain"
    refused: str | None = None
    """Why it was refused, for the log: never the secret, the signature or the body."""
    meta: Mapping[str, str] = field(default_factory=dict)
