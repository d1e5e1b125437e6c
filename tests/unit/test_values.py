"""Value types a secretariat writes: durations, zones, texts in several languages."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from domain.values import format_duration, local_time_problem, localize, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("21d", timedelta(days=21)),
        ("2w", timedelta(weeks=2)),
        ("1h 30m", timedelta(hours=1, minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90min", timedelta(minutes=90)),
        ("P21D", timedelta(days=21)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("p1dt2h", timedelta(days=1, hours=2)),
    ],
)
def test_durations_in_both_notations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "21", "d", "P", "PT", "1 day", "1d x", "-1d", "1.5h"])
def test_bad_durations_are_refused_with_an_example(text: str) -> None:
    with pytest.raises(ValueError, match="21d"):
        parse_duration(text)


def test_durations_are_written_back_canonically() -> None:
    assert format_duration(timedelta(days=1, hours=12)) == "P1DT12H"
    assert format_duration(timedelta(minutes=10)) == "PT10M"
    assert format_duration(timedelta(0)) == "PT0S"


def test_local_times_that_do_not_exist_or_repeat() -> None:
    assert local_time_problem(datetime(2022, 10, 19, 14, 0), "Europe/Moscow") is None
    gap = local_time_problem(datetime(2022, 3, 27, 2, 30), "Europe/Berlin")
    assert gap is not None
    assert "does not exist" in gap
    fold = local_time_problem(datetime(2022, 10, 30, 2, 30), "Europe/Berlin")
    assert fold is not None
    assert "happens twice" in fold
    # Moscow still had summer time in 2010, and none since 2014.
    assert local_time_problem(datetime(2010, 3, 28, 2, 30), "Europe/Moscow") is not None
    assert local_time_problem(datetime(2015, 3, 29, 2, 30), "Europe/Moscow") is None


def test_texts_fall_back_from_language_to_the_commissions_then_any() -> None:
    text = {"ru": "Заседание", "en": "Meeting"}
    assert localize(text, "en") == "Meeting"
    assert localize(text, "en_GB") == "Meeting"
    assert localize(text, "ky", fallback="ru") == "Заседание"
    assert localize({"*": "Crocus Expo"}, "ky") == "Crocus Expo"
    assert localize(None, "ru") == ""
