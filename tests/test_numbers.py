"""Phone numbers: read in every form they arrive in, kept as E.164, spoken digit by digit."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ivr.core import numbers


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        pytest.param("+60123456789", None, "+60123456789", id="already-e164"),
        pytest.param("+60 12-345 6789", None, "+60123456789", id="spaces-and-dashes"),
        pytest.param("+447700900123", None, "+447700900123", id="fictional-but-possible"),
        pytest.param("0123456789", "MY", "+60123456789", id="national-in-region"),
        pytest.param("0123456789", None, None, id="national-without-region"),
        pytest.param("+6012", None, None, id="too-short"),
        pytest.param("client:alice", None, None, id="client-identity"),
        pytest.param("", None, None, id="empty"),
    ],
)
def test_e164_reads_possible_numbers(text: str, region: str | None, expected: str | None) -> None:
    """A possible number comes back in E.164; anything else is None."""
    assert numbers.e164(text, region) == expected


def test_e164_valid_refuses_unassigned_ranges() -> None:
    """With `valid`, a well-formed number in an unassigned range is refused."""
    assert numbers.e164("+447700900123", valid=True) is None
    assert numbers.e164("+60123456789", valid=True) == "+60123456789"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("+60 12-345 6789", "+60123456789", id="formatted"),
        pytest.param("anonymous", "anonymous", id="anonymous"),
        pytest.param("client:alice", "client:alice", id="client"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalise_keeps_what_is_not_a_number(text: str, expected: str) -> None:
    """Twilio's `From` becomes E.164 when it is a number, and is kept as given otherwise."""
    assert numbers.normalise(text) == expected


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        pytest.param("0060123456789", "+60123456789", id="00-prefix"),
        pytest.param("60123456789", "+60123456789", id="country-code"),
        pytest.param(" 0123456789 ", "0123456789", id="national"),
        pytest.param("+60123456789", "+60123456789", id="plus"),
    ],
)
def test_keyed_reads_a_keypad_entry(digits: str, expected: str) -> None:
    """`00` or a country code first is international; a leading 0 stays national."""
    assert numbers.keyed(digits) == expected


@pytest.mark.parametrize(
    ("number", "mobile"),
    [
        pytest.param("+60199999999", True, id="my-mobile"),
        pytest.param("+66811111111", True, id="th-mobile"),
        pytest.param("+447911123456", True, id="uk-mobile"),
        pytest.param("+60312345678", False, id="my-landline"),
        pytest.param("anonymous", False, id="anonymous"),
        pytest.param("client:alice", False, id="client"),
    ],
)
def test_only_mobile_numbers_are_surveyed(number: str, mobile: bool) -> None:
    """Only numbers that can receive SMS qualify."""
    assert numbers.is_mobile(number) is mobile


def test_number_facts() -> None:
    """Country, premium rate and time zones come from the number's range."""
    assert numbers.region("+66812345678") == "TH"
    assert numbers.is_premium("+441632960000") is False
    assert numbers.is_premium("+449098790000")
    assert "Europe/London" in numbers.time_zones("+447911123456")
    assert numbers.time_zones("anonymous") == ()


@pytest.mark.parametrize(
    ("text", "plus", "expected"),
    [
        pytest.param("+60123", False, "6 0 1 2 3", id="number"),
        pytest.param("+60123", True, "+ 6 0 1 2 3", id="number-with-plus"),
        pytest.param("4821", False, "4 8 2 1", id="digits"),
        pytest.param("client:alice", False, "client:alice", id="not-a-number"),
        pytest.param("ab12", True, "ab12", id="mixed"),
    ],
)
def test_spell_reads_digits_one_by_one(text: str, plus: bool, expected: str) -> None:
    """Digits are spaced so speech reads them singly; other text is left alone."""
    assert numbers.spell(text, plus=plus) == expected


@pytest.mark.parametrize(
    ("number", "region", "expected"),
    [
        pytest.param("+60191234567", "MY", "0191234567", id="malaysian-at-home"),
        pytest.param("+66812345678", "TH", "0812345678", id="thai-at-home"),
        pytest.param("+6591234567", "MY", "+6591234567", id="singaporean-from-malaysia"),
        pytest.param("+60191234567", None, "+60191234567", id="no-region"),
        pytest.param("anonymous", "MY", "anonymous", id="not-a-number"),
    ],
)
def test_national_is_the_form_dialled_at_home(
    number: str, region: str | None, expected: str
) -> None:
    """A number in the caller's own country is written nationally; any other stays E.164."""
    assert numbers.national(number, region) == expected


@pytest.mark.parametrize(
    ("number", "offset_h"),
    [
        pytest.param("+66811111111", 7.0, id="thailand"),
        pytest.param("+447400123456", 0.0, id="uk-zones-share-one-clock"),
        pytest.param("+61412345678", None, id="australian-mobile-many-clocks"),
        pytest.param("anonymous", None, id="not-a-number"),
    ],
)
def test_time_zone_is_the_numbers_one_clock(number: str, offset_h: float | None) -> None:
    """A number's timezone is known when every zone of its range keeps the same time."""
    at = 1795500000.0  # November 2026: no daylight saving in London
    found = numbers.time_zone(number, at)
    if offset_h is None:
        assert found is None
    else:
        assert found is not None
        assert datetime.fromtimestamp(at, found).utcoffset() == timedelta(hours=offset_h)
