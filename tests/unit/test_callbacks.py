"""Button data as a hostile client may send it back: only what the server signed is read, and it always fits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.callbacks import LIMIT, Callback, CallbackTooLong, sign, verify

SECRET = b"the server's secret, 32 bytes.."
IDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=14)


def test_a_signed_button_reads_back_as_written() -> None:
    data = sign(SECRET, "rsvp", "icmec-xx", "in_person")
    assert len(data.encode()) <= LIMIT
    assert verify(SECRET, data) == Callback("rsvp", ("icmec-xx", "in_person"))
    assert verify(SECRET, sign(SECRET, "help")) == Callback("help", ())


@given(action=IDS, args=st.lists(IDS, max_size=2))
def test_whatever_fits_reads_back_and_one_changed_character_is_refused(action: str, args: list[str]) -> None:
    try:
        data = sign(SECRET, action, *args)
    except CallbackTooLong:
        return
    assert len(data.encode()) <= LIMIT
    assert verify(SECRET, data) == Callback(action, tuple(args))
    for i in range(len(data)):
        for replacement in ("a", "Z", ":"):
            altered = data[:i] + replacement + data[i + 1 :]
            if altered != data:
                assert verify(SECRET, altered) is None, altered


@given(st.one_of(st.text(max_size=200), st.binary(max_size=80), st.none(), st.integers()))
def test_forged_data_names_nothing(data: object) -> None:
    assert verify(SECRET, data) is None


def test_another_servers_buttons_are_refused() -> None:
    assert verify(b"another secret", sign(SECRET, "rsvp", "icmec-xx", "remote")) is None


def test_what_cannot_fit_or_is_not_an_id_is_refused_when_the_button_is_made() -> None:
    with pytest.raises(CallbackTooLong):
        sign(SECRET, "rsvp", "a-very-long-session-identifier-2022", "another-long-delegate-id")
    with pytest.raises(ValueError, match="id"):
        sign(SECRET, "rsvp", "icmec:xx")
    with pytest.raises(ValueError, match="action"):
        sign(SECRET, "")
