"""Phone numbers: the one place that parses, normalises and speaks them.

Inside the service every number is E.164 (`+60123456789`). Numbers come in
as Twilio's `From` (`normalise`), typed in config (`e164`), or keyed in on
the phone (`keyed`, then `e164` with a region). Only this module imports
`phonenumbers`; it imports nothing of ours.
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType, timezone

MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
"""Types that can receive SMS: a mobile, or a range that may be one (US, Canada)."""


@functools.lru_cache(maxsize=4096)
def _parse(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None


def _format(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164(text: str, region: str | None = None, *, valid: bool = False) -> str | None:
    """`text` as E.164, or None if it is not a possible number (`valid`: an assigned one).

    Possible is the default: fictional ranges such as +44 7700 900xxx, used in
    samples and tests, are well formed but not assigned. `region` (`MY`) reads
    a number written without its country code as a national one there.
    """
    number = _parse(text, region)
    if number is None or not phonenumbers.is_possible_number(number):
        return None
    if valid and not phonenumbers.is_valid_number(number):
        return None
    return _format(number)


@functools.lru_cache(maxsize=4096)
def normalise(text: str) -> str:
    """E.164 where `text` parses; else as given (Twilio's `anonymous`, `client:alice`)."""
    number = _parse(text, None)
    return text if number is None else _format(number)


def keyed(digits: str) -> str:
    """A keypad entry written as a number: `00` or a country code first is international.

    `0060123456789` and `60123456789` become `+60123456789`; `0123456789`
    stays national, for `e164` to read in a region.
    """
    digits = digits.strip()
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.isdigit() and not digits.startswith("0"):
        return "+" + digits
    return digits


def region(number: str) -> str | None:
    """The ISO country of an E.164 number (`MY`), or None."""
    parsed = _parse(number, None)
    return None if parsed is None else phonenumbers.region_code_for_number(parsed)


def is_premium(number: str) -> bool:
    """Whether `number` is a premium-rate number (one a callback must never dial)."""
    parsed = _parse(number, None)
    return parsed is not None and phonenumbers.number_type(parsed) == PhoneNumberType.PREMIUM_RATE


def is_mobile(number: str) -> bool:
    """Whether `number` can receive SMS: a mobile (or may-be-mobile) number."""
    parsed = _parse(number, None)
    return parsed is not None and phonenumbers.number_type(parsed) in MOBILE_TYPES


def time_zones(number: str) -> tuple[str, ...]:
    """The IANA zones a number's range lies in (a UK mobile: London, Jersey...); () if unknown."""
    parsed = _parse(number, None)
    if parsed is None:
        return ()
    return tuple(z for z in timezone.time_zones_for_number(parsed) if z != "Etc/Unknown")


def time_zone(number: str, at: float) -> ZoneInfo | None:
    """The number's timezone, when the zones of its range agree on the clock at `at`
    (a UK mobile: London, Jersey, Guernsey, Isle of Man); None when unknown or they differ."""
    zones = [z for z in map(_zone_info, time_zones(number)) if z is not None]
    moment = datetime.fromtimestamp(at, UTC)
    if not zones or len({moment.astimezone(z).utcoffset() for z in zones}) != 1:
        return None
    return zones[0]


def _zone_info(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def national(number: str, region: str | None) -> str:
    """`number` as a caller in `region` (`MY`) writes it: nationally (`0191234567`) when it
    is in that country, else as given (E.164 for a number abroad)."""
    parsed = _parse(number, None)
    if parsed is None or region is None or phonenumbers.region_code_for_number(parsed) != region:
        return number
    written = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return "".join(c for c in written if c.isdigit())


def spell(text: str, *, plus: bool = False) -> str:
    """A number read digit by digit, so speech does not say "twelve million"; other text as is.

    The `+` is dropped unless `plus` (the agent's whisper says "plus" for an
    international caller).
    """
    digits = text.lstrip("+")
    if not digits.isdigit():
        return text
    return " ".join(text if plus else digits)
