"""Transfers' pure parts: reading the API's body (`ivr.web.transfer.parsed`) and the words
the next agent hears (`ivr.voice.transfer.spoken`). The calls themselves are in
tests/test_transfer_e2e.py and tests/test_routing_transfer.py."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.exceptions import HTTPException

from ivr.voice.handoff import NOTES_SPOKEN, Handoff, spoken
from ivr.web.transfer import parsed


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"to": "queue", "target": "support"}, ("queue", "support", False, None)),
        pytest.param(
            {"to": "agent", "target": "chai", "warm": True, "notes": "n"},
            ("agent", "chai", True, "n"),
            id="warm-agent",
        ),
        pytest.param(
            {"to": "number", "target": "+60 3-2222 3333"},
            ("number", "+60322223333", False, None),
            id="number-normalised",
        ),
    ],
)
def test_a_transfer_body_is_read(body: dict[str, Any], expected: tuple[Any, ...]) -> None:
    """A well-formed body gives its kind, target (a number in E.164), warmth and notes."""
    assert parsed(body) == expected


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"to": "fax", "target": "x"}, "`to` must be", id="kind"),
        pytest.param({"to": "queue"}, "`target` must", id="no-target"),
        pytest.param({"to": "queue", "target": " "}, "`target` must", id="blank-target"),
        pytest.param({"to": "queue", "target": "x" * 65}, "`target` must", id="long-target"),
        pytest.param({"to": "queue", "target": "q", "warm": "yes"}, "`warm` must", id="warm"),
        pytest.param({"to": "queue", "target": "q", "warm": True}, "consults an agent", id="wq"),
        pytest.param({"to": "number", "target": "12"}, "not a phone number", id="number"),
        pytest.param({"to": "agent", "target": "a", "notes": 3}, "`notes` must", id="notes"),
    ],
)
def test_a_bad_transfer_body_is_400(body: dict[str, Any], message: str) -> None:
    """Each wrong field is refused with a 400 that names it."""
    with pytest.raises(HTTPException) as refused:
        parsed(body)
    assert refused.value.status_code == 400 and message in refused.value.detail


def handoff(notes: str) -> Handoff:
    return Handoff(agent="alice", name="Alice Tan", notes=notes, kind="queue", target="q", at=0)


def test_the_whisper_reads_the_notes_once_punctuated() -> None:
    """The notes follow who transferred the call, without a doubled full stop."""
    assert spoken(handoff("Late fee.  Wants it waived.")) == (
        "Transferred by Alice Tan. Notes: Late fee. Wants it waived"
    )
    assert spoken(handoff("")) == "Transferred by Alice Tan, no notes"


def test_long_notes_are_cut_at_a_word_and_sent_to_the_screen() -> None:
    """Notes longer than the whisper reads are cut at a word, pointing to the screen pop."""
    said = spoken(handoff("word " * 200))
    assert said.endswith("word and more on screen")
    assert len(said) < NOTES_SPOKEN + 60
