"""What one measurement window records, and the figures drawn from it: webhook percentiles
(client side), routing decision percentiles (from the app's histogram), CPU shares."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.capacity.defaults import (
    DECISION_P99_TARGET_MS,
    FIXED_CYCLE_S,
    TALK_MAX_S,
    TALK_MIN_S,
    WEBHOOK_P99_TARGET_MS,
)
from bench.webhooks import percentile

Histogram = list[tuple[float, float]]
"""(upper bound in seconds, count at or below it), ascending, +Inf last."""


@dataclass
class Window:
    """Webhook latencies of requests scheduled inside one measurement window."""

    start: float = 0.0
    end: float = math.inf
    latencies: list[float] = field(default_factory=list)
    lags: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    arrivals: int = 0
    answered: int = 0
    hold_samples: list[int] = field(default_factory=list)

    def covers(self, due: float) -> bool:
        return self.start <= due < self.end

    def add(self, path: str, latency: float, lag: float, ok: bool) -> None:
        """One webhook scheduled in the window: its latency and how late it was sent."""
        self.latencies.append(latency)
        self.lags.append(lag)
        self.by_path.setdefault(path, []).append(latency)
        self.errors += not ok

    @property
    def lag_p99_ms(self) -> float:
        return percentile(self.lags, 0.99) * 1000


@dataclass
class Step:
    """One rate's measured window and what the app said about it."""

    rate_h: float
    agents: int
    talk_s: float
    window: Window
    decision_p99_ms: float = math.nan
    decision_within: float = math.nan
    """Share of the window's routing decisions that took at most the 20 ms target."""
    decisions: int = 0
    waiting_app: float = math.nan
    app_cpu: float = math.nan
    """CPUs the web processes used during the window (summed: 1.0 is one CPU busy)."""
    store_cpu: float = math.nan

    @property
    def webhook_p99_ms(self) -> float:
        return percentile(self.window.latencies, 0.99) * 1000

    @property
    def webhook_p50_ms(self) -> float:
        return percentile(self.window.latencies, 0.5) * 1000

    @property
    def hold_min(self) -> int:
        return min(self.window.hold_samples, default=0)

    @property
    def hold_max(self) -> int:
        return max(self.window.hold_samples, default=0)

    @property
    def hold_mean(self) -> float:
        s = self.window.hold_samples
        return sum(s) / len(s) if s else 0.0

    @property
    def ok(self) -> bool:
        return (
            self.window.errors == 0
            and self.webhook_p99_ms <= WEBHOOK_P99_TARGET_MS
            and self.decision_p99_ms <= DECISION_P99_TARGET_MS
        )

    def add_decisions(self, before: dict[str, float], after: dict[str, float]) -> None:
        """The decisions between two reads of the app's histogram."""
        counts = histogram_between(before, after)
        self.decisions = int(counts[-1][1]) if counts else 0
        self.decision_p99_ms = quantile_ms(counts, 0.99)
        self.decision_within = share_within(counts, DECISION_P99_TARGET_MS / 1000)


def agents_for(rate_h: float, agents: int) -> tuple[int, float]:
    """Agents to make available so they answer `rate_h` calls an hour, and the talk time."""
    per_s = rate_h / 3600
    talk = max(TALK_MIN_S, min(TALK_MAX_S, 0.9 * agents / per_s - FIXED_CYCLE_S))
    return min(agents, math.ceil(per_s * (talk + FIXED_CYCLE_S))), talk


# -- the routing decision histogram ------------------------------------------------------


def histogram_between(before: dict[str, float], after: dict[str, float]) -> Histogram:
    """The cumulative bucket counts (`le|<bound>` keys of a scrape) added between two reads."""
    bounds = sorted(
        (math.inf if k == "le|+Inf" else float(k[3:]), k) for k in after if k.startswith("le|")
    )
    return [(bound, after[k] - before.get(k, 0.0)) for bound, k in bounds]


def quantile_ms(counts: Histogram, q: float) -> float:
    """The `q` quantile in ms, interpolated within its bucket (NaN without decisions)."""
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return math.nan
    rank, low, below = q * total, 0.0, 0.0
    for bound, n in counts:
        if n >= rank:
            if bound == math.inf:
                return math.inf
            return (low + (bound - low) * (rank - below) / max(n - below, 1e-9)) * 1000
        low, below = bound, n
    return math.nan


def share_within(counts: Histogram, limit_s: float) -> float:
    """Share of the counts at or below `limit_s`, interpolated within its bucket."""
    total = counts[-1][1] if counts else 0.0
    if total <= 0:
        return math.nan
    low, below = 0.0, 0.0
    for bound, n in counts:
        if bound >= limit_s:
            if bound == math.inf:
                return below / total
            return (below + (n - below) * (limit_s - low) / (bound - low)) / total
        low, below = bound, n
    return 1.0


# -- CPU time ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CpuSample:
    """CPU seconds the app's and the store's processes had used at `at` (perf_counter)."""

    app_s: float
    store_s: float
    at: float


def cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def sample_cpu(app_pids: Sequence[int], store_pids: Sequence[int]) -> CpuSample:
    return CpuSample(
        sum(cpu_s(pid) for pid in app_pids),
        sum(cpu_s(pid) for pid in store_pids),
        time.perf_counter(),
    )


def cpu_shares(before: CpuSample, after: CpuSample) -> tuple[float, float]:
    """CPUs the app and the store used between two samples."""
    elapsed = after.at - before.at
    return (after.app_s - before.app_s) / elapsed, (after.store_s - before.store_s) / elapsed
