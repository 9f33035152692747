"""Business hours: a weekly schedule in an IANA timezone, with holidays and special days."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

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


def _spans(value: object) -> object:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        return [Span.parse(v) if isinstance(v, str) else v for v in value]
    return value


class Hours(BaseModel):
    """When a business (or a queue) is open."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezone: str
    weekly: dict[str, list[Span]] = Field(default_factory=dict)
    holidays: list[date] = Field(default_factory=list)
    special: dict[date, list[Span]] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. 'Asia/Kuala_Lumpur')") from exc
        return value

    @field_validator("weekly", mode="before")
    @classmethod
    def _weekly(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        unknown = [d for d in value if d not in DAYS]
        if unknown:
            raise ValueError(f"unknown day {unknown[0]!r}; use one of {', '.join(DAYS)}")
        return {day: _spans(spans) for day, spans in value.items()}

    @field_validator("special", mode="before")
    @classmethod
    def _special(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        return {day: _spans(spans) for day, spans in value.items()}

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
