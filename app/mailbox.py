"""Reading the secretariat's mailbox for calendar replies, when ``PLENARY_IMAP_URL`` is set: the reader
(``integrations.email.mailbox``) feeding the calendar-reply use case, in a loop the service supervises."""

from __future__ import annotations

import asyncio
import logging

from app.bootstrap import Services
from config.settings import Settings
from integrations.email.mailbox import MailboxAddress, MailboxError, MailboxReader
from integrations.email.replies import CalendarReply
from services.calendar_replies import Reply
from services.supervision import Loops, backoff

log = logging.getLogger(__name__)

LOOP = "mailbox"


def mailbox_reader(settings: Settings, services: Services) -> MailboxReader | None:
    """The reader the settings ask for; None without ``PLENARY_IMAP_URL``. ValueError for a URL that is wrong."""
    if settings.imap_url is None:
        return None
    password = settings.imap_password.get_secret_value() if settings.imap_password is not None else None
    address = MailboxAddress.parse(settings.imap_url.get_secret_value(), password)

    async def record(reply: CalendarReply) -> object:
        outcome = await services.calendar_replies.record(
            Reply(reply.uid, reply.sequence, reply.attendee, reply.partstat)
        )
        log.info("a calendar reply (%s) from the mailbox: %s", reply.partstat, outcome.value)
        return outcome

    return MailboxReader(address, record, poll=settings.imap_poll_seconds)


async def read_mailbox(reader: MailboxReader, loops: Loops) -> None:
    """Check the mailbox, wait for new mail (IDLE or the poll), again, until cancelled; failures are reported to
    the loops' health and backed off from."""
    loops.register(LOOP)
    log.info("reading calendar replies from %s", reader.address.describe())
    try:
        while True:
            try:
                await reader.check()
            except MailboxError as exc:
                delay = backoff(loops.failed(LOOP, str(exc)), first=5.0, cap=300.0)
                log.warning("cannot read the mailbox (%s); trying again in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            loops.ok(LOOP, next_within=reader.poll * 2 + 60)
            await reader.wait(reader.poll)
    finally:
        await reader.close()
