"""Scheduled-callback slots around closing time, holidays and daylight-saving changes."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from callbacks import slots
from ivr.config.callbacks import CallbacksConfig, Slot
from ivr.config.hours import Hours
from ivr.config.loader import load
from ivr.config.model import Config
from tests.conftest import SAMPLE_CONFIG

KL = ZoneInfo("Asia/Kuala_Lumpur")
NY = ZoneInfo("America/New_York")
WITHIN = Slot(key="1", label={"en": "within the hour"}, within_s=3600)
EVENING = Slot.model_validate({"key": "2", "label": {"en": "this evening"}, "at": "18:00"})
MORNING = Slot.model_validate(
    {"key": "3", "label": {"en": "tomorrow morning"}, "at": "09:00", "day": 1}
)


def office_config() -> Config:
    base = load(SAMPLE_CONFIG)
    callbacks = CallbacksConfig(calling_hours="office", slots=[WITHIN, EVENING, MORNING])
    return base.model_copy(update={"callbacks": callbacks})


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, tz: ZoneInfo = KL
) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz).timestamp()


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(
            local(2026, 11, 23, 10, 0),
            {
                "1": local(2026, 11, 23, 10, 0),
                "2": local(2026, 11, 23, 18),
                "3": local(2026, 11, 24, 9),
            },
            id="monday-morning-all-three",
        ),
        pytest.param(
            local(2026, 11, 23, 19, 30),
            {"3": local(2026, 11, 24, 9)},
            id="half-an-hour-before-closing",
        ),
        pytest.param(
            local(2026, 11, 23, 18, 59),
            {"1": local(2026, 11, 23, 18, 59), "3": local(2026, 11, 24, 9)},
            id="evening-slot-already-passed",
        ),
        pytest.param(
            local(2026, 11, 27, 10, 0),
            {
                "1": local(2026, 11, 27, 10),
                "2": local(2026, 11, 27, 18),
                "3": local(2026, 11, 28, 9),
            },
            id="friday-tomorrow-is-a-short-saturday",
        ),
        pytest.param(
            local(2026, 11, 28, 10, 0),
            {"1": local(2026, 11, 28, 10), "3": local(2026, 11, 30, 9)},
            id="saturday-rolls-past-closed-sunday",
        ),
        pytest.param(
            local(2026, 12, 24, 10, 0),
            {"1": local(2026, 12, 24, 10), "3": local(2026, 12, 26, 9)},
            id="christmas-eve-short-day-then-holiday",
        ),
        pytest.param(local(2026, 12, 25, 10, 0), {"3": local(2026, 12, 26, 9)}, id="on-a-holiday"),
    ],
)
def test_offered_slots(now: float, expected: dict[str, float]) -> None:
    """Slots respect the calling hours, holidays and special days in the business timezone."""
    offered = slots.offered(office_config(), now)
    assert {s.slot.key: s.at for s in offered} == expected


def new_york_config(slot: Slot) -> Config:
    base = load(SAMPLE_CONFIG)
    always = {day: ["00:00-24:00"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
    ny = Hours.model_validate({"timezone": "America/New_York", "weekly": always})
    hours = dict(base.hours) | {"ny": ny}
    callbacks = CallbacksConfig(calling_hours="ny", slots=[slot])
    return base.model_copy(update={"hours": hours, "callbacks": callbacks})


@pytest.mark.parametrize(
    ("clock", "now", "expected_utc"),
    [
        pytest.param(
            "02:30", local(2026, 3, 7, 12, tz=NY), datetime(2026, 3, 8, 7, 30), id="spring-gap"
        ),
        pytest.param(
            "01:30", local(2026, 10, 31, 12, tz=NY), datetime(2026, 11, 1, 5, 30), id="fall-fold"
        ),
        pytest.param(
            "09:00", local(2026, 3, 7, 12, tz=NY), datetime(2026, 3, 8, 13, 0), id="after-spring"
        ),
        pytest.param(
            "09:00", local(2026, 10, 31, 12, tz=NY), datetime(2026, 11, 1, 14, 0), id="after-fall"
        ),
    ],
)
def test_timezone_changes(clock: str, now: float, expected_utc: datetime) -> None:
    """A slot's wall-clock time holds across DST: gaps move forward, folds take the first."""
    slot = Slot.model_validate({"key": "3", "label": {"en": "tomorrow"}, "at": clock, "day": 1})
    (offered,) = slots.offered(new_york_config(slot), now)
    assert datetime.fromtimestamp(offered.at, ZoneInfo("UTC")).replace(tzinfo=None) == expected_utc


