"""A store outage as a loop that polls the store meets it, and how it is logged.

A loop that runs every 100 ms would log ten lines a second while the store is down.
Instead, `Outage` logs one warning with the reason when an outage starts, a reminder
with the reason and the time down at a backed-off interval (`REMINDER_FIRST_S`, then
doubling up to `REMINDER_MAX_S`) while it lasts, and one line when the store is back.
Its `retry_s` backs off the loop's own retries in the same way, up to `RETRY_MAX_S`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ivr.core import logs

log = logs.get(__name__)

REMINDER_FIRST_S = 60.0
"""The first 'still unreachable' reminder, this long after the outage began."""
REMINDER_MAX_S = 15 * 60.0
"""Reminders double their spacing up to this."""
RETRY_MAX_S = 1.0
"""A loop retries at most this far apart while the store is down: it resumes within a
second of the store's return, without hammering a store that is starting up."""


def reason(exc: BaseException) -> str:
    """What went wrong, in one line: the message, or the exception's name without one."""
    return str(exc).strip().replace("\n", " ") or type(exc).__name__


class Outage:
    """One loop's (or one process's loops') view of the store: up, or down since when."""

    def __init__(self, work: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.work = work
        """What waits while the store is down ("timers", "jobs"), named in every line."""
        self._clock = clock
        self.since: float | None = None
        self._failures = 0
        self._remind_at = 0.0
        self._reminder_s = REMINDER_FIRST_S

    def __repr__(self) -> str:
        return f"Outage(work={self.work!r}, since={self.since!r})"

    def down(self, exc: BaseException) -> None:
        """A pass failed on the store: log it if the outage is new or a reminder is due."""
        now = self._clock()
        self._failures += 1
        if self.since is None:
            self.since, self._reminder_s = now, REMINDER_FIRST_S
            self._remind_at = now + self._reminder_s
            log.warning("store unreachable: work waits", work=self.work, reason=reason(exc))
        elif now >= self._remind_at:
            self._reminder_s = min(self._reminder_s * 2, REMINDER_MAX_S)
            self._remind_at = now + self._reminder_s
            down_s = round(now - self.since)
            why = reason(exc)
            log.warning("store still unreachable", work=self.work, down_s=down_s, reason=why)

    def up(self) -> None:
        """A pass reached the store: log the end of the outage, if there was one."""
        self._failures = 0
        if self.since is not None:
            down_s = round(self._clock() - self.since, 1)
            self.since = None
            log.info("store back: work resumes", work=self.work, down_s=down_s)

    def retry_s(self, poll_s: float) -> float:
        """How long to wait before the next pass: `poll_s`, doubled on each failure in a
        row, up to `RETRY_MAX_S` (never below `poll_s`)."""
        if not self._failures:
            return poll_s
        return max(poll_s, min(RETRY_MAX_S, poll_s * 2.0 ** min(self._failures, 16)))
