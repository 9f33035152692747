"""What staffing advice is computed from: the part of an hour observed, agents, patience.

An hour's calls are a rate only over the time they could arrive in: the hour in
progress has been observed up to now, and a range that starts or ends inside an
hour covers only its part of it. `observed` gives that part; the advice divides
the calls in it by its length (`ivr report --staffing`, the dashboard's card).

Agents staffed are counted the same way: the staffed time folded into the hour
(`state_ms:*`, written when an agent changes state) plus the state each agent is
in now, from when it began (the fold's agent hash), over the time observed.

Mean patience comes from the queue's abandons: with exponential patience, its
maximum-likelihood estimate is the time every caller spent waiting (answered
callers' waits are patience not yet run out) over the callers who gave up.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import tzinfo

import redis.asyncio as aioredis

from ivr.core.keys import Keys
from queues.metrics import local_hours
from queues.metrics.batch import DEFAULT_MINUTE_TTL_S
from queues.metrics.fold import STAFFED_STATES
from queues.metrics.rollups import Totals

ABANDON_WAIT_FIELD = "abandon_wait_ms"
"""The rollup field summing the waits of callers who gave up (short abandons included)."""


@dataclass(frozen=True)
class Part:
    """The observed part [start, end) (UTC ms) of the local hour beginning at `hour_ms`."""

    hour_ms: int
    hour_end_ms: int
    start_ms: int
    end_ms: int

    @property
    def whole(self) -> bool:
        return (self.start_ms, self.end_ms) == (self.hour_ms, self.hour_end_ms)

    @property
    def hours(self) -> float:
        return (self.end_ms - self.start_ms) / local_hours.MS_PER_HOUR


def observed(hour_ms: int, zone: tzinfo, span: tuple[int, int], now_ms: int) -> Part | None:
    """The part of the local hour at `hour_ms` inside `span` (and, in progress, before now).

    Only the hour holding `now_ms` is cut at now: hours after it are whole, as a
    day played on a pretend clock (`ivr demo --keep`) may lie ahead of the wall
    clock. None when nothing of the hour is observed.
    """
    end = local_hours.hour_end_ms(hour_ms, zone)
    part = Part(
        hour_ms, end, max(hour_ms, span[0]), min(end, span[1], so_far(hour_ms, end, now_ms))
    )
    return part if part.end_ms > part.start_ms else None


def so_far(hour_ms: int, end_ms: int, now_ms: int) -> int:
    """The end of what is observed of the hour [hour_ms, end_ms): now, if it is in progress."""
    return now_ms if hour_ms <= now_ms < end_ms else end_ms


def minutes_kept(part: Part, now_ms: int) -> bool:
    """Whether the minute rollups of `part` are still kept (else read the whole hour)."""
    return part.start_ms >= now_ms - DEFAULT_MINUTE_TTL_S * 1000


def staffed_ms(
    folded: Totals, open_states: dict[str, tuple[str, int]], agents: Iterable[str], part: Part
) -> float:
    """Staffed agent time (ms) in the hour so far: folded time plus states still open."""
    total = float(sum(folded[f"state_ms:{s}"] for s in STAFFED_STATES))
    for agent in agents:
        state, since = open_states.get(agent, ("offline", part.end_ms))
        if state in STAFFED_STATES:
            total += max(0, part.end_ms - max(since, part.hour_ms))
    return total


async def open_states(
    redis: aioredis.Redis, keys: Keys, agents: list[str]
) -> dict[str, tuple[str, int]]:
    """Each agent's state as the fold last saw it and when (ms) it began (not yet in rollups)."""
    if not agents:
        return {}
    raws = await redis.hmget(keys.metrics_agents(), agents)
    out = {}
    for agent, raw in zip(agents, raws, strict=True):
        if raw:
            state = json.loads(raw)
            out[agent] = (str(state.get("state", "offline")), int(state.get("since", 0)))
    return out


def patience_s(totals: Totals) -> float | None:
    """Mean patience (s): all callers' time waiting over the callers who gave up.

    None without abandons, or when they were folded before their waits were
    (no `abandon_wait_ms`): no abandon data to estimate from.
    """
    gave_up = totals["abandoned"] + totals["abandoned_short"]
    gave_up_ms = totals[ABANDON_WAIT_FIELD]
    if not gave_up or not gave_up_ms:
        return None
    return (totals["wait_ms"] + gave_up_ms) / 1000 / gave_up
