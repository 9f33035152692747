"""Calls per second: what Twilio's outbound pacing asks of the account at the measured peak.

Twilio places calls made through its REST API at the account's calls per second (CPS, 1
by default; inbound calls and `<Dial>` legs are not paced) and holds the rest `queued`.
Every agent ring is one such call (one per offer), and so is every customer-first
callback dial. Two figures bound the CPS an account needs:

* sustained: the peak hour's outbound legs per second must stay well below the CPS
  (at most `MAX_PACER_LOAD` of it), or the backlog grows for as long as the peak lasts;
* burst: agents freed together are rung together, and the last of N rings starts
  (N - 1) / CPS late. That wait is the callers', so it is kept within
  `RING_DELAY_BUDGET_S` for as many agents as were staffed at the peak.

The ring timeout counts from the ring itself (`Router.ring_from`), so a low CPS costs
callers time, never a missed call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

TWILIO_DEFAULT_CPS = 1
"""Every Twilio account (and subaccount) starts at 1 CPS."""
SELF_SERVE_MAX_CPS = 30
"""An account with an approved Business Profile can set up to this in the Console
(Voice > Settings > General); beyond it, ask Twilio."""
RING_DELAY_BUDGET_S = 5.0
"""How late the last of a burst of agent rings may start."""
MAX_PACER_LOAD = 0.5
"""The share of the CPS the peak hour's steady rate may use."""
SECONDS_PER_HOUR = 3600


@dataclass(frozen=True)
class CpsAdvice:
    """The CPS the measured peak needs: its busiest hour's outbound legs, and the agents
    staffed then (all of them may be freed, and rung, together)."""

    interval: str
    rings: int
    callback_legs: int
    burst: int
    needed: int

    @property
    def per_second(self) -> float:
        return (self.rings + self.callback_legs) / SECONDS_PER_HOUR

    def __str__(self) -> str:
        raise_it = (
            f"raise the account's CPS to {self.needed} (Twilio's default is {TWILIO_DEFAULT_CPS})"
            if self.needed > TWILIO_DEFAULT_CPS
            else f"Twilio's default {TWILIO_DEFAULT_CPS} CPS is enough"
        )
        if self.needed > SELF_SERVE_MAX_CPS:
            raise_it += f"; above {SELF_SERVE_MAX_CPS}, ask Twilio"
        return (
            f"Outbound calls: the busiest hour, {self.interval}, made {self.rings} agent rings "
            f"and {self.callback_legs} callback dials ({self.per_second:.2f} a second); "
            f"{self.burst} agents freed together ring within {RING_DELAY_BUDGET_S:g} s "
            f"at {burst_cps(self.burst)} CPS: {raise_it}."
        )


def burst_cps(agents: int, budget_s: float = RING_DELAY_BUDGET_S) -> int:
    """The CPS at which `agents` rings made together all start within `budget_s`."""
    return max(TWILIO_DEFAULT_CPS, math.ceil((agents - 1) / budget_s)) if agents > 1 else 1


def sustained_cps(legs_per_hour: float) -> int:
    """The CPS that keeps `legs_per_hour` within `MAX_PACER_LOAD` of it."""
    return max(TWILIO_DEFAULT_CPS, math.ceil(legs_per_hour / SECONDS_PER_HOUR / MAX_PACER_LOAD))


def cps_needed(legs_per_hour: float, burst: int) -> int:
    """The account CPS for a peak of `legs_per_hour` outbound legs with `burst` agents."""
    return max(sustained_cps(legs_per_hour), burst_cps(burst))


def advise(interval: str, rings: int, callback_legs: int, burst: int) -> CpsAdvice:
    """The advice for one measured peak hour."""
    needed = cps_needed(rings + callback_legs, burst)
    return CpsAdvice(interval, rings, callback_legs, burst, needed)
