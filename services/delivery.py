"""Turning an outbox row into a delivery: the current configuration, the delegate's address, the message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from domain.callbacks import ANSWER_CODES, short, sign
from domain.delivery import Button, CalendarPart, Change, Delivery, Image, Message, NoticeObsolete
from domain.deployment import Deployment
from domain.model import Session, SessionStatus
from domain.notices import CALENDAR_KINDS, OUTSIDE, PRESS, NoticeKind, chat_recipient, is_draft, summary_version
from domain.outbox import ClaimedItem, OutboxItem, due_now
from domain.ports import Announcements, Bindings, Calendars, Clock, Phrases, Renderer
from domain.values import localize
from services.answers import choices
from services.summaries import SummaryRefused
from services.summary_review import review_buttons

ANNOUNCING = {
    NoticeKind.INVITATION,
    NoticeKind.AGENDA,
    NoticeKind.REMINDER,
    NoticeKind.DEADLINE,
    NoticeKind.START,
    NoticeKind.NUDGE,
}
"""Kinds that tell an invited delegate about a session that takes place: pointless once either stops being so."""
EXTRA = ("text", "substitute", "head")
"""What a notice made in the chat carries in its payload for its template (see ``Renderer.render``)."""
EMAIL_COPY = "/email"
"""What the key of a calendar message's e-mail copy ends with."""
ANSWERABLE = {NoticeKind.INVITATION, NoticeKind.UPDATE, NoticeKind.REMINDER, NoticeKind.NUDGE}
LINKED_ANSWERS = ANSWERABLE | {NoticeKind.AGENDA}
"""The e-mails that link to the delegate's answer page while answers are open (in Telegram: the buttons)."""
"""Kinds that carry the answer buttons in Telegram (while answers are open)."""


