"""Business hours: a weekly schedule in an IANA timezone, with holidays and special days."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Span(BaseModel):
    """An open period within one day, `HH:MM-HH:MM` (end exclusive; `24:00` allowed)."""

    model_config = ConfigDict(frozen=True)

    start: time
    end: time | None  # None means midnight at the end of the day

    @classmethod
    def parse(cls, text: str) -> Span:
        try:
            a, b = (part.strip() for part in text.split("-"))
            start = time.fromisoformat(a)
            end = None if b == "24:00" else time.fromisoformat(b)
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a span like '09:00-17:30'") from exc
        if end is not None and end <= start:
            raise ValueError(f"{text!r} ends before it starts")
        return cls(start=start, end=end)

    def contains(self, moment: time) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)


def _span(value: object) -> object:
    return Span.parse(value) if isinstance(value, str) else value


def _span_list(value: object) -> object:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


def _day(value: str) -> str:
    if value not in DAYS:
        raise ValueError(f"unknown day {value!r}; use one of {', '.join(DAYS)}")
    return value


# Spans and day names are validated one by one (not by a validator on the whole
# mapping) so that a bad one is reported at its own line of the config file.
Spans = Annotated[list[Annotated[Span, BeforeValidator(_span)]], BeforeValidator(_span_list)]
"""A span string, a list of them, or nothing (closed all day)."""
Day = Annotated[str, AfterValidator(_day)]


class Hours(BaseModel):
    """When a business (or a queue) is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    weekly: dict[Day, Spans] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    special: dict[date, Spans] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Asia/Kuala_Lumpur')") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open(self, when: datetime) -> bool:
        """Whether the business is open at the aware datetime `when`."""
        local = when.astimezone(self.zone)
        day = local.date()
        if day in self.special:
            spans = self.special[day]
        elif day in self.holidays:
            return False
        else:
            spans = self.weekly.get(DAYS[local.weekday()], [])
        return any(span.contains(local.time()) for span in spans)
