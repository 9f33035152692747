"""Fixed log-spaced histogram buckets for durations, so percentiles fold and merge.

Bucket `i` holds durations in (BOUNDS_MS[i-1], BOUNDS_MS[i]] (bucket 0 from 0);
one overflow bucket past the last bound. Bounds grow by 2^(1/4) (about 19 %)
from 0.5 s to 16 384 s, so a percentile read back is within one bucket's width
of the exact value, and a rollup stores only the buckets it has seen.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Mapping

STEPS_PER_DOUBLING = 4
FIRST_EXPONENT = -4
"""2^(-4/4) = 0.5 s: the first bound."""
LAST_EXPONENT = 56
"""2^(56/4) = 16 384 s (4.5 h): longer than any call Twilio allows to wait."""
BOUNDS_MS: tuple[int, ...] = tuple(
    round(1000 * 2 ** (k / STEPS_PER_DOUBLING)) for k in range(FIRST_EXPONENT, LAST_EXPONENT + 1)
)
OVERFLOW = len(BOUNDS_MS)


def bucket_of(ms: int) -> int:
    """The bucket a duration (ms) falls in; negative durations count as 0."""
    return bisect_left(BOUNDS_MS, max(ms, 0))


def lower_ms(bucket: int) -> int:
    return 0 if bucket == 0 else BOUNDS_MS[bucket - 1]


def upper_ms(bucket: int) -> int:
    return BOUNDS_MS[min(bucket, OVERFLOW - 1)]


def percentile(counts: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q ≤ 1) in ms, by nearest rank, interpolated inside its bucket."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(counts):
        n = counts[bucket]
        if seen + n >= rank:
            if bucket == OVERFLOW:
                return float(BOUNDS_MS[-1])
            low, high = lower_ms(bucket), upper_ms(bucket)
            return low + (high - low) * (rank - seen) / n
        seen += n
    return float(BOUNDS_MS[-1])  # unreachable: the ranks add up to total


def cumulative(counts: Mapping[int, int]) -> list[tuple[float, int]]:
    """(upper bound in seconds, count ≤ it) for every bound, then (+inf, total)."""
    out: list[tuple[float, int]] = []
    running = 0
    for bucket, bound in enumerate(BOUNDS_MS):
        running += counts.get(bucket, 0)
        out.append((bound / 1000, running))
    out.append((math.inf, running + counts.get(OVERFLOW, 0)))
    return out
