"""Outbound pacing: REST-created calls are placed at the account's calls per second.

Twilio queues every call made with `calls.create` and places them, in order, at the
account's CPS (1 by default; inbound calls and `<Dial>` legs are not paced). A call
waiting its turn is `queued`, and its resource's `queue_time` estimates the wait in
milliseconds. A request that would not be placed within 24 hours is refused with
error 22005 ("Call Queue Full"): https://www.twilio.com/docs/api/errors/22005

`admit` runs on the app's thread and `take_due` on the loop, both under the
switchboard's lock. A call canceled while it waits gives its turn to the next one.
"""

from __future__ import annotations

from collections import deque

from ivr.devtools.emulator.calls import Call

DEFAULT_CPS = 1.0
"""Twilio's default calls per second for an account."""
MAX_QUEUE_S = 86_400.0
"""Twilio refuses a call that would wait longer than this to be placed."""
QUEUE_FULL = 22005
"""Twilio's error for a create past 24 hours of queued calls."""


class QueueFull(Exception):
    """The account's outbound queue holds more than 24 hours of calls at its CPS."""


class Pacer:
    """The account's outbound call queue, emptied at `cps` calls per second."""

    def __init__(self, cps: float = DEFAULT_CPS) -> None:
        self.cps = cps
        self._waiting: deque[Call] = deque()
        self._last_placed = float("-inf")

    @property
    def interval(self) -> float:
        return 1.0 / self.cps if self.cps > 0 else 0.0

    def next_slot(self, now: float) -> float:
        """When the front of the queue may be placed."""
        return max(now, self._last_placed + self.interval)

    def admit(self, call: Call, now: float) -> float:
        """Queue `call`; its estimated wait in seconds. Raises QueueFull past 24 hours."""
        self._drop_ended()
        wait = self.next_slot(now) - now + len(self._waiting) * self.interval
        if wait > MAX_QUEUE_S:
            raise QueueFull(f"{len(self._waiting)} calls queued at {self.cps} CPS")
        self._waiting.append(call)
        return wait

    def backlog(self) -> list[Call]:
        """The calls still waiting to be placed, in order."""
        return [call for call in self._waiting if not call.ended]

    def take_due(self, now: float) -> tuple[Call | None, float | None]:
        """The front call if its turn has come, and when the next one's turn comes (None:
        nothing left waiting)."""
        self._drop_ended()
        call = None
        if self._waiting and self.next_slot(now) <= now:
            self._last_placed = now
            call = self._waiting.popleft()
            self._drop_ended()
        return call, self.next_slot(now) if self._waiting else None

    def _drop_ended(self) -> None:
        while self._waiting and self._waiting[0].ended:
            self._waiting.popleft()
