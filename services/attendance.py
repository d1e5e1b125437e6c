"""Recording attendance facts (a check-in at the venue, a join or leave on video, a secretariat's correction) and
reading them back as the session's live table by state and agency, with its quorum.

Every fact is stored as it came, with its source; nothing is overwritten: a correction is one more fact (with
who made it and why, also in the audit log), and the table is computed from all of them
(``domain.attendance``). A participant whose platform says they are a delegate counts as that delegate only if
invited to the session; anyone else is a guest. When a fact makes a running session gain or lose its quorum,
``QuorumChanged`` is published at once: the quorum of a running session is kept up fact by fact
(``domain.attendance_live``), not computed again from all of its facts for every burst of them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.attendance import AttendanceTable, attendance
from domain.attendance_live import LiveQuorum
from domain.deployment import Deployment
from domain.events import AttendanceRecorded, QuorumChanged
from domain.model import Session
from domain.ports import Attendance, Audit, Clock, Closures, EventSink, Substitutions
from domain.records import AttendanceEvent, AttendanceKind, AttendanceSource, AuditEntry
from domain.video import VideoEvent, VideoEventKind
from services.batches import GroupCommit

log = logging.getLogger(__name__)

CORRECTION_KINDS = {
    "in-person": AttendanceKind.IN_PERSON,
    "remote": AttendanceKind.REMOTE,
    "absent": AttendanceKind.ABSENT,
}
"""What the secretariat may say of a delegate, as written on the command line and in the chat."""

LINGER = 0.02
"""Seconds a write of facts may wait for the webhooks already on their way, to write them together."""
RESYNC = 30.0
"""Seconds a live quorum is kept up from this process's own facts before all of them are read again."""

_VIDEO_KINDS = {
    VideoEventKind.JOINED: AttendanceKind.JOIN,
    VideoEventKind.LEFT: AttendanceKind.LEAVE,
    VideoEventKind.ENDED: AttendanceKind.ENDED,
}


class AttendanceRefused(ValueError):
    """A correction that names no invited delegate, an unknown session or guest: nothing was recorded."""


