"""Erlang C (M/M/N): probability of waiting, ASA, service level, and staffing advice.

Load A = arrival rate × AHT (Erlangs) with N agents. P(wait) uses the stable
Erlang-B recursion b = A·b/(k + A·b), k = 1..N, then C = N·b/(N − A(1 − b));
ASA = C·AHT/(N − A); SL(t) = 1 − C·e^(−(N − A)·t/AHT). With N ≤ A the queue
grows without bound: P(wait) = 1, ASA = ∞, SL = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_AGENTS = 10_000
"""Staffing searches stop here; no queue of ours needs more."""


def erlang_b(load: float, agents: int) -> float:
    """Blocking probability of an M/M/N/N system (the stable recursion)."""
    b = 1.0
    for k in range(1, agents + 1):
        b = load * b / (k + load * b)
    return b


def p_wait(load: float, agents: int) -> float:
    """Erlang C: the probability an arriving caller has to wait."""
    if agents <= load:
        return 1.0
    if load <= 0:
        return 0.0
    b = erlang_b(load, agents)
    return agents * b / (agents - load * (1 - b))


def asa_s(load: float, agents: int, aht_s: float) -> float:
    """Average speed of answer (s): mean wait over all callers, waiting or not."""
    if agents <= load:
        return math.inf
    return p_wait(load, agents) * aht_s / (agents - load)


def service_level(load: float, agents: int, aht_s: float, threshold_s: float) -> float:
    """Share of callers answered within `threshold_s` (P(wait ≤ t))."""
    if agents <= load:
        return 0.0
    return 1 - p_wait(load, agents) * math.exp(-(agents - load) * threshold_s / aht_s)


@dataclass(frozen=True)
class Advice:
    """Agents needed for a service-level target in one interval, against agents staffed."""

    queue: str
    interval: str
    arrivals_per_hour: float
    aht_s: float
    target: float
    threshold_s: float
    needed: int
    had: float

    def __str__(self) -> str:
        return (
            f"{self.queue}: to reach {self.target:.0%} in {self.threshold_s:.0f} s "
            f"between {self.interval} you need {agents(self.needed)}; you had {self.had:g}"
        )


def agents_needed(arrivals_per_hour: float, aht_s: float, target: float, threshold_s: float) -> int:
    """The fewest agents whose Erlang C service level reaches `target` (0 with no calls)."""
    load = arrivals_per_hour * aht_s / 3600
    if load <= 0:
        return 0
    agents = max(1, math.floor(load) + 1)
    while service_level(load, agents, aht_s, threshold_s) < target and agents < MAX_AGENTS:
        agents += 1
    return agents


def agents(n: int) -> str:
    """`1 agent`, `7 agents`."""
    return f"{n} agent" if n == 1 else f"{n} agents"
