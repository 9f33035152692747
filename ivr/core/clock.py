"""The one clock every time read in the service goes through.

Handlers, timers, schedules and metrics ask `clock.now()` rather than calling
`time.time()`, so tests and the emulator can run a 30-minute wait in
milliseconds by advancing a `ManualClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    """Something that tells the time in Unix seconds."""

    def now(self) -> float: ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that only moves when told to; safe to share between threads."""

    def __init__(self, start: float | datetime = 1_790_000_000.0) -> None:
        self._now = start.timestamp() if isinstance(start, datetime) else float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by `seconds` and return the new time."""
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds
            return self._now

    def set(self, when: float | datetime) -> None:
        """Jump to an absolute time (only forwards)."""
        target = when.timestamp() if isinstance(when, datetime) else float(when)
        with self._lock:
            if target < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = target


class ShiftedClock:
    """Wall-clock time moved to start at `start`: it runs at real speed from there.

    For `ivr call --at` and `ivr demo --at`: pretend it is a given time (office hours, say)
    while the call itself happens in real time."""

    def __init__(self, start: float | datetime) -> None:
        begin = start.timestamp() if isinstance(start, datetime) else float(start)
        self._offset = begin - time.time()

    def now(self) -> float:
        return time.time() + self._offset


def local_time(text: str, timezone: str) -> datetime:
    """`2026-12-07 10:00` (ISO 8601, no zone) in `timezone`, as an aware datetime; a text
    that names its own offset keeps it. Raises ValueError for a text that is no time."""
    when = datetime.fromisoformat(text)
    return when if when.tzinfo is not None else when.replace(tzinfo=ZoneInfo(timezone))


def utcnow(clock: Clock) -> datetime:
    """The clock's time as an aware UTC datetime."""
    return datetime.fromtimestamp(clock.now(), tz=UTC)
