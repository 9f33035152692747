"""Erlang A (M/M/N+M): Erlang C with callers who give up after an exponential patience.

Palm's model: Poisson arrivals λ, N agents with exponential handle times (rate
μ = 1/AHT), and each waiting caller abandons at rate θ = 1/mean patience. The
number in the system is a birth-death chain, births λ, deaths min(j, N)·μ +
max(j − N, 0)·θ, always stable when θ > 0. An arriving caller sees it in its
stationary law (PASTA). One who finds j ≥ N in the system waits at position
k = j − N + 1, and moves up at rate r(i) = Nμ + (i − 1)·θ (an answer, or one of
the i − 1 ahead giving up) while giving up at rate θ, so:

* P(answered | k) = Nμ / (Nμ + kθ) (the product telescopes);
* E[wait·1{answered} | k] follows m(k) = q(k)·(s(k − 1)/(r(k) + θ) + m(k − 1)),
  q(k) = r(k)/(r(k) + θ) the chance to move up before giving up;
* P(still waiting at t | k) = e^(−θt)·P(k moves up take longer than t), the
  latter by uniformisation of the move-up chain.

P(abandon) is the share of arrivals who give up; ASA is the mean wait of the
callers answered (what `ivr report` and `ivr simulate` measure); the service
level is the ICMI one: the share of callers who left the queue (answered or
gave up) within the threshold. Contact centres that staff by Erlang C
overstaff when callers abandon: those who give up free the agents for the rest.
Reference: Garnett, Mandelbaum and Reiman, "Designing a call center with
impatient customers" (2002); Mandelbaum and Zeltyn, "The M/M/n+G queue".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from queues.metrics import erlang

TAIL = 1e-13
"""States are summed until the rest of the queue-length law weighs less than this."""
MAX_WAITING = 1_000_000
"""A hard stop on the queue lengths summed (a patience of days on an overloaded queue)."""
RESCALE_ABOVE = 1e200
"""Unnormalised weights are scaled down past this, so 500 agents never overflow a float."""


@dataclass(frozen=True)
class Model:
    """One interval's Erlang A inputs: calls per hour, AHT (s), agents and mean patience (s)."""

    arrivals_per_hour: float
    aht_s: float
    agents: int
    patience_s: float

    @property
    def arrival_rate(self) -> float:
        return self.arrivals_per_hour / 3600

    @property
    def answer_rate(self) -> float:
        """Nμ: how fast the queue's head is answered while every agent is busy."""
        return self.agents / self.aht_s

    @property
    def give_up_rate(self) -> float:
        return 1 / self.patience_s


def arrival_law(m: Model) -> tuple[float, list[float]]:
    """(P(an arrival finds a free agent), P(it waits at position k) for k = 1, 2, …)."""
    lam, mu, theta = m.arrival_rate, 1 / m.aht_s, m.give_up_rate
    weights, w, total = [1.0], 1.0, 1.0
    for j in range(1, m.agents + MAX_WAITING):
        ratio = lam / (min(j, m.agents) * mu + max(j - m.agents, 0) * theta)
        w *= ratio
        # Past N the ratios only fall: once below 1, the rest is under w·ratio/(1 − ratio).
        if j > m.agents and ratio < 1 and w * ratio / (1 - ratio) < TAIL * total:
            break
        weights.append(w)
        total += w
        if total > RESCALE_ABOVE:
            weights = [x / total for x in weights]
            w, total = w / total, 1.0
    total = math.fsum(weights)
    return math.fsum(weights[: m.agents]) / total, [x / total for x in weights[m.agents :]]


def answered_share(m: Model, k: int) -> float:
    """P(a caller who starts at position k is answered)."""
    return m.answer_rate / (m.answer_rate + k * m.give_up_rate)


def p_abandon(m: Model) -> float:
    """The share of callers who give up before an agent answers."""
    _, waiting = arrival_law(m)
    return math.fsum(p * (1 - answered_share(m, k)) for k, p in enumerate(waiting, 1))


def p_wait(m: Model) -> float:
    """The share of callers who find every agent busy."""
    return 1 - arrival_law(m)[0]


def asa_s(m: Model) -> float:
    """Mean wait (s) of the callers answered, those answered at once included."""
    free, waiting = arrival_law(m)
    theta, s, wait, answered, weighted = m.give_up_rate, 1.0, 0.0, free, 0.0
    for k, p in enumerate(waiting, 1):
        rate = m.answer_rate + (k - 1) * theta
        move_up = rate / (rate + theta)
        wait = move_up * (s / (rate + theta) + wait)
        s = answered_share(m, k)
        answered += p * s
        weighted += p * wait
    return weighted / answered if answered else math.inf


def service_level(m: Model, threshold_s: float) -> float:
    """ICMI: the share of callers who left the queue (answered or gave up) within the threshold."""
    _, waiting = arrival_law(m)
    return 1 - math.exp(-m.give_up_rate * threshold_s) * still_queued(m, waiting, threshold_s)


def still_queued(m: Model, waiting: list[float], t: float) -> float:
    """P(a caller has not reached an agent by t, were they never to give up), by uniformisation.

    Positions move up at r(i) = Nμ + (i − 1)θ; with Λ the largest, each of a
    Poisson(Λt) number of steps moves position i up with probability r(i)/Λ.
    """
    if not waiting or t <= 0:
        return math.fsum(waiting)
    theta = m.give_up_rate
    top = m.answer_rate + (len(waiting) - 1) * theta
    move = [(m.answer_rate + i * theta) / top for i in range(len(waiting))]
    mass, rate_t = list(waiting), top * t
    weight = math.exp(-rate_t) if rate_t < 700 else 0.0
    log_weight, out, n = -rate_t, 0.0, 0
    while True:
        out += weight * math.fsum(mass)
        n += 1
        if n > rate_t + 10 * math.sqrt(rate_t) + 20:
            return out
        mass = [
            mass[i] * (1 - move[i]) + (mass[i + 1] * move[i + 1] if i + 1 < len(mass) else 0)
            for i in range(len(mass))
        ]
        log_weight += math.log(rate_t) - math.log(n)
        weight = math.exp(log_weight)


def agents_needed(
    arrivals_per_hour: float, aht_s: float, patience_s: float, target: float, threshold_s: float
) -> int:
    """The fewest agents whose Erlang A service level reaches `target` (0 with no calls)."""
    if arrivals_per_hour <= 0:
        return 0
    # Service level grows with agents, and giving up only shortens the queue, so the
    # answer lies between 1 and Erlang C's: bisect.
    low, high = 1, erlang.agents_needed(arrivals_per_hour, aht_s, target, threshold_s)
    while low < high:
        mid = (low + high) // 2
        if service_level(Model(arrivals_per_hour, aht_s, mid, patience_s), threshold_s) >= target:
            high = mid
        else:
            low = mid + 1
    return low


def advice(c: erlang.Advice, patience_s: float, needed: int) -> str:
    """Erlang A's advice for the interval of Erlang C's `c`, and why the two differ."""
    said = (
        f"{c.queue}: with callers giving up after {patience_s:.0f} s on average (measured), "
        f"Erlang A needs {needed} agents to reach {c.target:.0%} in {c.threshold_s:.0f} s "
        f"between {c.interval}"
    )
    if needed == c.needed:
        return f"{said}, as Erlang C does"
    return (
        f"{said}, not Erlang C's {c.needed}: Erlang C assumes every caller waits until answered, "
        "but callers who give up leave the queue and free the agents for those who stay"
    )
