"""Answering from an e-mail: a page per delegate and session, linked from the invitation, agenda and reminders.

The link's token names the delegate and the session and is signed under the server's secret with the generation
of the delegate's answer links (``domain.links.answer_token``): ``plenary links --rotate DELEGATE`` revokes every
one of them, and a session that has ended takes no more. Opening the page changes nothing (mail scanners open
every link); only the form's POST records, carrying a value bound to the page and to a cookie the page set
(``form_token``), and it records through the same ``AnswerService`` as the bot's buttons, with the source ``web``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
from collections.abc import Callable

from domain.deployment import Deployment
from domain.links import LinkScope, answer_subject, answer_token, answer_token_valid
from domain.model import Delegate
from domain.pages import AnswerPage
from domain.ports import Clock, Links
from domain.records import RsvpAnswer, RsvpSource
from services.answers import Answer, AnswerService, choices

PATH = "/answer/"


class AnswerPages:
    """Opens a delegate's answer page from its token and records what its form sends."""

    def __init__(
        self,
        links: Links,
        answers: AnswerService,
        deployment: Callable[[], Deployment | None],
        clock: Clock,
        secret: Callable[[], bytes],
        base_url: str = "",
    ) -> None:
        self.links, self.answers, self.deployment, self.clock = links, answers, deployment, clock
        self.secret, self.base_url = secret, base_url.rstrip("/")

    async def _generation(self, delegate_id: str) -> int:
        return (await self.links.generations()).get((LinkScope.ANSWERS.value, delegate_id), 0)

    async def url(self, delegate_id: str, session_id: str) -> str:
        """The link to a delegate's page for a session, as the e-mails carry it."""
        token = answer_token(self.secret(), delegate_id, session_id, await self._generation(delegate_id))
        return f"{self.base_url}{PATH}{token}"

    async def open(self, token: str) -> AnswerPage | None:
        """The page a token opens; None for a forged, revoked or malformed token, an uninvited delegate, a session
        no longer in the configuration or over."""
        named, deployment = answer_subject(token), self.deployment()
        if named is None or deployment is None:
            return None
        delegate_id, session_id = named
        session, delegate = deployment.sessions.get(session_id), deployment.delegates.get(delegate_id)
        if session is None or delegate is None or not deployment.is_invited(session_id, delegate_id):
            return None
        now = self.clock.now()
        if now >= session.ends_at or not answer_token_valid(self.secret(), token, await self._generation(delegate_id)):
            return None
        return AnswerPage(
            token=token,
            deployment=deployment,
            delegate=delegate,
            session=session,
            offered=choices(session),
            current=await self.answers.current(session_id, delegate_id),
            answering=now < session.answers_close_at,
            substitutes=tuple(_substitutes(deployment, delegate, session_id)),
        )

    async def answer(self, page: AnswerPage, answer: str, substitute: str | None = None) -> AnswerPage:
        """Record what the form of an open page sent (an answer's value, and for a substitute, optionally who);
        the page again, with the outcome."""
        chosen = next((a for a in page.offered if a.value == answer), None)
        substitute_id = substitute or None
        if chosen is not RsvpAnswer.SUBSTITUTE:
            substitute_id = None
        if chosen is None or (substitute_id is not None and substitute_id not in {d.id for d in page.substitutes}):
            return dataclasses.replace(page, outcome=Answer.NOT_ALLOWED.value)
        done = await self.answers.answer(
            page.session.id, page.delegate.id, chosen, RsvpSource.WEB, substitute_id=substitute_id
        )
        return dataclasses.replace(page, current=done.current, outcome=done.outcome.value)

    def form_token(self, token: str, nonce: str) -> str:
        """The value the page's form carries: bound to the page's token and to the nonce in the reader's cookie."""
        digest = hmac.new(self.secret(), f"form\x1f{token}\x1f{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:18]).decode("ascii")

    def form_valid(self, token: str, nonce: str, given: str) -> bool:
        """Whether a POST carries the value of a page this reader's browser opened (constant time)."""
        return bool(nonce) and hmac.compare_digest(self.form_token(token, nonce).encode(), given.encode())


def _substitutes(deployment: Deployment, delegate: Delegate, session_id: str) -> list[Delegate]:
    invited = set(deployment.invitations.get(session_id, ()))
    return [d for d in deployment.delegates.values() if d.state == delegate.state and d.id not in invited]
