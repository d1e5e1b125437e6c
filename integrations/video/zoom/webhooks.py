"""Zoom's webhooks: the signature and timestamp checked, the URL validation answered, a participant's event read.

``x-zm-signature`` = ``v0=`` + hex HMAC-SHA256(secret token, ``v0:{x-zm-request-timestamp}:{raw body}``), the
timestamp in seconds; one more than five minutes away from its arrival (either way) is refused as a replay.
``endpoint.url_validation`` is answered ``{"plainToken", "encryptedToken": hex HMAC-SHA256(secret token,
plainToken)}``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from domain.video import Participant, VideoEvent, VideoEventKind, WebhookReading, WebhookRequest
from integrations.video import header
from integrations.video.zoom.api import Meeting

TOLERANCE = 300
"""Seconds a webhook's timestamp may be away from its arrival."""
KINDS = {"meeting.participant_joined": VideoEventKind.JOINED, "meeting.participant_left": VideoEventKind.LEFT}


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """Zoom's ``x-zm-signature`` of a webhook."""
    message = f"v0:{timestamp}:".encode() + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def verify(request: WebhookRequest, secrets: Iterable[str]) -> tuple[list[str], WebhookReading | None]:
    """The secrets that signed the request (compared in constant time), or the 401 to answer."""
    timestamp = header(request.headers, "x-zm-request-timestamp") or ""
    given = (header(request.headers, "x-zm-signature") or "").encode()
    matched = [s for s in secrets if hmac.compare_digest(given, signature(s, timestamp, request.body).encode())]
    if not timestamp or not matched:
        return [], WebhookReading(status=401, refused="the signature is missing or matches no webhook_secret")
    if not timestamp.isdigit() or abs(request.received_at.timestamp() - int(timestamp)) > TOLERANCE:
        return [], WebhookReading(status=401, refused="the timestamp is more than five minutes away (a replay?)")
    return matched, None


def validation(secret: str, message: Any) -> WebhookReading:
    """The answer to ``endpoint.url_validation``."""
    plain = message["payload"]["plainToken"]
    if not isinstance(plain, str):
        raise ValueError("plainToken is not a string")
    encrypted = hmac.new(secret.encode(), plain.encode(), hashlib.sha256).hexdigest()
    answer = json.dumps({"plainToken": plain, "encryptedToken": encrypted})
    return WebhookReading(status=200, body=answer, content_type="application/json")


def participant_event(event: str, meeting: Any, session_id: str, kept: Meeting) -> VideoEvent:
    """A ``meeting.participant_joined`` or ``_left`` of the session's meeting (``payload.object``)."""
    kind = KINDS[event]
    person = meeting["participant"]
    moment = person["join_time" if kind is VideoEventKind.JOINED else "leave_time"]
    platform_id = str(person.get("participant_uuid") or person.get("user_id") or "")
    if not isinstance(moment, str) or not platform_id:
        raise ValueError("a participant without a time or an id")
    at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    shown = person.get("email")
    email = shown if isinstance(shown, str) and "@" in shown else None  # empty, absent, or encrypted: none
    delegate = delegate_of(kept, person.get("registrant_id"), email)
    participant = Participant(platform_id, delegate, str(person.get("user_name") or ""), email)
    key = f"zoom:{meeting.get('uuid', '')}:{platform_id}:{event}:{moment}"
    return VideoEvent(session_id, kind, at if at.tzinfo else at.replace(tzinfo=UTC), key, participant)


def delegate_of(kept: Meeting, registrant_id: object, email: str | None) -> str | None:
    """The delegate whose registrant this is, by its id, else by its e-mail (case-insensitive; an empty, absent or
    encrypted one matches nobody)."""
    if isinstance(registrant_id, str) and registrant_id:
        for delegate, registrant in kept.registrants.items():
            if registrant.get("registrant_id") == registrant_id:
                return delegate
    if email and "@" in email:
        for delegate, registrant in kept.registrants.items():
            if registrant.get("email", "").casefold() == email.casefold():
                return delegate
    return None
