"""Scheduled-callback slots: when each configured choice falls, in the business's timezone.

A `within_s` slot ("within the hour") is offered only while the calling hours
stay open for its whole window, and is due at once. An `at` slot ("this
evening", "tomorrow morning") is due at that local wall-clock time on its
day; it is offered only when that moment is in the future and inside the
calling hours. A slot for a later day (`day` >= 1) that falls on a holiday or
closed day rolls forward to the next day when it is open (at most a week). A
local time that does not exist on a daylight-saving change (02:30 on a spring
forward) is read as the wall-clock time after the gap; an ambiguous one (a
fall back) as its first occurrence.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ivr.config import phrases
from ivr.config.callbacks import Slot
from ivr.config.hours import Hours
from ivr.config.model import Config
from ivr.core import numbers

ROLL_DAYS = 7
"""How far a later-day slot may roll forward past holidays and closed days."""
WINDOW_STEP_S = 300
"""A `within` window is checked open at this spacing (spans are minutes apart at least)."""


@dataclass(frozen=True)
class SlotTime:
    """A slot offered now, with when the callback would join the queue (Unix seconds)."""

    slot: Slot
    at: float


def zone(config: Config) -> ZoneInfo:
    """The timezone of the calling hours, else the company's."""
    hours = calling_hours(config)
    return hours.zone if hours is not None else ZoneInfo(config.company.timezone)


def calling_hours(config: Config) -> Hours | None:
    name = config.callbacks.calling_hours
    return config.hours.get(name) if name else None


def is_open(config: Config, at: float) -> bool:
    """Whether a callback may be dialled at `at` (no calling hours: always)."""
    hours = calling_hours(config)
    return hours is None or hours.is_open(datetime.fromtimestamp(at, UTC))


def local_moment(day: date, clock: time, tz: ZoneInfo) -> datetime:
    """`clock` on `day` in `tz`, resolving daylight-saving gaps forward and folds to the first."""
    naive = datetime.combine(day, clock)
    aware = naive.replace(tzinfo=tz, fold=0)
    # A time in a spring-forward gap does not survive a round trip through UTC: the
    # round trip lands after the gap, which is the wall-clock time callers expect.
    return aware.astimezone(UTC).astimezone(tz)


def slot_time(config: Config, slot: Slot, now: float) -> float | None:
    """When `slot` chosen at `now` would be due, or None when it is not offered."""
    if slot.within_s is not None:
        return now if _open_through(config, now, now + slot.within_s) else None
    assert slot.at is not None
    tz = zone(config)
    today = datetime.fromtimestamp(now, tz).date()
    rolls = ROLL_DAYS if slot.day >= 1 else 0
    for extra in range(rolls + 1):
        moment = local_moment(today + timedelta(days=slot.day + extra), slot.at, tz)
        at = moment.timestamp()
        if at > now and is_open(config, at):
            return at
    return None


def _open_through(config: Config, start: float, end: float) -> bool:
    return all(is_open(config, t) for t in _probes(start, end))


def _probes(start: float, end: float) -> list[float]:
    count = int((end - start) // WINDOW_STEP_S)
    return [start + i * WINDOW_STEP_S for i in range(count + 1)] + [max(start, end - 1)]


def closes_within(hours: Hours, start: float, end: float) -> bool:
    """Whether `hours` (a queue's) is closed at some moment from `start` to `end`."""
    return not all(hours.is_open(datetime.fromtimestamp(t, UTC)) for t in _probes(start, end))


def offered(config: Config, now: float) -> list[SlotTime]:
    """The configured slots that can be chosen at `now`, in config order."""
    found = [(slot, slot_time(config, slot, now)) for slot in config.callbacks.slots]
    return [SlotTime(slot, at) for slot, at in found if at is not None]


def next_open(config: Config, after: float, horizon_s: float = ROLL_DAYS * 86400) -> float | None:
    """The first moment from `after` when the calling hours are open (to the minute)."""
    step = 60.0
    t = after
    while t <= after + horizon_s:
        if is_open(config, t):
            return t
        t = (t // step + 1) * step
    return None


def next_moment(
    test: Callable[[float], bool], after: float, horizon_s: float = ROLL_DAYS * 86400
) -> float | None:
    """The first moment from `after` (then on whole minutes) when `test` holds."""
    t = after
    while t <= after + horizon_s:
        if test(t):
            return t
        t = (t // 60 + 1) * 60
    return None


def hours_open(hours: Hours, at: float) -> bool:
    return hours.is_open(datetime.fromtimestamp(at, UTC))


def spoken_time(
    config: Config, at: float, now: float, language: str | None = None, *, number: str = ""
) -> str:
    """`15:30`, or with the weekday when not today (`Tuesday 09:00`, `09:00 hari Selasa`),
    in `language` (default: the default language).

    Without `number`, on the business's clock (an agent's whisper). With the customer's
    `number`, on their clock (`numbers.time_zone`, from its country) and, when that
    differs from the business's at `at`, with the zone named: `17:00 Thailand time`. A
    number whose clock is unknown is told the business's time, named by its UTC offset."""
    business, code = zone(config), language or config.languages.default
    theirs = numbers.time_zone(number, at) if number else None
    if not number or theirs is not None and offset(theirs, at) == offset(business, at):
        return _wording(config, code, at, now, business)
    tz = theirs or business
    named = country_name(config, code, number) if theirs is not None else ""
    text = _wording(config, code, at, now, tz)
    return phrases.text(config, code, "time.zone", time=text, zone=named or utc_name(tz, at))


def offset(tz: ZoneInfo, at: float) -> timedelta | None:
    return datetime.fromtimestamp(at, tz).utcoffset()


def _wording(config: Config, code: str, at: float, now: float, tz: ZoneInfo) -> str:
    local, today = datetime.fromtimestamp(at, tz), datetime.fromtimestamp(now, tz).date()
    text = local.strftime("%H:%M")
    if local.date() == today:
        return text
    day = phrases.text(config, code, f"time.{phrases.WEEKDAYS[local.weekday()]}")
    return phrases.text(config, code, "time.other_day", day=day, time=text)


def country_name(config: Config, code: str, number: str) -> str:
    """The number's country as `code` names it (phrase `zones.<iso country>`, `zones.th`:
    Thailand, ประเทศไทย), or "" when no language names it."""
    region = numbers.region(number)
    if region is None:
        return ""
    for language in (code, config.languages.default, phrases.REFERENCE):
        found = phrases.lookup(config.phrases, language, f"zones.{region.casefold()}")
        if found:
            return found
    return ""


def utc_name(tz: ZoneInfo, at: float) -> str:
    """`UTC+7`, `UTC+5:30`, `UTC-3`, `UTC`: a clock no phrase names."""
    minutes = int((offset(tz, at) or timedelta()).total_seconds() // 60)
    if not minutes:
        return "UTC"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{'+' if minutes > 0 else '-'}{hours}" + (f":{rest:02d}" if rest else "")
