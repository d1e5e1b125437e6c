"""The calendar port's implementation: icalendar builds the invitations and the feeds."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from domain.delivery import CalendarPart
from domain.deployment import Deployment
from domain.ledger import SessionRecord
from domain.model import Delegate, Session
from integrations.calendar.events import invitation_part
from integrations.calendar.feeds import personal_feed, public_feed


class IcsCalendars:
    """Implements ``domain.ports.Calendars`` with the icalendar library."""

    def invitation(
        self,
        deployment: Deployment,
        session: Session,
        delegate: Delegate,
        *,
        sequence: int,
        stamp: datetime,
        cancel: bool,
        join_url: str | None = None,
    ) -> CalendarPart:
        """The iMIP REQUEST (or CANCEL) for one delegate; ``join_url``: their own link into the meeting."""
        return invitation_part(
            deployment, session, delegate, sequence=sequence, stamp=stamp, cancel=cancel, join_url=join_url
        )

    def personal_feed(
        self,
        deployment: Deployment,
        sessions: list[Session],
        records: Mapping[str, SessionRecord],
        *,
        language: str,
        stamp: datetime,
        heads_only_deadlines: bool,
        notes: Mapping[str, str] | None = None,
    ) -> bytes:
        """A delegate's or delegation's feed."""
        return personal_feed(
            deployment,
            sessions,
            records,
            language=language,
            stamp=stamp,
            heads_only_deadlines=heads_only_deadlines,
            notes=notes,
        )

    def public_feed(self, deployment: Deployment, records: Mapping[str, SessionRecord], *, stamp: datetime) -> bytes:
        """The public calendar."""
        return public_feed(deployment, records, stamp=stamp)
