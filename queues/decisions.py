"""How long routing decisions take, as this process sees them.

A routing decision is one run of a routing Lua script (`queues.scripts`: enter,
status, accept, complete, ...), timed from the moment the router sends the
EVALSHA until its answer is decoded: the round trip to the store, the script
itself, and any wait for the event loop. `/metrics` shows the counts as
`ivr_routing_decision_seconds{script}`. They live in the process (not the
store): with `ivr serve --workers N` each scrape shows the worker that answered.
"""

from __future__ import annotations

import bisect
from collections import Counter

DECISION_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0)
"""Histogram bounds; 0.02 is the capacity target (docs/benchmarks.md#capacity)."""


class DecisionTimes:
    """Counts of decision times per script, in `DECISION_BUCKETS_S` (the last is +Inf)."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[int]] = {}
        self.sums: dict[str, float] = {}

    def observe(self, script: str, seconds: float) -> None:
        bucket = bisect.bisect_left(DECISION_BUCKETS_S, seconds)
        self.counts.setdefault(script, Counter())[bucket] += 1
        self.sums[script] = self.sums.get(script, 0.0) + seconds

    def cumulative(self, script: str) -> list[tuple[str, float]]:
        """(le, count at or below) for Prometheus, +Inf last."""
        counts = self.counts.get(script, Counter())
        bounds = [f"{b:g}" for b in DECISION_BUCKETS_S] + ["+Inf"]
        running, out = 0, []
        for i, le in enumerate(bounds):
            running += counts[i]
            out.append((le, float(running)))
        return out


DECISIONS = DecisionTimes()
"""The one record of this process (`queues.scripts` adds to it, `/metrics` reads it)."""
