"""Discrete events on a clock: what happens next, and when.

Every timed thing in the emulator (a `<Say>` finishing, a gather timing out, a
device ringing out, a status callback) is an event here. Events due at the same
instant run in the order they were scheduled, so a run is deterministic.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from ivr.core.clock import Clock


@dataclass(order=True)
class Event:
    """One scheduled callback; `background` marks open-ended waits such as hold music."""

    when: float
    seq: int
    fn: Callable[[], None] = field(compare=False)
    background: bool = field(compare=False, default=False)
    cancelled: bool = field(compare=False, default=False)

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """A min-heap of events read against one clock."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._heap: list[Event] = []
        self._seq = itertools.count()

    def at(self, when: float, fn: Callable[[], None], *, background: bool = False) -> Event:
        event = Event(when, next(self._seq), fn, background)
        heapq.heappush(self._heap, event)
        return event

    def after(self, delay: float, fn: Callable[[], None], *, background: bool = False) -> Event:
        return self.at(self.clock.now() + delay, fn, background=background)

    def next_time(self) -> float | None:
        """When the earliest live event is due, or None when nothing is scheduled."""
        self._drop_cancelled()
        return self._heap[0].when if self._heap else None

    def has_foreground(self) -> bool:
        """Whether anything other than an open-ended wait is still scheduled."""
        return any(not e.cancelled and not e.background for e in self._heap)

    def run_due(self, limit: int = 1000) -> int:
        """Run up to `limit` events due by now (including ones they schedule for now)."""
        count = 0
        now = self.clock.now()
        while self._heap and self._heap[0].when <= now and count < limit:
            event = heapq.heappop(self._heap)
            if not event.cancelled:
                count += 1
                event.fn()
        return count

    def _drop_cancelled(self) -> None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
