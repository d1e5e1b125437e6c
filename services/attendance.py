"""Recording attendance facts: a check-in at the venue, a join or leave on video, a secretariat's correction."""

from __future__ import annotations

from domain.events import AttendanceRecorded
from domain.ports import Attendance, Clock, EventSink
from domain.records import AttendanceEvent


class AttendanceService:
    """Every source's facts in one record; a fact its source already reported is recorded once."""

    def __init__(self, attendance: Attendance, events: EventSink, clock: Clock) -> None:
        self.attendance, self.events, self.clock = attendance, events, clock

    async def record(self, event: AttendanceEvent) -> bool:
        """Record the fact and publish it; False (and nothing published) when it was already recorded."""
        added = await self.attendance.add(event, self.clock.now())
        if added:
            await self.events.publish(AttendanceRecorded(event.session_id, event.delegate_id))
        return added
