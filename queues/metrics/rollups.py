"""Reading the fold's rollups back: sums over a time range, and the figures derived from them.

Every formula here is the one named in docs/metrics.md; a figure with no
data is None, never 0, so "no calls" is not read as "0 s wait".
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from ivr.config.model import Config
from ivr.config.surveys import CES_SCALE
from ivr.core.keys import Keys
from queues.metrics import histogram, local_hours, offer_coverage
from queues.metrics.batch import DEFAULT_MINUTE_TTL_S
from queues.metrics.fold import BUSY_STATES, STAFFED_STATES
from queues.metrics.fold_controls import (
    CONSULT_OUTCOMES,
    TRANSFER_KINDS,
    TRANSFER_MODES,
    transfer_field,
)
from queues.metrics.local_hours import MS_PER_MINUTE

Figure = float | int | None


def ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom else None


@dataclass
class Totals:
    """Summed rollup fields of one scope over some buckets."""

    counts: Counter[str] = field(default_factory=Counter)

    def __getitem__(self, name: str) -> int:
        return self.counts[name]

    def merge(self, fields: dict[str, str]) -> None:
        for name, value in fields.items():
            self.counts[name] += int(value)

    def hist(self, name: str) -> dict[int, int]:
        prefix = f"{name}:"
        return {
            int(k[len(prefix) :]): v
            for k, v in self.counts.items()
            if k.startswith(prefix) and k[len(prefix) :].isdigit()
        }

    def percentile_s(self, name: str, q: float) -> float | None:
        value = histogram.percentile(self.hist(name), q)
        return None if value is None else value / 1000

    # -- the named figures ----------------------------------------------------
    def service_level(self) -> float | None:
        """ICMI (Asterisk SL2): (answered ≤T + abandoned ≤T) / (answered + abandoned + timeouts).

        The one service level of every face (floor view, reports, `ivr report`,
        `/metrics`). The fold counts the terms (`queues/metrics/fold_events.py`): short
        abandons and callbacks are in neither side, max-wait timeouts only below.
        """
        return ratio(*self.service_level_terms())

    def service_level_terms(self) -> tuple[int, int]:
        """The two sides of `service_level`: (within T, eligible). `/metrics` exports them as
        counters so PromQL divides their increases over any window."""
        within = self["answered_sl"] + self["abandoned_sl"]
        return within, self["answered"] + self["abandoned"] + self["timeouts"]

    def abandon_rate(self) -> float | None:
        """Abandoned (short ones excluded) / queued (short abandons and callbacks excluded)."""
        queued = self["entered"] - self["abandoned_short"] - self["callbacks"]
        return ratio(self["abandoned"], queued)

    def figures(self) -> dict[str, Figure]:
        frt_n = sum(self.hist("frt").values())
        ces_n = self["ces_n"]
        out: dict[str, Figure] = {
            "contacts": self["contacts"],
            "queued": self["entered"],
            "answered": self["answered"],
            "abandoned": self["abandoned"],
            "short_abandons": self["abandoned_short"],
            "callbacks": self["callbacks"],
            "timeouts": self["timeouts"],
            "service_level": self.service_level(),
            "abandon_rate": self.abandon_rate(),
            **offer_coverage.figures(self),
            "asa_s": ms_ratio(self["wait_ms"], self["answered"]),
            "frt_median_s": self.percentile_s("frt", 0.5),
            "frt_p90_s": self.percentile_s("frt", 0.9),
            "frt_p95_s": self.percentile_s("frt", 0.95),
            "frt_mean_s": ms_ratio(self["frt_ms"], frt_n),
            "frt_queue_mean_s": ms_ratio(self["frt_queue_ms"], frt_n),
            **self.handle_figures(),
            "art_s": ms_ratio(self["art_ms"], self["resolved"]),
            "fcr": ratio(self["fcr_contacts"] - self["fcr_failed"], self["fcr_contacts"]),
            "ces_mean": ratio(self["ces_sum"], ces_n),
            "ces_top_share": ratio(self["ces_top"], ces_n),
            "ces_responses": ces_n,
            "ces_response_rate": ratio(ces_n, self["fcr_contacts"]),
            "ces_late": self["ces_late"],
        }
        out.update({f"ces_{k}": self[f"ces:{k}"] for k in CES_SCALE})
        out.update(self.callback_figures())
        out.update(self.transfer_figures())
        return out

    def handle_figures(self) -> dict[str, Figure]:
        """Handled, and AHT split: talk (hold excluded) + hold + after-call work (wrap-up),
        each per handled, so `aht_s` = `talk_s` + `hold_s` + `acw_s`. In a queue's (and the
        overall, language) scope `handled` counts a contact once; in an agent's, each of
        their handles (docs/metrics.md, "Handle time")."""
        handled, talk, hold, wrap = (self[k] for k in ("handled", "talk_ms", "hold_ms", "wrap_ms"))
        holds = sum(self.hist("hold").values())
        return {
            "handled": handled,
            "aht_s": ms_ratio(talk + hold + wrap, handled),
            "talk_s": ms_ratio(talk, handled),
            "hold_s": ms_ratio(hold, handled),
            "acw_s": ms_ratio(wrap, handled),
            "holds": holds,
            "hold_mean_s": ms_ratio(hold, holds),
        }

    def transfer_figures(self) -> dict[str, Figure]:
        """Transfers made (by kind, warm or cold), received, and lost before the next agent;
        consults completed and cancelled, and their mean length."""
        by = self.transfers_by()
        consults = sum(self.hist("consult").values())
        out: dict[str, Figure] = {"transfers": sum(by.values())}
        out.update({f"transfers_{k}": by[k, "warm"] + by[k, "cold"] for k in TRANSFER_KINDS})
        out.update(
            {f"transfers_{m}": sum(by[k, m] for k in TRANSFER_KINDS) for m in TRANSFER_MODES}
        )
        for name in ("transfers_received", "transfers_in", "transfers_unanswered"):
            out[name] = self[name]
        out.update({f"consults_{o}": self[f"consults_{o}"] for o in CONSULT_OUTCOMES})
        out["consult_mean_s"] = ms_ratio(self["consult_ms"], consults)
        return out

    def transfers_by(self) -> dict[tuple[str, str], int]:
        """Transfers by (kind, warm | cold): `/metrics`' `ivr_transfers_total`."""
        return {
            (k, m): self[transfer_field(k, m == "warm")]
            for k in TRANSFER_KINDS
            for m in TRANSFER_MODES
        }

    def callback_figures(self) -> dict[str, Figure]:
        """Callbacks, their own contact type (none of them is in the inbound figures above).

        Answer time: request to the customer connected to an agent. After promise: that
        moment minus the time the customer was promised (negative: early). Completion:
        reached and handled / requested.
        """
        answer_n = sum(self.hist("callback_answer").values())
        return {
            "callbacks_requested": self["callbacks_requested"],
            "callbacks_reached": self["callbacks_reached"],
            "callbacks_completed": self["callbacks_completed"],
            "callback_completion_rate": ratio(
                self["callbacks_completed"], self["callbacks_requested"]
            ),
            "callback_answer_median_s": self.percentile_s("callback_answer", 0.5),
            "callback_answer_p90_s": self.percentile_s("callback_answer", 0.9),
            "callback_answer_mean_s": ms_ratio(self["callback_answer_ms"], answer_n),
            "callback_after_promise_mean_s": ms_ratio(
                self["callback_late_ms"], self["callback_promised"]
            ),
            "callback_on_time": ratio(self["callback_on_time"], self["callback_promised"]),
        }

    def agent_figures(self) -> dict[str, Figure]:
        """Occupancy = (on call + wrap-up) / (available + reserved + on call + wrap-up)."""
        state_s = {s: self[f"state_ms:{s}"] / 1000 for s in (*STAFFED_STATES, "break")}
        busy = sum(state_s[s] for s in BUSY_STATES)
        out: dict[str, Figure] = {
            "offers": self["offers"],
            # Offers the agent took: inbound calls and callbacks' entries alike.
            "answered": self["answered"] + self["callbacks_accepted"],
            "missed": self["missed"],
            "rejected": self["rejected"],
            **self.handle_figures(),
            **{k: v for k, v in self.transfer_figures().items() if k in AGENT_TRANSFER_FIGURES},
            "occupancy": ratio(busy, sum(state_s[s] for s in STAFFED_STATES)),
        }
        out.update({f"{s}_s": v for s, v in state_s.items()})
        return out


