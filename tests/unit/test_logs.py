"""The log formats of ``plenary run``: text for people (as before), JSON a line for a collector."""

from __future__ import annotations

import io
import json
import logging
import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from app import logs
from config.settings import Settings

FIELDS = {"session": "icmec-xx", "notice": "icmec-xx:invitation:kgz-asanov", "delegate": "kgz-asanov", "replica": "r1"}


LOGGER = logging.getLogger("scheduler.dispatcher")


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    return LOGGER.makeRecord(LOGGER.name, logging.INFO, __file__, 1, message, args, None, extra=extra)


def _with_exception(message: str, **extra: object) -> logging.LogRecord:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        return LOGGER.makeRecord(LOGGER.name, logging.ERROR, __file__, 1, message, (), sys.exc_info(), extra=extra)


def test_json_is_one_object_a_line_with_the_time_in_utc_and_the_extra_fields() -> None:
    line = logs.JsonFormatter().format(record("%s: sent by %s", FIELDS["notice"], "email", channel="email", **FIELDS))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "INFO"
    assert entry["logger"] == "scheduler.dispatcher"
    assert entry["message"] == "icmec-xx:invitation:kgz-asanov: sent by email"
    assert {k: entry[k] for k in FIELDS} == FIELDS
    assert entry["channel"] == "email"
    assert entry["timestamp"].endswith("Z")
    moment = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00"))
    assert moment.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - moment) < timedelta(minutes=1)


def test_json_keeps_a_traceback_in_one_line_and_any_value_serialisable() -> None:
    line = logs.JsonFormatter().format(_with_exception("failed", when=datetime(2022, 10, 5, tzinfo=UTC)))
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "ERROR"
    assert "ValueError: boom\nsecond line" in entry["exception"]
    assert entry["when"] == "2022-10-05 00:00:00+00:00"


def test_text_stays_as_it_was_and_adds_only_what_the_message_does_not_say() -> None:
    text = logs.TextFormatter()
    plain = text.format(record("database: %s", "sqlite"))
    assert plain.endswith(" INFO    scheduler.dispatcher: database: sqlite")
    sent = text.format(record("%s: sent by email", FIELDS["notice"], channel="email", **FIELDS))
    # The key names the session and the delegate, the message the channel: only the replica is added.
    assert sent.endswith("scheduler.dispatcher: icmec-xx:invitation:kgz-asanov: sent by email [replica=r1]")


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(False)


@pytest.mark.usefixtures("root_logging")
def test_configure_sends_everything_and_warnings_in_the_format_chosen() -> None:
    out = io.StringIO()
    logs.configure(logging.INFO, "json", out)
    logging.getLogger("app.service").info("running %s", "icmec")
    logging.getLogger("apscheduler").info("kept quiet")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("an old API", DeprecationWarning, stacklevel=1)
    entries = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(e["logger"], e["level"]) for e in entries] == [("app.service", "INFO"), ("py.warnings", "WARNING")]
    assert "an old API" in entries[1]["message"]


def test_the_setting_is_read_from_plenary_log_format(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLENARY_LOG_FORMAT", raising=False)
    assert Settings().log_format == "text"
    monkeypatch.setenv("PLENARY_LOG_FORMAT", "json")
    assert Settings().log_format == "json"
    monkeypatch.setenv("PLENARY_LOG_FORMAT", "xml")
    with pytest.raises(ValueError, match="log_format"):
        Settings()
