"""Survey reply parsing, quiet hours across timezones, numbers and texts (no app needed)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callbacks.surveys import parse_score, send_time, text
from ivr.config.loader import load
from ivr.config.model import Config

KL = ZoneInfo("Asia/Kuala_Lumpur")


@pytest.fixture(name="config", scope="module")
def fixture_config() -> Config:
    """The sample config, with its surveys section."""
    return load(Path(__file__).resolve().parent.parent / "config")


@pytest.mark.parametrize(
    ("body", "score"),
    [
        pytest.param("7", 7, id="digit"),
        pytest.param(" 7 ", 7, id="padded"),
        pytest.param("6 thanks", 6, id="digit-and-text"),
        pytest.param("I'd say 5.", 5, id="digit-in-sentence"),
        pytest.param("seven", 7, id="en-word"),
        pytest.param("Three", 3, id="en-word-case"),
        pytest.param("this one was fine, 6", 6, id="digits-win-over-words"),
        pytest.param("enam", 6, id="ms-word"),
        pytest.param("tujuh terima kasih", 7, id="ms-word-and-text"),
        pytest.param("dua", 2, id="ms-dua"),
        pytest.param("หก", 6, id="th-word"),
        pytest.param("ให้หกคะแนนค่ะ", 6, id="th-word-with-particles"),
        pytest.param("เจ็ด ครับ", 7, id="th-word-polite"),
        pytest.param("๕", 5, id="th-digit"),
        pytest.param("７", 7, id="fullwidth-digit"),
        pytest.param("0", None, id="zero"),
        pytest.param("8", None, id="out-of-range"),
        pytest.param("10/10", None, id="ten"),
        pytest.param("5 or 6", None, id="two-numbers"),
        pytest.param("six or seven", None, id="two-words"),
        pytest.param("great", None, id="no-number"),
        pytest.param("", None, id="empty"),
        pytest.param("👍", None, id="emoji"),
        pytest.param("ห้ามโทรมาอีก", None, id="th-word-inside-another"),
        pytest.param("someone helped", None, id="en-word-inside-another"),
    ],
)
def test_parse_score(body: str, score: int | None) -> None:
    """A reply scores when it holds exactly one number 1-7, as digits or a word."""
    assert parse_score(body) == score


def at(hour: int, minute: int = 0, day: int = 23) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=KL).timestamp()


@pytest.mark.parametrize(
    ("number", "when", "expected"),
    [
        pytest.param("+60199999999", at(10), at(10), id="my-daytime"),
        pytest.param("+60199999999", at(21, 30), at(9, day=24), id="my-evening-waits"),
        pytest.param("+60199999999", at(3), at(9), id="my-night-waits-same-day"),
        pytest.param("+60199999999", at(9), at(9), id="my-end-of-quiet-is-open"),
        pytest.param("+66811111111", at(9, 30), at(10), id="th-08-30-waits-to-09"),
        pytest.param("+66811111111", at(21, 30), at(21, 30), id="th-20-30-sends"),
        pytest.param("+447911123456", at(10), at(17), id="uk-02-00-waits-to-09-london"),
        pytest.param("+447911123456", at(23), at(23), id="uk-15-00-sends"),
        pytest.param("+447911123456", at(4, 59, day=24), at(4, 59, day=24), id="uk-20-59-sends"),
        pytest.param("+447911123456", at(5, day=24), at(17, day=24), id="uk-21-00-waits"),
    ],
)
def test_send_time_respects_quiet_hours_in_the_customers_timezone(
    config: Config, number: str, when: float, expected: float
) -> None:
    """Between 21:00 and 09:00 local time the survey waits until 09:00 local time."""
    assert send_time(config, number, when) == expected


def test_texts_fall_back_to_the_default_language_then_english(config: Config) -> None:
    """A language's own text, else the default language's, with the company name."""
    assert text(config, "question", "ms").startswith("Acme Telco memudahkan")
    assert text(config, "followup", "th") == "อะไรที่ทำให้ยุ่งยาก? ตอบด้วยคำพูดของคุณเอง"
    assert text(config, "thanks", "xx") == "Thank you for your feedback. - Acme Telco"