class DeliveryComposer:
    """Renders each notice with the configuration in force at the moment it is sent."""

    def __init__(
        self,
        bindings: Bindings,
        announcements: Announcements,
        renderer: Renderer,
        calendars: Calendars,
        clock: Clock,
        deployment: Callable[[], Deployment],
        console_telegram: bool,
        links: Callable[[str], Awaitable[dict[str, str]]] | None = None,
        phrases: Phrases | None = None,
        secret: Callable[[], bytes] = lambda: b"",
        answer_link: Callable[[str, str], Awaitable[str]] | None = None,
        join_link: Callable[[str, str], Awaitable[str]] | None = None,
        summary: Callable[[str, str, int | None, bool], Awaitable[tuple[Message, tuple[Image, ...]]]] | None = None,
        draft: Callable[[str, str], Awaitable[tuple[Message, tuple[Image, ...], str]]] | None = None,
    ) -> None:
        self.phrases, self.secret, self.answer_link, self.join_link = phrases, secret, answer_link, join_link
        self.summary, self.draft = summary, draft
        """A session's published summary as a reader's notice, with its chart (``SummaryService.notice``); its
        draft for the secretariat to review, and the draft's fingerprint (``SummaryReview.draft``)."""
        self.bindings, self.announcements = bindings, announcements
        self.renderer, self.calendars = renderer, calendars
        self.links = links
        self.clock = clock
        self.deployment = deployment
        self.console_telegram = console_telegram
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")

    def close(self) -> None:
        """Stop the rendering thread."""
        self._pool.shutdown(wait=True)

    async def _address(self, channel: str, delegate_id: str, deployment: Deployment) -> str | None:
        delegate = deployment.delegates[delegate_id]
        if channel == "email":
            return delegate.email
        if channel == "telegram":
            binding = await self.bindings.get(delegate_id)
            if binding is not None:
                return str(binding.chat_id)
            if self.console_telegram and delegate.telegram:
                return f"@{delegate.telegram}"
        return None

    async def _sequence(self, item: ClaimedItem, session_id: str) -> int:
        """The SEQUENCE planned with the notice (older rows: the session's revision and the delegate's)."""
        planned = item.payload.get("sequence")
        if planned is not None:
            return int(planned)
        record = await self.announcements.get(session_id)
        held = await self.announcements.recipient(session_id, item.delegate_id)
        return (record.sequence if record else 0) + (held.revision if held else 0)

    async def _still_current(
        self, item: ClaimedItem, kind: NoticeKind, session: Session, deployment: Deployment
    ) -> None:
        """Raise ``NoticeObsolete`` for a queued notice that the configuration or a newer message overtook."""
        invited = deployment.is_invited(session.id, item.delegate_id)
        if kind in ANNOUNCING and (not invited or session.status is not SessionStatus.SCHEDULED):
            state = "no longer invited" if not invited else f"the session is {session.status.value}"
            raise NoticeObsolete(f"{state}: the {kind.value} is no longer worth sending")
        if kind is NoticeKind.UPDATE and not invited:
            raise NoticeObsolete("no longer invited: a cancellation tells them instead")
        if kind is NoticeKind.BROADCAST and not invited:
            raise NoticeObsolete("no longer invited: the secretariat's message is for those invited")
        planned = item.payload.get("sequence")
        if kind in CALENDAR_KINDS and planned is not None:
            held = await self.announcements.recipient(session.id, item.delegate_id)
            if held is not None and held.sequence is not None and int(planned) < held.sequence:
                raise NoticeObsolete(f"superseded: the delegate already has SEQUENCE {held.sequence}")

    async def compose(self, item: ClaimedItem, channel: str) -> Delivery | None:
        """Render the notice for one channel; None when the delegate has no address there."""
        deployment = self.deployment()
        if item.delegate_id.startswith(OUTSIDE):
            return await self._outside(item, channel, deployment)
        session = deployment.sessions.get(item.session_id)
        delegate = deployment.delegates.get(item.delegate_id)
        if session is None or delegate is None:
            return None
        address = await self._address(channel, delegate.id, deployment)
        if address is None:
            return None
        kind = NoticeKind(item.kind)
        await self._still_current(item, kind, session, deployment)
        changes = [Change(*c) for c in item.payload.get("changes", [])]
        detail = item.key.split(":")[2] if item.key.count(":") >= 3 else ""
        sequence: int | None = None
        if channel == "email" and kind in CALENDAR_KINDS:
            sequence = await self._sequence(item, session.id)
        renderer, calendars = self.renderer, self.calendars
        now = self.clock.now()
        links = await self.links(delegate.id) if self.links and kind is NoticeKind.INVITATION else {}
        if self.answer_link and channel == "email" and kind in LINKED_ANSWERS and now < session.answers_close_at:
            links = {**links, "rsvp": await self.answer_link(delegate.id, session.id)}
        if self.join_link and session.video is not None and session.video.personal and session.is_remote:
            links = {**links, "join": await self.join_link(delegate.id, session.id)}

        def build() -> tuple[Message, CalendarPart | None]:
            message = renderer.render(
                deployment,
                kind,
                session.id,
                delegate.id,
                detail=detail,
                changes=changes,
                links=links,
                now=now,
                extra={k: str(v) for k, v in item.payload.items() if k in EXTRA},
            )
            calendar = None
            if sequence is not None:
                calendar = calendars.invitation(
                    deployment,
                    session,
                    delegate,
                    sequence=sequence,
                    stamp=now,
                    cancel=kind is NoticeKind.CANCELLATION,
                    join_url=links.get("join"),
                )
            return message, calendar

        images: tuple[Image, ...] = ()
        if kind is NoticeKind.SUMMARY and self.summary is not None:  # the summary itself, as published
            message, images = await self.summary(session.id, delegate.language, summary_version(item.key), False)
            calendar = None
        else:
            # Rendering is CPU work: off the event loop (so timers and the HTTP server stay on time), on one
            # thread (so concurrent sends do not all compile the same templates at once).
            message, calendar = await asyncio.get_running_loop().run_in_executor(self._pool, build)
        name = localize(delegate.name, delegate.language, deployment.commission.language)
        buttons = self._buttons(session, message.language, now) if channel == "telegram" and kind in ANSWERABLE else ()
        return Delivery(
            key=item.key,
            kind=kind.value,
            address=address,
            name=name,
            message=message,
            calendar=calendar,
            headers=_headers(item),
            sender_name=_sender(deployment, message.language),
            buttons=buttons,
            images=images,
        )

    async def _outside(self, item: ClaimedItem, channel: str, deployment: Deployment) -> Delivery | None:
        """A summary for a chat the YAML names (in the chat's language, by default the commission's), its draft
        for a secretariat's account, or the public variant for the press (by e-mail, in the commission's
        language); None for anything else (nothing else goes to them)."""
        commission = deployment.commission
        if item.kind != NoticeKind.SUMMARY.value or self.summary is None or item.session_id not in deployment.sessions:
            return None
        press = item.delegate_id == PRESS
        if press:
            if channel != "email" or commission.press is None or commission.press.email is None:
                return None
            address, name = commission.press.email, localize(commission.press.name, commission.language)
            language = commission.language
        else:
            chat = item.delegate_id.removeprefix(chat_recipient(0).removesuffix("0"))
            if channel != "telegram" or not chat.lstrip("-").isdigit():
                return None
            address, name, language = chat, chat, commission.chat_language(int(chat))
        buttons: tuple[tuple[Button, ...], ...] = ()
        if is_draft(item.key):
            if press or self.draft is None:
                return None
            try:
                message, images, said = await self.draft(item.session_id, language)
            except SummaryRefused as exc:  # published meanwhile (from another account, or the command line)
                raise NoticeObsolete(f"the draft is no longer worth sending: {exc}") from None
            secret, phrases = self.secret(), self.phrases
            if phrases is not None and secret:
                buttons = review_buttons(lambda key: phrases.say(language, key), secret, item.session_id, said)
        else:
            version = summary_version(item.key)
            message, images = await self.summary(item.session_id, language, version, press)
        return Delivery(
            key=item.key,
            kind=item.kind,
            address=address,
            name=name,
            message=message,
            headers=_headers(item),
            sender_name=_sender(deployment, message.language),
            images=images,
            buttons=buttons,
        )

    def companion(self, item: ClaimedItem, channel: str, now: datetime) -> OutboxItem | None:
        """A calendar message delivered in Telegram is sent by e-mail as well (``telegram.calendar_by_email``),
        so that the delegate's calendar holds the session as it is; the e-mail is a notice of its own in the
        outbox (key ``…/email``), retried and recorded like any other."""
        if channel == "email" or item.kind not in CALENDAR_KINDS or "email" not in item.channels:
            return None
        deployment = self.deployment()
        delegate = deployment.delegates.get(item.delegate_id)
        if delegate is None or delegate.email is None or not deployment.commission.telegram.calendar_by_email:
            return None
        kind = NoticeKind(item.kind)
        copy = f"{item.key}{EMAIL_COPY}"
        return due_now(kind, item.session_id, item.delegate_id, ("email",), now, payload=dict(item.payload), key=copy)

    def _buttons(self, session: Session, language: str, now: datetime) -> tuple[tuple[Button, ...], ...]:
        """The answers the session's format allows, then its agenda, join link and calendar: one tap each.

        The same buttons as the bot's session card (``bot.keyboards``), signed under the server's secret.
        """
        secret, phrases = self.secret(), self.phrases
        if phrases is None or not secret or session.status is not SessionStatus.SCHEDULED:
            return ()
        key = short(session.id)
        rows: list[tuple[Button, ...]] = []
        if now < session.answers_close_at:
            for answer in choices(session):
                label = phrases.say(language, f"answer.{answer.value}")
                rows.append((Button(label, sign(secret, "a", key, ANSWER_CODES[answer])),))
        tools = [Button(phrases.say(language, "button.agenda"), sign(secret, "g", key))]
        if session.is_remote:
            tools.append(Button(phrases.say(language, "button.join"), sign(secret, "j", key)))
        tools.append(Button(phrases.say(language, "button.calendar"), sign(secret, "k", key)))
        return (*rows, tuple(tools))


def _headers(item: ClaimedItem) -> dict[str, str]:
    """What an e-mail says of the notice it carries."""
    return {"X-Plenary-Kind": item.kind, "X-Plenary-Session": item.session_id, "X-Plenary-Notice": item.key}


def _sender(deployment: Deployment, language: str) -> str:
    """Who a message is from: the secretariat's name, in the reader's language."""
    commission = deployment.commission
    return localize(
        commission.secretariat.name or commission.short_name or commission.name, language, commission.language
    )
