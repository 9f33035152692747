"""A store outage as a loop that polls the store meets it, and how it is logged.

A loop that runs every 100 ms would log ten lines a second while the store is down.
Instead, `Outage` logs one warning with the reason when an outage starts, a reminder
with the reason and the time down at a backed-off interval (`REMINDER_FIRST_S`, then
doubling up to `REMINDER_MAX_S`) while it lasts, and one line when the store is back.
The 'store back' line waits until the loops have gone `BACK_CONFIRM_S` without a failure
(it gives the time down up to the first good pass). `retry_s` backs off the loop's own
retries too, up to `RETRY_MAX_S`.

An outage is a store that cannot be reached (`STORE_ERRORS`), and also one that answers
but cannot serve now: out of memory, a read-only replica after a failover (or a URL that
names a replica), too few replicas for a write (`NOREPLICAS`), a replica cut off from its
primary (`MASTERDOWN`), a cluster shard down or its slots moving (`CLUSTERDOWN`,
`TRYAGAIN`), or a full disk (`MISCONF`). Those too would otherwise be a traceback on every
pass, and a 500 on every webhook (`is_outage` is what the app's handler asks too).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import redis.exceptions

from ivr.core import logs
from ivr.core.store import STORE_ERRORS

log = logs.get(__name__)

REMINDER_FIRST_S = 60.0
"""The first 'still unavailable' reminder, this long after the outage began."""
REMINDER_MAX_S = 15 * 60.0
"""Reminders double their spacing up to this."""
BACK_CONFIRM_S = 5.0
"""The store is logged back once the loops have gone this long without a failure: a store
refusing writes fails only the passes that write, and must not be logged back (and down
again) between them."""
RETRY_MAX_S = 1.0
"""A loop retries at most this far apart while the store is down: it resumes within a
second of the store's return, without hammering a store that is starting up."""


REFUSING_ERRORS = (
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MasterDownError,
)
"""A store that answers but refuses the work: it is down for us all the same."""
REFUSING_CODES = ("MISCONF", "NOREPLICAS")
"""Error codes redis-py raises as a plain ResponseError that also mean "cannot serve now":
Valkey's answer to writes once it cannot persist (a full disk), and a primary's when fewer
replicas than `min-replicas-to-write` are in sync."""
PIPELINE_ERROR = "of pipeline caused error: "
"""What redis-py writes before the reply of a pipeline's failing command."""


def is_outage(exc: BaseException) -> bool:
    """Whether `exc` is the store failing, not this code: unreachable, or refusing work."""
    if isinstance(exc, (*STORE_ERRORS, *REFUSING_ERRORS)):
        return True
    return isinstance(exc, redis.exceptions.ResponseError) and reply(exc).startswith(REFUSING_CODES)


def reply(exc: redis.exceptions.ResponseError) -> str:
    """The server's error reply, without the words redis-py puts before it for a command of
    a pipeline ("Command # 1 (HINCRBY …) of pipeline caused error: ('NOREPLICAS …',)")."""
    text = str(exc)
    _, sep, rest = text.partition(PIPELINE_ERROR)
    return rest.lstrip("('\"") if sep else text


def reason(exc: BaseException) -> str:
    """What went wrong, in one line: the message, or the exception's name without one."""
    return str(exc).strip().replace("\n", " ") or type(exc).__name__


class Outage:
    """A process's view of the store, shared by its loops: up, or down since when.

    Each loop reports its passes under its own name (`down(exc, loop)`, `up(loop)`). The
    outage begins when the first loop fails and ends when none is failing, so a loop whose
    passes only read (and succeed on a store refusing writes) cannot end it while another
    loop still fails: the log does not flap.
    """

    def __init__(self, work: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.work = work
        """What waits while the store is down ("timers", "jobs"), named in every line."""
        self._clock = clock
        self.since: float | None = None
        self._failures: dict[str, int] = {}
        """Failed passes in a row, of each loop failing now."""
        self._remind_at = 0.0
        self._reminder_s = REMINDER_FIRST_S
        self._recovered_at: float | None = None
        """When every loop last came back, during an outage not yet logged as over."""

    def __repr__(self) -> str:
        return f"Outage(work={self.work!r}, since={self.since!r})"

    def down(self, exc: BaseException, loop: str = "") -> None:
        """A pass failed on the store: log it if the outage is new or a reminder is due."""
        now = self._clock()
        self._failures[loop] = self._failures.get(loop, 0) + 1
        self._recovered_at = None
        if self.since is None:
            self.since, self._reminder_s = now, REMINDER_FIRST_S
            self._remind_at = now + self._reminder_s
            log.warning("store unavailable: work waits", work=self.work, reason=reason(exc))
        elif now >= self._remind_at:
            self._reminder_s = min(self._reminder_s * 2, REMINDER_MAX_S)
            self._remind_at = now + self._reminder_s
            down_s = round(now - self.since)
            why = reason(exc)
            log.warning("store still unavailable", work=self.work, down_s=down_s, reason=why)

    def absorb(self, exc: BaseException, loop: str = "") -> bool:
        """`down(exc, loop)` if `exc` is the store failing (`is_outage`); whether it was. A
        loop logs anything else itself, as the bug it is."""
        if is_outage(exc):
            self.down(exc, loop)
        return is_outage(exc)

    def up(self, loop: str = "") -> None:
        """A pass reached the store: log the end of the outage once no loop has failed
        for `BACK_CONFIRM_S`."""
        self._failures.pop(loop, None)
        if self.since is None or self._failures:
            return
        now = self._clock()
        if self._recovered_at is None:
            self._recovered_at = now
        elif now - self._recovered_at >= BACK_CONFIRM_S:
            down_s = round(self._recovered_at - self.since, 1)
            self.since = self._recovered_at = None
            log.info("store back: work resumes", work=self.work, down_s=down_s)

    def retry_s(self, poll_s: float, loop: str = "") -> float:
        """How long `loop` waits before its next pass: `poll_s`, doubled on each failure in
        a row, up to `RETRY_MAX_S` (never below `poll_s`)."""
        failures = self._failures.get(loop, 0)
        if not failures:
            return poll_s
        return max(poll_s, min(RETRY_MAX_S, poll_s * 2.0 ** min(failures, 16)))
