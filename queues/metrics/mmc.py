"""The ideal queue Erlang C describes, as a reference to hold the real service against.

M/M/N: Poisson arrivals, N identical agents, exponential handle times, first
come first served, and an agent takes the next caller the instant it is free.
`waits` runs given arrivals and handle times through that queue exactly (the
multi-server Lindley recursion), so `ivr simulate` can feed it the very calls
it fed the service and compare call by call. `spread` draws many runs of one
scenario to give the sampling spread of ASA, P(wait) and service level for a
run of that length, which is what "within sampling error" means for a test.

With a patience (`outcomes`, `run_patient`, `spread_patient`) it is the M/M/N+M
queue Erlang A describes: a caller still waiting when their exponential
patience runs out gives up and never takes an agent's time. First come, first
served, a caller's start depends only on the callers before them who were
answered, so the same recursion stays exact.
"""

from __future__ import annotations

import heapq
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from queues.metrics.batch import DEFAULT_SHORT_ABANDON_S

SPREAD_RUNS = 2000
"""Runs drawn to estimate a scenario's sampling spread."""
SPREAD_LEVEL = 0.99
"""The central share of the runs a measurement must fall in (0.5 % in each tail)."""


@dataclass(frozen=True)
class Sample:
    """The Erlang C figures of one run: mean wait, share that waited, share within T."""

    calls: int
    asa_s: float
    p_wait: float
    service_level: float


@dataclass(frozen=True)
class Band:
    """The central `SPREAD_LEVEL` of a figure over many runs of one scenario."""

    low: float
    high: float

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high


def waits(arrivals: Sequence[float], handle_s: Sequence[float], agents: int) -> list[float]:
    """Each caller's wait in an ideal FCFS queue with `agents` agents (arrivals in order)."""
    free_at = [float("-inf")] * agents
    out = []
    for arrived, handle in zip(arrivals, handle_s, strict=True):
        start = max(arrived, heapq.heappop(free_at))
        out.append(start - arrived)
        heapq.heappush(free_at, start + handle)
    return out


def outcomes(
    arrivals: Sequence[float], handle_s: Sequence[float], patience_s: Sequence[float], agents: int
) -> list[tuple[float, bool]]:
    """Each caller's time in the queue and whether they were answered (else they gave up)."""
    free_at = [float("-inf")] * agents
    out = []
    for arrived, handle, patience in zip(arrivals, handle_s, patience_s, strict=True):
        start = max(arrived, free_at[0])
        if start - arrived > patience:
            out.append((patience, False))
            continue
        heapq.heapreplace(free_at, start + handle)
        out.append((start - arrived, True))
    return out


@dataclass(frozen=True)
class PatientSample:
    """The Erlang A figures of one run, as `ivr simulate` measures them.

    `p_abandon` is every caller who gave up over every caller (Erlang A's);
    `asa_s` the mean wait of those answered; `service_level` the ICMI one, with
    short abandons (under `short_s`) left out as the fold leaves them out.
    """

    calls: int
    p_abandon: float
    asa_s: float
    service_level: float


def summarise_patient(
    left: Sequence[tuple[float, bool]], threshold_s: float, short_s: float
) -> PatientSample:
    """P(abandon), ASA and ICMI service level of one run's (time in queue, answered) pairs."""
    answered = [w for w, ok in left if ok]
    gave_up = [w for w, ok in left if not ok and w >= short_s]
    counted = len(answered) + len(gave_up)
    within = sum(w <= threshold_s for w in answered) + sum(w <= threshold_s for w in gave_up)
    return PatientSample(
        calls=len(left),
        p_abandon=sum(not ok for _, ok in left) / len(left) if left else 0.0,
        asa_s=statistics.fmean(answered) if answered else 0.0,
        service_level=within / counted if counted else 1.0,
    )


def summarise(waited_s: Sequence[float], threshold_s: float) -> Sample:
    """ASA, P(wait > 0) and the share answered within `threshold_s` (no abandons)."""
    n = len(waited_s)
    if n == 0:
        return Sample(0, 0.0, 0.0, 1.0)
    return Sample(
        calls=n,
        asa_s=statistics.fmean(waited_s),
        p_wait=sum(w > 0 for w in waited_s) / n,
        service_level=sum(w <= threshold_s for w in waited_s) / n,
    )


def run(
    rng: random.Random,
    per_hour: float,
    agents: int,
    aht_s: float,
    minutes: float,
    threshold_s: float,
) -> Sample:
    """One run from empty: Poisson arrivals for `minutes`, every caller served to the end."""
    arrivals, t = [], rng.expovariate(per_hour / 3600)
    while t < minutes * 60:
        arrivals.append(t)
        t += rng.expovariate(per_hour / 3600)
    handle = [rng.expovariate(1 / aht_s) for _ in arrivals]
    return summarise(waits(arrivals, handle, agents), threshold_s)


def arrivals(rng: random.Random, per_hour: float, minutes: float) -> list[float]:
    """Poisson arrival times (s) over `minutes`."""
    out, t = [], rng.expovariate(per_hour / 3600)
    while t < minutes * 60:
        out.append(t)
        t += rng.expovariate(per_hour / 3600)
    return out


@dataclass(frozen=True)
class Scenario:
    """An M/M/N+M run's inputs: calls per hour, agents, AHT, patience (s), minutes, T."""

    per_hour: float
    agents: int
    aht_s: float
    patience_s: float
    minutes: float
    threshold_s: float
    short_s: float = DEFAULT_SHORT_ABANDON_S


def run_patient(rng: random.Random, s: Scenario) -> PatientSample:
    """One M/M/N+M run from empty: every caller answered or gone by the end."""
    times = arrivals(rng, s.per_hour, s.minutes)
    handle = [rng.expovariate(1 / s.aht_s) for _ in times]
    patience = [rng.expovariate(1 / s.patience_s) for _ in times]
    left = outcomes(times, handle, patience, s.agents)
    return summarise_patient(left, s.threshold_s, s.short_s)


def spread_patient(s: Scenario, runs: int = SPREAD_RUNS, seed: int = 0) -> dict[str, Band]:
    """The central `SPREAD_LEVEL` of P(abandon), ASA and service level over `runs` runs."""
    rng = random.Random(seed)
    samples = [run_patient(rng, s) for _ in range(runs)]
    tail = (1 - SPREAD_LEVEL) / 2
    return {
        name: band([getattr(x, name) for x in samples], tail)
        for name in ("p_abandon", "asa_s", "service_level")
    }


def spread(
    per_hour: float,
    agents: int,
    aht_s: float,
    minutes: float,
    threshold_s: float,
    runs: int = SPREAD_RUNS,
    seed: int = 0,
) -> dict[str, Band]:
    """The central `SPREAD_LEVEL` of ASA, P(wait) and service level over `runs` runs."""
    rng = random.Random(seed)
    samples = [run(rng, per_hour, agents, aht_s, minutes, threshold_s) for _ in range(runs)]
    tail = (1 - SPREAD_LEVEL) / 2
    return {
        name: band([getattr(s, name) for s in samples], tail)
        for name in ("asa_s", "p_wait", "service_level")
    }


def band(values: list[float], tail: float) -> Band:
    ordered = sorted(values)
    last = len(ordered) - 1
    return Band(ordered[round(tail * last)], ordered[round((1 - tail) * last)])
