"""The Dovecot double: a real IMAP server on loopback that a test can fill and read back."""

from __future__ import annotations

import asyncio
import imaplib
from pathlib import Path

import pytest

from tests.doubles.dovecot import dovecot_server

FIRST = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: First\r\n\r\nHello.\r\n"
SECOND = b"From: c@example.org\r\nTo: b@example.org\r\nSubject: Second\r\n\r\nAgain.\r\n"


def wrong_login(host: str, port: int, user: str, password: str) -> None:
    imap = imaplib.IMAP4(host, port, timeout=10)
    try:
        imap.login(user, password)
    finally:
        imap.shutdown()


async def test_dovecot_stores_and_reads_back_mail(tmp_path: Path) -> None:
    async with dovecot_server(tmp_path) as server:
        assert server.host == "127.0.0.1"
        assert server.port not in (143, 993)
        await server.append(FIRST)
        await server.append(SECOND, flags="\\Flagged")

        messages = await server.messages()

        assert [uid for uid, _, _ in messages] == [1, 2]
        assert [raw for _, _, raw in messages] == [FIRST, SECOND]
        assert all("\\Seen" not in flags for _, flags, _ in messages)
        assert "\\Flagged" in messages[1][1]
        # Reading used BODY.PEEK[]: still nothing seen.
        assert all("\\Seen" not in flags for _, flags, _ in await server.messages())
        assert await server.mailboxes() == ["INBOX"]

        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            await asyncio.to_thread(wrong_login, server.host, server.port, server.user, "not-the-password")
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            await asyncio.to_thread(wrong_login, server.host, server.port, "someone-else", server.password)

        assert server.log.is_file()
        assert "Password mismatch" in server.log.read_text()