def test_a_slot_needs_exactly_one_kind() -> None:
    """A slot is either a window from now or a time of day, never both or neither."""
    with pytest.raises(ValueError, match="exactly one"):
        Slot(key="1", label={"en": "x"})
    with pytest.raises(ValueError, match="exactly one"):
        Slot.model_validate({"key": "1", "label": {"en": "x"}, "within_s": 60, "at": "10:00"})


def test_a_within_slot_has_no_priority_of_its_own() -> None:
    """A "within the hour" slot cannot be given a priority that would jump the queue."""
    with pytest.raises(ValueError, match="keeps the caller's place"):
        Slot(key="1", label={"en": "x"}, within_s=3600, priority=5)


def test_spoken_time_names_the_day_when_not_today() -> None:
    """The expected time is spoken as 18:00 today, or with the weekday otherwise."""
    config = office_config()
    now = local(2026, 11, 23, 10)
    assert slots.spoken_time(config, local(2026, 11, 23, 18), now) == "18:00"
    assert slots.spoken_time(config, local(2026, 11, 24, 9), now) == "Tuesday 09:00"


def test_spoken_time_names_the_day_in_the_callers_language() -> None:
    """Malay and Thai callers hear the weekday in their language, not "Tue"."""
    config = office_config()
    now, tomorrow = local(2026, 11, 23, 10), local(2026, 11, 24, 9)
    assert slots.spoken_time(config, tomorrow, now, "ms") == "09:00 hari Selasa"
    assert slots.spoken_time(config, tomorrow, now, "th") == "วันอังคาร เวลา 09:00"


THAI_MOBILE = "+66811111111"
MALAYSIAN_MOBILE = "+60176543210"
SINGAPORE_MOBILE = "+6581234567"


@pytest.mark.parametrize(
    ("number", "language", "at", "expected"),
    [
        pytest.param(THAI_MOBILE, "en", local(2026, 11, 23, 18), "17:00 Thailand time", id="th-en"),
        pytest.param(
            THAI_MOBILE, "ms", local(2026, 11, 23, 18), "17:00 waktu Thailand", id="th-ms"
        ),
        pytest.param(
            THAI_MOBILE, "th", local(2026, 11, 23, 18), "17:00 ตามเวลาประเทศไทย", id="th-th"
        ),
        pytest.param(
            THAI_MOBILE,
            "en",
            local(2026, 11, 24, 9),
            "Tuesday 08:00 Thailand time",
            id="th-tomorrow",
        ),
        pytest.param(
            THAI_MOBILE,
            "en",
            local(2026, 11, 24, 0, 30),
            "23:30 Thailand time",
            id="th-still-today-there",
        ),
        pytest.param(MALAYSIAN_MOBILE, "en", local(2026, 11, 23, 18), "18:00", id="my"),
        pytest.param(SINGAPORE_MOBILE, "en", local(2026, 11, 23, 18), "18:00", id="sg-same-clock"),
        pytest.param(
            "+447400123456", "en", local(2026, 11, 23, 18), "10:00 UTC time", id="uk-by-offset"
        ),
        pytest.param(
            "+12125550100",
            "en",
            local(2026, 11, 23, 18),
            "Monday 05:00 UTC-5 time",
            id="new-york-still-sunday",
        ),
        pytest.param(
            "+61412345678",
            "en",
            local(2026, 11, 23, 18),
            "18:00 UTC+8 time",
            id="an-australian-mobile-has-no-one-clock",
        ),
    ],
)
def test_a_customers_time_is_in_their_zone_named_when_it_differs(
    number: str, language: str, at: float, expected: str
) -> None:
    """A customer is told a time on their own clock (from the number's country), with the
    zone named where that clock differs from the business's (Kuala Lumpur)."""
    config = office_config()
    now = local(2026, 11, 23, 10)
    assert slots.spoken_time(config, at, now, language, number=number) == expected
