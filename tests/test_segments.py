"""What an SMS costs: its encoding and segments, as carriers (and Twilio) count them."""

from __future__ import annotations

import pytest

from ivr.core import segments

THAI = "ก"


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        pytest.param("", "GSM-7", 0, 0, id="empty"),
        pytest.param("a" * 160, "GSM-7", 160, 1, id="gsm-160-fits-one"),
        pytest.param("a" * 161, "GSM-7", 161, 2, id="gsm-161-splits"),
        pytest.param("a" * 306, "GSM-7", 306, 2, id="gsm-two-of-153"),
        pytest.param("a" * 307, "GSM-7", 307, 3, id="gsm-third-segment"),
        pytest.param("€" * 80, "GSM-7", 160, 1, id="extension-two-septets"),
        pytest.param("€" * 81, "GSM-7", 162, 2, id="extension-splits"),
        pytest.param(THAI * 70, "UCS-2", 70, 1, id="thai-70-fits-one"),
        pytest.param(THAI * 71, "UCS-2", 71, 2, id="thai-71-splits"),
        pytest.param(THAI * 134, "UCS-2", 134, 2, id="thai-two-of-67"),
        pytest.param(THAI * 135, "UCS-2", 135, 3, id="thai-third-segment"),
        pytest.param("a" * 69 + "’", "UCS-2", 70, 1, id="curly-quote-makes-ucs2"),
        pytest.param("🙂" * 35, "UCS-2", 70, 1, id="emoji-two-units"),
        pytest.param("🙂" * 36, "UCS-2", 72, 2, id="emoji-splits"),
    ],
)
def test_text_costs_its_encodings_segments(
    text: str, encoding: str, units: int, count: int
) -> None:
    """GSM-7 fits 160 septets in one segment and 153 once split; one character outside it
    makes the whole text UCS-2, 70 UTF-16 units in one segment and 67 once split."""
    cost = segments.count(text)
    assert (cost.encoding, cost.units, cost.count) == (encoding, units, count)


def test_cost_reads_as_segments_encoding_and_length() -> None:
    """A cost says its segments, encoding and length in one phrase."""
    assert str(segments.count(THAI * 71)) == "2 segments (UCS-2, 71 units)"
    assert str(segments.count("hi")) == "1 segment (GSM-7, 2 units)"
