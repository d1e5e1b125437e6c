"""A summary the secretariat reviews before it goes out (``summary: review``): the draft to its accounts with
Publish and Edit, corrections (from the chat or a file), and the Publish that sends what was reviewed.

The draft is a notice like any other (the plan's ``…:summary:draft:~chat<id>``, due when the summary would be),
composed from the facts when it is sent; its Publish button carries the summary's fingerprint
(``domain.summary_changes.fingerprint``), and a Publish whose draft no longer says what the facts say publishes
nothing and offers the current draft instead. A correction made before publication sends a new draft
(``draft-<fingerprint>``: the same summary twice is one draft); one made after it, the corrected summary
(``SummaryService.reissue``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from domain.callbacks import short, sign
from domain.delivery import Button, Image, Message
from domain.deployment import format_path
from domain.events import SessionClosed
from domain.notices import NoticeKind, chat_recipient, draft_detail
from domain.outbox import due_now
from domain.summary_changes import Correction, fingerprint
from domain.summary_edits import SummaryEdits
from services.summaries import SummaryRefused, SummaryService

log = logging.getLogger(__name__)

REVIEW_ACTIONS = ("sp", "se")
"""A draft's buttons: ``sp:<session>:<fingerprint>`` publish, ``se:<session>`` edit."""


@dataclass(frozen=True, slots=True)
class Approval:
    """What a Publish did: ``published`` (version 1, sent to ``queued`` delegates), ``already`` (``version``
    was published before), ``changed`` (nothing: the facts say something else than the draft did, whose
    fingerprint is now ``fingerprint``)."""

    outcome: Literal["published", "already", "changed"]
    version: int
    fingerprint: str
    queued: int = 0


@dataclass(frozen=True, slots=True)
class Edited:
    """What a file of corrections did: how many were recorded, and then ``draft`` (a new draft to review
    was sent), ``corrected`` (the corrected summary, ``version``, went out with ``correction``), ``unchanged``
    (published, and the summary says the same) or ``recorded`` (nothing published or to review yet)."""

    recorded: int
    outcome: Literal["draft", "corrected", "unchanged", "recorded"]
    version: int = 0
    correction: Correction | None = None


def review_buttons(say: Callable[[str], str], secret: bytes, session_id: str, said: str) -> tuple[tuple[Button, ...]]:
    """A draft's buttons, signed under the server's secret: Publish (what the draft says: its fingerprint ``said``)
    and Edit (``REVIEW_ACTIONS``), labelled by ``say(key)``."""
    key = short(session_id)
    return (
        (
            Button(say("button.publish"), sign(secret, "sp", key, said)),
            Button(say("button.edit"), sign(secret, "se", key)),
        ),
    )


class SummaryReview:
    """The secretariat's review of summaries, over ``SummaryService``."""

    def __init__(self, summaries: SummaryService) -> None:
        self.summaries = summaries
        self._drafts: dict[tuple[str, str, str], tuple[Message, tuple[Image, ...]]] = {}
        """Each draft's notice, by session, fingerprint and language: written once for the secretariat's accounts."""

    def reviewed(self, session_id: str) -> bool:
        """Whether the session's summary waits for the secretariat's Publish."""
        return self.summaries.session(session_id).reviewed

    async def closed(self, event: SessionClosed) -> None:
        """The secretariat closed a session: its summary goes out now, or its draft to review."""
        if self.reviewed(event.session_id):
            await self.send_draft(event.session_id)
        else:
            await self.summaries.send_now(event.session_id)

    async def send_draft(self, session_id: str, fingerprint_: str | None = None, chats: list[int] | None = None) -> int:
        """Queue the draft for the secretariat's accounts (or ``chats``): the plan's own (keyed as the plan keys
        it) or, with ``fingerprint_``, the draft of that summary; how many were queued."""
        deployment = self.summaries.deployment_of(session_id)
        now, detail = self.summaries.clock.now(), draft_detail(fingerprint_)
        targets = chats if chats is not None else deployment.commission.secretariat.telegram_admins
        items = [
            due_now(NoticeKind.SUMMARY, session_id, chat_recipient(chat), ("telegram",), now, detail)
            for chat in targets
        ]
        return await self.summaries.queue(items)

    async def draft(self, session_id: str, language: str) -> tuple[Message, tuple[Image, ...], str]:
        """The draft as the secretariat reads it (the summary as of now, in short, with its chart), and its
        fingerprint; ``SummaryRefused`` once the summary is published (the draft is no longer worth sending)."""
        found = await self.summaries.latest(session_id)
        if found is not None:
            raise SummaryRefused(f"the summary of {session_id} is already published (version {found[0]})")
        summary = await self.summaries.compose(session_id)
        said = fingerprint(summary)
        chosen = self.summaries.language_for(session_id, language)
        key = (session_id, said, chosen)
        if key not in self._drafts:
            self._drafts[key] = await asyncio.to_thread(self.summaries.draft_notice, summary, chosen)
        message, images = self._drafts[key]
        return message, images, said

    async def approve(self, session_id: str, reviewed: str, by: str) -> Approval:
        """Publish the summary if it still says what the draft with fingerprint ``reviewed`` said: then it goes
        to every delegate its policy names, the chats and the press, and is kept in the archive."""
        found = await self.summaries.latest(session_id)
        if found is not None:
            return Approval("already", found[0], fingerprint(found[1]))
        summary = await self.summaries.compose(session_id)
        said = fingerprint(summary)
        if said != reviewed:
            return Approval("changed", 0, said)
        version, kept, fresh = await self.summaries.publish_first(session_id, approved=summary)
        if not fresh:  # another account's Publish came first
            return Approval("already", version, fingerprint(kept))
        queued = await self.summaries.send_now(session_id)
        log.info("the summary of %s was published by %s after review (%s)", session_id, by, said)
        return Approval("published", version, said, queued)

    async def edit(self, session_id: str, edits: SummaryEdits, by: str) -> Edited:
        """Record the corrections (all, or none when one is refused: ``SummaryRefused`` names it), then send what
        follows from them: a new draft, the corrected summary, or nothing yet."""
        deployment = self.summaries.deployment_of(session_id)
        session = deployment.sessions[session_id]
        invited = set(deployment.invitations.get(session_id, ()))
        problems = edits.problems(invited, len(session.agenda))
        if problems:
            said = (f"{format_path(path)}: {message}" if path else message for path, message in problems)
            raise SummaryRefused("; ".join(said))
        attendance = self.summaries.attendance
        for change in edits.attendance:
            await attendance.correct(session_id, change.delegate, change.presence, by, change.note)
        for decision in edits.decisions:
            await self.summaries.decide(session_id, decision.item, decision.text, by)
        recorded = len(edits.attendance) + len(edits.decisions)
        if await self.summaries.latest(session_id) is not None:
            done = await self.summaries.reissue(session_id)
            if done is None:
                return Edited(recorded, "unchanged")
            return Edited(recorded, "corrected", done[0], done[1])
        return Edited(recorded, "draft" if await self.redraft(session_id) else "recorded")

    async def redraft(self, session_id: str) -> bool:
        """After a correction: a summary waiting for review (its session over, nothing published yet) gets a new
        draft for the secretariat's accounts (the same summary twice is one draft); whether it did."""
        session = self.summaries.session(session_id)
        if not session.reviewed or session.ends_at > self.summaries.clock.now():
            return False
        if await self.summaries.latest(session_id) is not None:
            return False
        await self.send_draft(session_id, fingerprint(await self.summaries.compose(session_id)))
        return True
