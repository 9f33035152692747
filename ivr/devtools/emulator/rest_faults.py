"""REST faults the emulator injects: Twilio's API answering errors for a while.

    tw.fail_rest(503, seconds=5)   # every REST request fails for 5 simulated seconds
    tw.fail_rest(429, count=2)     # the next two requests are rate-limited
    tw.fail_rest(504, count=1, applied=True)  # done, but the answer is lost

A request that meets an active fault is answered with that error and has no
effect (no call is created, nothing is redirected), as Twilio's edge answers
a 5xx or a 429 before anything happens. With `applied`, the request takes
effect first and only its answer is the error: what a client sees when the
answer to a request Twilio carried out is lost (a gateway timeout, a crash).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from ivr.core.clock import Clock
from ivr.devtools.emulator.resources import RestError

DEFAULT_CODES = {429: 20429, 500: 20500, 502: 20502, 503: 20503, 504: 20504}
"""The Twilio error code sent with each HTTP status when the test names none."""


@dataclass
class Fault:
    status: int
    code: int
    until: float | None
    """Simulated time the fault ends at (None: only `left` limits it)."""
    left: int | None
    """Requests it still fails (None: only `until` limits it)."""
    applied: bool = False
    """The request takes effect before the error is answered."""


class RestFaults:
    """The active faults; `check` raises the first one a request meets (thread-safe)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.faults: list[Fault] = []
        self.failed = 0
        """How many requests were answered with an injected error."""
        self._lock = threading.Lock()

    def add(
        self,
        status: int,
        code: int | None,
        seconds: float | None,
        count: int | None,
        applied: bool = False,
    ) -> None:
        if seconds is None and count is None:
            raise ValueError("a REST fault needs `seconds`, `count` or both")
        until = None if seconds is None else self.clock.now() + seconds
        code = code or DEFAULT_CODES.get(status, status * 100)
        fault = Fault(status, code, until, count, applied)
        with self._lock:
            self.faults.append(fault)

    def check(self, applied: bool = False) -> None:
        """Raise the first active fault's error (using up one of its requests): the faults
        that refuse a request before it runs, or with `applied`, those after it ran."""
        now = self.clock.now()
        with self._lock:
            self.faults = [f for f in self.faults if _active(f, now)]
            fault = next((f for f in self.faults if f.applied == applied), None)
            if fault is None:
                return
            if fault.left is not None:
                fault.left -= 1
            self.failed += 1
        raise RestError(fault.status, fault.code, f"Injected fault: HTTP {fault.status}")


def _active(fault: Fault, now: float) -> bool:
    in_time = fault.until is None or now < fault.until
    return in_time and (fault.left is None or fault.left > 0)
