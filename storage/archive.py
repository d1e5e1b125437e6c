"""The summaries' archive: files under the data directory, ``summaries/<session>/<name>``, each written whole
(a temporary file beside it, flushed to disk, then renamed over the old one) so that a reader or a crash never
sees half a PDF. Implements ``domain.ports.SummaryArchive``."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,120}")
"""A session id or a file name: no separators, no leading dot (so never ``..``)."""


class FileArchive:
    """Implements ``domain.ports.SummaryArchive`` under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, session_id: str, name: str) -> Path:
        for part in (session_id, name):
            if not _NAME.fullmatch(part):
                raise ValueError(f"{part!r} cannot name a file of the archive")
        return self.root / session_id / name

    def write(self, session_id: str, name: str, data: bytes) -> str:
        """Write the file whole, replacing any earlier one; its path."""
        path = self._path(session_id, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{name}.")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return str(path)

    def read(self, session_id: str, name: str) -> bytes | None:
        """The file's bytes, or None when there is none."""
        path = self._path(session_id, name)
        return path.read_bytes() if path.is_file() else None