AGENT_TRANSFER_FIGURES = (
    "transfers",
    "transfers_received",
    "transfers_warm",
    "transfers_cold",
    "consults_completed",
    "consults_cancelled",
)
"""The transfer figures of an agent's row: those they made, received, and their consults."""


def ms_ratio(total_ms: int, n: int) -> float | None:
    return total_ms / 1000 / n if n else None


def bucket_starts(start_ms: int, end_ms: int, grain: str, zone: tzinfo | None) -> Sequence[int]:
    """The start (UTC ms) of every bucket of `grain` overlapping [start, end), oldest first.

    Minutes are UTC minutes. Hours are the local hours of `zone`, the zone the
    fold keyed them by (`company.timezone`); without it, every quarter hour at
    which some zone's hour could start is read (4× the keys, most absent).
    """
    if grain == "m":
        last = max(start_ms, end_ms - 1)
        return range(start_ms - start_ms % MS_PER_MINUTE, last + 1, MS_PER_MINUTE)
    if zone is None:
        return local_hours.any_hour_starts(start_ms, end_ms)
    return local_hours.hour_starts(start_ms, end_ms, zone)


async def series(
    redis: aioredis.Redis,
    keys: Keys,
    scope: str,
    start_ms: int,
    end_ms: int,
    grain: str = "h",
    zone: tzinfo | None = None,
) -> list[tuple[int, Totals]]:
    """(bucket start ms, totals) for every bucket of the range, in one round trip."""
    starts = bucket_starts(start_ms, end_ms, grain, zone)
    async with redis.pipeline(transaction=False) as pipe:
        for at in starts:
            pipe.hgetall(keys.metrics_rollup(grain, scope, at // MS_PER_MINUTE))
        replies: list[dict[str, str]] = await pipe.execute()
    out = []
    for at, fields in zip(starts, replies, strict=True):
        totals = Totals()
        totals.merge(fields)
        out.append((at, totals))
    return out


async def read(
    redis: aioredis.Redis,
    keys: Keys,
    scope: str,
    start_ms: int,
    end_ms: int,
    grain: str = "h",
    zone: tzinfo | None = None,
) -> Totals:
    """One scope's totals over the range (whole buckets of `grain`; `zone` as for `series`)."""
    total = Totals()
    for _, part in await series(redis, keys, scope, start_ms, end_ms, grain, zone):
        total.counts.update(part.counts)
    return total


class WindowRefused(ValueError):
    """A report window the rollups cannot give exactly (cut inside a minute, or cut inside
    an hour longer ago than the minute rollups are kept)."""


def check_window(span: tuple[int, int], zone: tzinfo, now_ms: int) -> None:
    """Refuse a window `read_window` would not give exactly (`WindowRefused`, with why).

    A window cut inside a local hour reads that hour's part from minute rollups: its
    edges must be whole minutes, and those minutes younger than the rollups' lifetime.
    """
    start, end = span
    if start % MS_PER_MINUTE or end % MS_PER_MINUTE:
        raise WindowRefused("a report window starts and ends on whole minutes (HH:MM)")
    oldest = [start] if local_hours.hour_start_ms(start, zone) != start else []
    if local_hours.hour_start_ms(end, zone) != end:
        oldest.append(local_hours.hour_start_ms(end, zone))
    kept_from = now_ms - DEFAULT_MINUTE_TTL_S * 1000
    if oldest and min(oldest) < kept_from:
        days = DEFAULT_MINUTE_TTL_S // 86_400
        raise WindowRefused(
            f"a window that starts or ends inside an hour is read from minute rollups, "
            f"kept {days} days: give whole hours for older ranges (or --export the contacts)"
        )


def cut_keys(keys: Keys, scope: str, hour: int, span: tuple[int, int], zone: tzinfo) -> list[str]:
    """The rollups holding the part of the local hour starting at `hour` inside `span`:
    its hour rollup when the window covers it, else its minute rollups in the window."""
    start, end = span
    hour_end = local_hours.hour_end_ms(hour, zone)
    if start <= hour and hour_end <= end:
        return [keys.metrics_rollup("h", scope, hour // MS_PER_MINUTE)]
    minutes = bucket_starts(max(start, hour), min(end, hour_end), "m", None)
    return [keys.metrics_rollup("m", scope, m // MS_PER_MINUTE) for m in minutes]


async def window_series(
    redis: aioredis.Redis,
    keys: Keys,
    scope: str,
    start_ms: int,
    end_ms: int,
    zone: tzinfo,
) -> list[tuple[int, Totals]]:
    """(start, totals) of each local hour of [start, end), cut to the window exactly: a
    whole hour from its hour rollup, a cut one from its minute rollups (`check_window`
    says when those are gone). A cut hour's start is the window's edge."""
    span = (start_ms, end_ms)
    parts = [(h, cut_keys(keys, scope, h, span, zone)) for h in bucket_starts(*span, "h", zone)]
    async with redis.pipeline(transaction=False) as pipe:
        for _, names in parts:
            for name in names:
                pipe.hgetall(name)
        replies: list[dict[str, str]] = await pipe.execute()
    out, at = [], 0
    for hour, names in parts:
        totals = Totals()
        for fields in replies[at : at + len(names)]:
            totals.merge(fields)
        at += len(names)
        out.append((max(hour, start_ms), totals))
    return out


async def read_window(
    redis: aioredis.Redis, keys: Keys, scope: str, start_ms: int, end_ms: int, zone: tzinfo
) -> Totals:
    """One scope's totals over exactly [start, end) (`window_series`): the reports' read."""
    total = Totals()
    for _, part in await window_series(redis, keys, scope, start_ms, end_ms, zone):
        total.counts.update(part.counts)
    return total


async def all_time(redis: aioredis.Redis, keys: Keys, scope: str) -> Totals:
    """The never-expiring totals of a scope (Prometheus counters)."""
    total = Totals()
    total.merge(await redis.hgetall(keys.metrics_rollup("t", scope, 0)))  # type: ignore[arg-type]
    return total


def local_midnight_ms(config: Config, now_s: float) -> int:
    zone = ZoneInfo(config.company.timezone)
    local = datetime.fromtimestamp(now_s, zone)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


async def read_today(
    redis: aioredis.Redis, keys: Keys, config: Config, scope: str, now_s: float
) -> Totals:
    """A scope's totals since local midnight (at most 25 local hour rollups): "today" on the
    floor view, the reports page's live card and `/metrics` alike."""
    zone = ZoneInfo(config.company.timezone)
    midnight = local_midnight_ms(config, now_s)
    return await read(redis, keys, scope, midnight, int(now_s * 1000), zone=zone)


async def live(redis: aioredis.Redis, keys: Keys, config: Config, now_s: float) -> dict[str, Any]:
    """Now waiting, oldest wait, agents by state and service level so far today, per queue.

    Waiting counts come from routing's own queue sets, the oldest wait from the
    fold's waiting set, agent states from routing's agent hash (the configured
    agents only), and today's service level from at most 25 local hour rollups: no
    event scan.
    """
    now_ms = int(now_s * 1000)
    queues: dict[str, Any] = {}
    for name in config.queues:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.zcard(keys.queue_calls(name))
            pipe.zrange(keys.metrics_waiting(name), 0, 0, withscores=True)
            waiting, oldest = await pipe.execute()
        today = await read_today(redis, keys, config, f"q:{name}", now_s)
        queues[name] = {
            "waiting": int(waiting),
            "oldest_wait_s": max(0.0, (now_ms - oldest[0][1]) / 1000) if oldest else 0.0,
            "service_level_today": today.service_level(),
            "answered_today": today["answered"],
            "callbacks_requested_today": today["callbacks_requested"],
            "callbacks_completed_today": today["callbacks_completed"],
        }
    return {"queues": queues, "agents": await agent_states(redis, keys, config)}


async def agent_states(redis: aioredis.Redis, keys: Keys, config: Config) -> dict[str, int]:
    """The configured agents by routing state; one never logged in is offline."""
    names = sorted(config.agents)
    raws = await redis.hmget(keys.routing_agents(), names) if names else []
    return dict(Counter(json.loads(v).get("state", "offline") if v else "offline" for v in raws))
