"""A real IMAP server on loopback for tests: Debian's Dovecot (2.3), run from a temporary directory.

``dovecot_server(root)`` writes a minimal ``dovecot.conf`` under ``root`` — its own ``base_dir``, ``state_dir``
and log file, no SSL, plaintext login allowed without TLS, one user with a password (a static passdb limited
to that user name, a static userdb), maildir mail under ``root/mail`` — starts ``dovecot -F`` on a free port
of 127.0.0.1, waits for the ``* OK`` greeting and yields a ``DovecotServer``. On exit Dovecot is terminated
and waited for. Nothing of the system's ``/etc/dovecot`` is read and the system service is not touched.

Unprivileged, every Dovecot process (and the mail) runs as the current user. As root (CI, the dev machines)
Dovecot will not let mail be read or written as uid 0, whatever ``first_valid_uid`` says, nor run imap-login
as root: the mail then belongs to Debian's unprivileged ``mail`` user and the imap process chroots into
``root/mail`` (pytest's ``tmp_path`` has 0700 parents that user could not get through), while Dovecot's own
services keep the package's ``dovecot`` and ``dovenull`` users.

The ``DovecotServer`` helpers (``append``, ``messages``, ``mailboxes``) use the standard ``imaplib`` in a
thread, so a test can put mail in and look at what is there without another dependency. Flags read back
include the session flag ``\\Recent`` for new mail, as any IMAP client would see.

Dovecot comes from the Debian package ``dovecot-imapd``; ``require_dovecot()`` returns the binary's path, or
skips the test when it is missing (fails it under CI, where it must be there).
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

DOVECOT = "/usr/sbin/dovecot"
MISSING = "Debian's dovecot-imapd is not installed (python3 scripts/dev.py test installs it, as root)"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

_FETCH_UID = re.compile(rb"UID (\d+)")
_FETCH_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_LIST_LINE = re.compile(rb'^\((?P<flags>[^)]*)\) (?P<delimiter>"[^"]*"|NIL) (?P<name>.+)$')


def require_dovecot() -> str:
    """The path of the dovecot binary; skip the test when it is missing (fail it under CI)."""
    path = DOVECOT if os.access(DOVECOT, os.X_OK) else shutil.which("dovecot")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port of ``host`` that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _quote(mailbox: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check(result: tuple[str, Sequence[object]], what: str) -> Sequence[object]:
    """The data of an imaplib result, or an error when the server did not answer OK."""
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"{what}: {typ} {data!r}")
    return data


@dataclass(frozen=True)
class DovecotServer:
    """A running Dovecot: where it listens, its one user, its log, and helpers that read and write mail."""

    host: str
    port: int
    user: str
    password: str
    log: Path
    """Dovecot's log file (everything: errors, info and debug)."""

    @contextlib.contextmanager
    def _session(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection (blocking: use it in a thread)."""
        imap = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            imap.login(self.user, self.password)
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def _append(self, message: bytes, mailbox: str, flags: str) -> None:
        with self._session() as imap:
            if mailbox.upper() != "INBOX":
                imap.create(_quote(mailbox))  # NO when it exists already: that is fine
            flag_list = f"({flags})" if flags and not flags.startswith("(") else (flags or None)
            _check(imap.append(_quote(mailbox), flag_list, None, message), f"APPEND to {mailbox}")

    def _messages(self, mailbox: str) -> list[tuple[int, set[str], bytes]]:
        with self._session() as imap:
            _check(imap.select(_quote(mailbox), readonly=True), f"EXAMINE {mailbox}")
            data = _check(imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), f"FETCH from {mailbox}")
            found: list[tuple[int, set[str], bytes]] = []
            for item in data:
                if not isinstance(item, tuple):
                    continue  # the closing ")" of a literal, or None for an empty mailbox
                head, body = item
                uid = _FETCH_UID.search(head)
                flags = _FETCH_FLAGS.search(head)
                if uid is None or flags is None:
                    raise imaplib.IMAP4.error(f"unexpected FETCH response: {head!r}")
                found.append((int(uid.group(1)), set(flags.group(1).decode().split()), bytes(body)))
            return sorted(found, key=lambda entry: entry[0])

    def _mailboxes(self) -> list[str]:
        with self._session() as imap:
            names: list[str] = []
            for line in _check(imap.list(), "LIST"):
                if not isinstance(line, bytes):
                    continue
                match = _LIST_LINE.match(line)
                if match is None:
                    raise imaplib.IMAP4.error(f"unexpected LIST response: {line!r}")
                name = match.group("name").decode()
                if name.startswith('"') and name.endswith('"'):
                    name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
                names.append(name)
            return sorted(names)

    async def append(self, message: bytes, mailbox: str = "INBOX", flags: str = "") -> None:
        """Put a raw message into ``mailbox`` (created if need be), with flags such as ``"\\Seen \\Flagged"``."""
        await asyncio.to_thread(self._append, message, mailbox, flags)

    async def messages(self, mailbox: str = "INBOX") -> list[tuple[int, set[str], bytes]]:
        """Every message of ``mailbox`` as (uid, flags, raw message), by uid; read without marking anything seen."""
        return await asyncio.to_thread(self._messages, mailbox)

    async def mailboxes(self) -> list[str]:
        """The names of the user's mailboxes, sorted."""
        return await asyncio.to_thread(self._mailboxes)


def _config(root: Path, port: int, user: str, password: str) -> str:
    """A dovecot.conf (2.3 setting names) that reads nothing outside ``root`` and listens on 127.0.0.1:port."""
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        # As root three things differ. imap-login refuses to run as root, so keep the package's users (dovecot
        # for the internal services, dovenull for imap-login) and their default chroots, which are entered
        # before privileges are dropped, so those users need no way through a root-only tmp_path. And the
        # imap process refuses uid 0 outright ("userdb returned 0 as uid", then "Mail access not allowed for
        # root"), whatever first_valid_uid says: mail is accessed as Debian's unprivileged "mail" user, and
        # the home's "/./" chroots the imap process (as root, before it drops to that user) into root/mail,
        # since that user cannot get through tmp_path's 0700 parents either.
        mail_user = pwd.getpwnam("mail")
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
        users = ""
        chroot = ""
        home = f"{root}/mail/./%u"
        chroot_dirs = f"valid_chroot_dirs = {root}/mail\nmail_temp_dir = /tmp\n"
    else:
        # Unprivileged, every process runs as this user and nothing can chroot.
        owner = pwd.getpwuid(uid).pw_name
        group = grp.getgrgid(gid).gr_name
        users = f"default_internal_user = {owner}\ndefault_internal_group = {group}\ndefault_login_user = {owner}\n"
        chroot = "  chroot =\n"
        home = f"{root}/mail/%u"
        chroot_dirs = ""
    return f"""\
# Written by tests/doubles/dovecot.py for one test run.
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
debug_log_path = {root}/dovecot.log
instance_name = plenary-test-{port}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_verbose = yes
{users}first_valid_uid = {uid}
first_valid_gid = {gid}
{chroot_dirs}mail_location = maildir:~/Maildir
mail_privileged_group =
namespace inbox {{
  inbox = yes
  separator = /
}}
passdb {{
  driver = static
  args = password={password}
  username_filter = {user}
}}
passdb {{
  # Anyone else: refused as a wrong password would be, not "all password databases were skipped".
  driver = static
  args = nopassword=y
  deny = yes
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}  # Moved away, auth cannot find it and so gives no auth penalty (a delay of 2, 4, 8... s before each
  # login from an address that failed just before; loopback is not spared).
  unix_listener anvil-auth-penalty {{
    path = anvil-auth-penalty-unused
  }}
}}
"""


def _prepare(root: Path, user: str) -> Path:
    """Make the folders Dovecot expects under ``root`` and return ``root`` resolved.

    As root, the mail chroot and the user's home there belong to Debian's "mail" user.
    """
    root = root.resolve()
    for folder in ("run", "state", f"mail/{user}"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        mail_user = pwd.getpwnam("mail")
        for owned in (root / "mail", root / "mail" / user):
            owned.chmod(0o700)
            os.chown(owned, mail_user.pw_uid, mail_user.pw_gid)
        temp = root / "mail" / "tmp"  # mail_temp_dir inside the chroot
        temp.mkdir(exist_ok=True)
        temp.chmod(0o1777)
    return root


def _log_tail(log: Path, limit: int = 4000) -> str:
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:] or "(empty log)"


async def _greeting(host: str, port: int) -> bytes:
    """The first line the server sends on a fresh connection."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        return await asyncio.wait_for(reader.readline(), timeout=2.0)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def dovecot_server(
    root: Path, user: str = "plenary", password: str = "imap-secret"
) -> AsyncIterator[DovecotServer]:
    """Run Dovecot from ``root`` (its config, state, log and mail) on a free port of 127.0.0.1 while inside."""
    binary = require_dovecot()
    root = _prepare(root, user)
    host, port = "127.0.0.1", free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port, user, password))
    log = root / "dovecot.log"
    output = (root / "dovecot.stdout").open("wb")
    process = await asyncio.create_subprocess_exec(
        binary, "-F", "-c", str(config), stdin=asyncio.subprocess.DEVNULL, stdout=output, stderr=output
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        last: str = "no attempt"
        while True:
            if process.returncode is not None:
                raise RuntimeError(
                    f"dovecot exited with {process.returncode} before accepting connections\n"
                    f"output: {(root / 'dovecot.stdout').read_text(errors='replace')}\nlog:\n{_log_tail(log)}"
                )
            try:
                line = await _greeting(host, port)
            except (OSError, TimeoutError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if line.startswith(b"* OK"):
                    break
                last = f"greeting {line!r}"
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"dovecot did not answer '* OK' on {host}:{port} within {START_TIMEOUT:.0f} s ({last})\n"
                    f"output: {(root / 'dovecot.stdout').read_text(errors='replace')}\nlog:\n{_log_tail(log)}"
                )
            await asyncio.sleep(0.05)
        yield DovecotServer(host=host, port=port, user=user, password=password, log=log)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), timeout=STOP_TIMEOUT)
            except TimeoutError:
                process.kill()
                await process.wait()
        output.close()
