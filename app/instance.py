"""One process per SQLite data directory: a second one is refused before it touches anything."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class AlreadyRunning(Exception):
    """Another Plenary process holds this data directory."""


class DatabaseLock:
    """An exclusive lock on ``FILE.lock`` beside the SQLite file, held for the life of the process (the OS frees
    it when the process dies, however it dies)."""

    def __init__(self, database_file: Path) -> None:
        self.path = database_file.with_name(database_file.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise ``AlreadyRunning`` naming the holder's process id."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise AlreadyRunning(
                f"another Plenary process (pid {holder}) is running on {self.path.parent}: SQLite serves one process; "
                "stop it first, or use PostgreSQL (PLENARY_DATABASE_URL) to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock back."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
