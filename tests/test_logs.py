"""Structured logs never carry a caller's full phone number."""

from __future__ import annotations

import pytest

from ivr.core.logs import mask, mask_numbers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+60123456789", "+60******789", id="malaysia"),
        pytest.param("call from +66812345678 ok", "call from +66******678 ok", id="in-text"),
        pytest.param("2026-11-24T07:26:13Z", "2026-11-24T07:26:13Z", id="timestamp-untouched"),
        pytest.param("client:alice", "client:alice", id="client-identity"),
    ],
)
def test_phone_numbers_are_masked(text: str, expected: str) -> None:
    """E.164 numbers keep only their country prefix and last three digits."""
    assert mask(text) == expected


def test_every_string_field_of_a_log_event_is_masked() -> None:
    """The structlog processor masks numbers in the event text and in each field."""
    event = mask_numbers(None, "info", {"event": "from +60123456789", "caller": "+447700900123"})
    assert event == {"event": "from +60******789", "caller": "+44*******123"}