class AttendanceService:
    """Every source's facts in one record; a fact its source already reported is recorded once."""

    def __init__(
        self,
        attendance: Attendance,
        events: EventSink,
        clock: Clock,
        deployment: Callable[[], Deployment | None] = lambda: None,
        substitutions: Substitutions | None = None,
        closures: Closures | None = None,
        audit: Audit | None = None,
    ) -> None:
        self.attendance, self.events, self.clock, self.deployment = attendance, events, clock, deployment
        self.substitutions, self.closures, self.audit = substitutions, closures, audit
        self._quorate: dict[str, bool] = {}
        """Whether each running session was quorate when last looked at, to tell when that changes."""
        self._dirty: set[str] = set()
        self.watch_every = 1.0
        """Seconds between two looks at the quorum while facts keep coming."""
        self._watcher: asyncio.Task[None] | None = None
        self._live: dict[str, _Kept] = {}
        """Each running session's live quorum, kept up from this process's facts between two reads of all."""
        self._fresh: dict[str, list[AttendanceEvent]] = {}
        """The facts this process recorded since the last look, for the sessions it keeps a live quorum of."""
        self._together = GroupCommit(self._write, linger=LINGER)

    async def record(self, event: AttendanceEvent) -> bool:
        """Record the fact and publish it; False (and nothing published) when it was already recorded."""
        added = await self.attendance.add(event, self.clock.now())
        if added:
            await self.events.publish(AttendanceRecorded(event.session_id))
            self._kept([event])
            self._changed({event.session_id})
        return added

    async def record_video(self, events: Sequence[VideoEvent]) -> int:
        """Record what a platform said happened; how many facts were new (a delivery repeated is not). Facts
        that arrive together (concurrent webhooks) are written together: one transaction, one statement."""
        if not events:
            return 0
        return await self._together(self._facts(events))

    def _facts(self, events: Sequence[VideoEvent]) -> list[AttendanceEvent]:
        deployment = self.deployment()
        facts = []
        for video in events:
            who = video.participant
            named = who.delegate_id if who is not None else None
            delegate_id = named if deployment is not None and deployment.is_invited(video.session_id, named) else None
            if who is not None and who.delegate_id and delegate_id is None:
                log.warning("a video participant named as %r, who is not invited, is kept as a guest", who.delegate_id)
            state = deployment.delegates[delegate_id].state if deployment is not None and delegate_id else None
            facts.append(
                AttendanceEvent(
                    session_id=video.session_id,
                    delegate_id=delegate_id,
                    state=state,
                    source=AttendanceSource.VIDEO,
                    kind=_VIDEO_KINDS[video.kind],
                    occurred_at=video.at,
                    external_id=video.stored_key,
                    participant_id=who.platform_id[:200] if who is not None else None,
                    participant_name=(who.name or None) if who is not None else None,
                    room=video.room,
                )
            )
        return facts

    async def _write(self, batches: Sequence[list[AttendanceEvent]]) -> list[int]:
        """The facts of several webhooks in one transaction, with their change events (the repository logs them
        with the facts: on SQLite, one transaction at once)."""
        facts = [fact for batch in batches for fact in batch]
        new = await self.attendance.add_many(facts, self.clock.now(), self.events.origin)
        added = [fact for fact, fresh in zip(facts, new, strict=True) if fresh]
        await self.events.logged(AttendanceRecorded.of(f.session_id for f in added))
        self._kept(added)
        self._changed({f.session_id for f in added})
        counts, position = [], 0
        for batch in batches:
            counts.append(sum(new[position : position + len(batch)]))
            position += len(batch)
        return counts

    def _changed(self, sessions: set[str]) -> None:
        """Look at these sessions' quorum soon, once for all the facts that came meanwhile."""
        self._dirty |= sessions
        if self._dirty and (self._watcher is None or self._watcher.done()):
            self._watcher = asyncio.create_task(self._watch_changed())

    async def _watch_changed(self) -> None:
        """Look at once; while facts keep coming (a platform's burst), again every ``watch_every`` seconds, not
        for each of them: the table is computed from all the session's facts."""
        while self._dirty:
            sessions, self._dirty = self._dirty, set()
            began = time.monotonic()
            for session_id in sorted(sessions):
                try:
                    await self._watch(session_id)
                except Exception:  # the database was away: the next fact looks again
                    log.exception("could not look at the quorum of %s", session_id)
            if self._dirty:  # at most a tenth of the time on it, however many facts a session has
                await asyncio.sleep(max(self.watch_every, 9 * (time.monotonic() - began)))

    async def settled(self) -> None:
        """Wait until the quorum has been looked at for every fact recorded so far."""
        while self._watcher is not None and not self._watcher.done():
            await asyncio.shield(self._watcher)

    async def table(self, session_id: str, now: datetime | None = None) -> AttendanceTable | None:
        """The session's attendance now (or at ``now``); None for a session not in the configuration."""
        read = await self.record_of(session_id, now)
        return read[0] if read is not None else None

    async def record_of(
        self, session_id: str, now: datetime | None = None
    ) -> tuple[AttendanceTable, list[AttendanceEvent], datetime | None] | None:
        """The session's table now (or at ``now``), the facts it was computed from, and when the secretariat
        closed the session, if it did; None for a session not in the configuration."""
        deployment = self.deployment()
        session = deployment.sessions.get(session_id) if deployment is not None else None
        if deployment is None or session is None:
            return None
        facts = await self.attendance.for_session(session_id)
        closed = await self.closures.closed_at(session_id) if self.closures is not None else None
        substitutions = await self.substitutions.for_session(session_id) if self.substitutions is not None else []
        replaced = {s.substitute_id: s.delegate_id for s in substitutions}
        moment = now or self.clock.now()
        return attendance(deployment, session, facts, moment, ended_at=closed, replaced=replaced), facts, closed

    async def correct(
        self, session_id: str, delegate_id: str, presence: str, by: str, note: str | None = None
    ) -> AttendanceTable:
        """Say how a delegate took part (``in-person``, ``remote``, ``absent``), whatever the sources say."""
        kind = CORRECTION_KINDS.get(presence)
        if kind is None:
            raise AttendanceRefused(f"{presence!r} is not one of {', '.join(CORRECTION_KINDS)}")
        deployment = self._invited(session_id, delegate_id)
        await self._correct(session_id, delegate_id, deployment.delegates[delegate_id].state, kind, None, by, note)
        await self.settled()
        table = await self.table(session_id)
        assert table is not None
        return table

    async def assign(
        self, session_id: str, participant_id: str, delegate_id: str, by: str, note: str | None = None
    ) -> AttendanceTable:
        """Say that a video guest was a delegate: their time on the call becomes the delegate's."""
        deployment = self._invited(session_id, delegate_id)
        table = await self.table(session_id)
        assert table is not None
        if participant_id not in {g.participant_id for g in table.guests}:
            raise AttendanceRefused(f"no guest {participant_id!r} on the call of {session_id}")
        state = deployment.delegates[delegate_id].state
        await self._correct(session_id, delegate_id, state, AttendanceKind.ASSIGN, participant_id, by, note)
        table = await self.table(session_id)
        assert table is not None
        return table

    def _invited(self, session_id: str, delegate_id: str) -> Deployment:
        deployment = self.deployment()
        if deployment is None or session_id not in deployment.sessions:
            raise AttendanceRefused(f"unknown session {session_id!r}")
        if not deployment.is_invited(session_id, delegate_id):
            raise AttendanceRefused(f"{delegate_id!r} is not invited to {session_id}")
        return deployment

    async def _correct(
        self,
        session_id: str,
        delegate_id: str,
        state: str,
        kind: AttendanceKind,
        participant_id: str | None,
        by: str,
        note: str | None,
    ) -> None:
        now = self.clock.now()
        fact = AttendanceEvent(
            session_id=session_id,
            delegate_id=delegate_id,
            state=state,
            source=AttendanceSource.SECRETARIAT,
            kind=kind,
            occurred_at=now,
            participant_id=participant_id,
            recorded_by=by,
            note=note,
        )
        await self.record(fact)
        if self.audit is not None:
            details = {"kind": kind.value, "note": note or "", "participant": participant_id or ""}
            await self.audit.append(
                AuditEntry(
                    at=now, actor=by, action="attendance", subject=f"{session_id}/{delegate_id}", details=details
                )
            )

    async def _watch(self, session_id: str) -> None:
        """Publish ``QuorumChanged`` when a running session gains or loses its quorum."""
        deployment = self.deployment()
        session = deployment.sessions.get(session_id) if deployment is not None else None
        if deployment is None or session is None or (session.quorum or deployment.commission.quorum) is None:
            self._forget(session_id)  # no rule, nothing to tell: the facts need not be read
            return
        closed = await self.closures.closed_at(session_id) if self.closures is not None else None
        now = self.clock.now()
        if not session.starts_at <= now < (min(session.ends_at, closed) if closed is not None else session.ends_at):
            self._forget(session_id)
            return
        quorum = (await self._live_of(deployment, session)).at(now)
        before = self._quorate.get(session_id)
        self._quorate[session_id] = quorum.met
        if quorum.met != (before if before is not None else False):
            await self.events.publish(
                QuorumChanged(session_id, quorum.met, quorum.represented, quorum.required, quorum.states)
            )

    async def _live_of(self, deployment: Deployment, session: Session) -> LiveQuorum:
        """The session's live quorum, with every fact this process recorded since the last look; read again
        from all the facts when there is none yet for this configuration, when another process recorded one,
        or every ``RESYNC`` seconds."""
        kept, fresh = self._live.get(session.id), self._fresh.pop(session.id, [])
        if (
            kept is not None
            and kept.deployment is deployment  # the same configuration: the same session
            and not kept.stale
            and time.monotonic() - kept.read_at < RESYNC
        ):
            kept.live.add(fresh)
            return kept.live
        self._fresh[session.id] = []  # what is recorded while the facts are read: some of it may be read too
        read_at = time.monotonic()
        facts = await self.attendance.for_session(session.id)
        live = LiveQuorum(deployment, session)
        live.add(facts)
        live.add(self._fresh.pop(session.id, []))  # a fact read and given again counts once
        self._live[session.id] = _Kept(deployment, live, read_at)
        return live

    def _kept(self, facts: Sequence[AttendanceEvent]) -> None:
        """Keep this process's new facts for the live quorum of the sessions it keeps one of."""
        for fact in facts:
            waiting = self._fresh.get(fact.session_id)
            if waiting is not None:
                waiting.append(fact)
            elif fact.session_id in self._live:
                self._fresh[fact.session_id] = [fact]

    async def heard(self, event: AttendanceRecorded) -> None:
        """Another process recorded a fact: the next look at that session reads all of its facts again."""
        kept = self._live.get(event.session_id)
        if kept is not None:
            kept.stale = True

    def _forget(self, session_id: str) -> None:
        self._quorate.pop(session_id, None)
        self._live.pop(session_id, None)
        self._fresh.pop(session_id, None)


@dataclass(slots=True)
class _Kept:
    """A session's live quorum and what it was read from."""

    deployment: Deployment
    live: LiveQuorum
    read_at: float
    stale: bool = False
