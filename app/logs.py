"""The service's log lines: readable text by default, one JSON object a line with ``PLENARY_LOG_FORMAT=json``.

Fields given with ``extra=`` (a delivery's ``session``, ``notice``, ``delegate``, ``replica``, ``channel``, …) are
keys of the JSON object; in text they are appended as ``key=value``, except those whose value the message
already says (a notice's key names its session and delegate), so that a text line stays one readable line.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

LogFormat = Literal["text", "json"]

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
QUIET = ("apscheduler", "httpx", "aiosqlite", "alembic", "aioimaplib")
"""Libraries kept to warnings and above (aioimaplib logs the mail it reads)."""

_RESERVED = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
"""The attributes every LogRecord has: anything else on a record came with ``extra=``."""


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with ``extra=``, in the order they were given."""
    return {key: value for key, value in vars(record).items() if key not in _RESERVED and not key.startswith("_")}


class TextFormatter(logging.Formatter):
    """The classic line, ``time LEVEL logger: message``, with the extra fields the message does not say."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatMessage(self, record: logging.LogRecord) -> str:
        """The line, then ``[key=value …]`` for the extra fields whose value the message does not contain."""
        line = super().formatMessage(record)
        message = record.getMessage()
        said = [f"{key}={value}" for key, value in extra_fields(record).items() if str(value) not in message]
        return f"{line} [{' '.join(said)}]" if said else line


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the extra
    fields, and ``exception`` / ``stack`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON (a traceback's newlines are escaped inside its string)."""
        entry: dict[str, Any] = {
            "timestamp": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def _timestamp(created: float) -> str:
    """A record's time in UTC, ISO 8601 to the millisecond: ``2022-10-05T00:00:01.234Z``."""
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def formatter(log_format: LogFormat) -> logging.Formatter:
    """The formatter of ``PLENARY_LOG_FORMAT``."""
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(level: int, log_format: LogFormat = "text", stream: TextIO | None = None) -> None:
    """Send every log record (and Python's warnings) to ``stream`` (stderr) in ``log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter(log_format))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # a warning is a log line too: under JSON, a JSON one
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
