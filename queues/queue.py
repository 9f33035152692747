"""Calls in a queue: their order, and where one stands.

Calls are ordered by priority (higher first), then by original enqueue time
(earlier first), then by call sid. Both are packed into one sorted-set score,
`(PRIORITY_MAX - priority) * 10**13 + original_ms`, exact in a double until the
year 2286, so the head of a sorted set is always the next call to serve. A call
keeps its score for as long as it is in the queue, whatever happens to it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ivr.config.queues import PRIORITY_MAX
from ivr.core.errors import RoutingError

PRIORITY_SPAN = 10**13
"""Milliseconds per priority level in the packed score (more than any Unix time in ms)."""


def pack_score(priority: int, original_ms: int) -> int:
    """The sorted-set score of a call: smaller is served first."""
    if not 0 <= priority <= PRIORITY_MAX:
        raise RoutingError(f"priority {priority} is outside 0..{PRIORITY_MAX}")
    return (PRIORITY_MAX - priority) * PRIORITY_SPAN + original_ms


@dataclass(frozen=True)
class Position:
    """One call's place in its queue (1 is next)."""

    call_sid: str
    queue: str
    position: int
    state: str
    priority: int
    waited_s: float
