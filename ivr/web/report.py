"""`ivr report`: the contact-centre figures from the metrics rollups, in the terminal.

Reads the store at REDIS_URL (or the embedded one under IVR_DATA_DIR, as
`ivr serve` does) and the config for queue thresholds and the company's time
zone. Dates are local to the company; `--to` is exclusive (a bare date means
the end of that day). Figures and formulas: docs/metrics.md.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import math
import sys
from datetime import datetime, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import redis.asyncio as aioredis

from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import Clock, SystemClock
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.core.store import async_client, resolve_url
from queues.metrics import contacts, cps, erlang, erlang_a, intervals, rollups
from queues.metrics import staffing as staffing_data
from queues.metrics.fold import STAFFED_STATES

DEFAULT_TARGET = 0.8
QUEUE_COLUMNS: tuple[str, ...] = (
    "queued",
    "answered",
    "abandoned",
    "short_abandons",
    "service_level",
    "abandon_rate",
    "asa_s",
    "frt_median_s",
    "frt_p90_s",
    "frt_p95_s",
    "frt_mean_s",
    "frt_queue_mean_s",
    "aht_s",
    "fcr",
    "ces_mean",
    "ces_top_share",
    "ces_response_rate",
)
CALLBACK_COLUMNS = (
    "callbacks_requested",
    "callbacks_reached",
    "callbacks_completed",
    "callback_completion_rate",
    "callback_answer_median_s",
    "callback_answer_p90_s",
    "callback_answer_mean_s",
    "callback_after_promise_mean_s",
    "callback_on_time",
)
"""Callbacks, their own contact type: in no inbound figure above (docs/metrics.md)."""
QUEUE_COLUMNS += CALLBACK_COLUMNS
AGENT_COLUMNS: tuple[str, ...] = ("offers", "answered", "missed", "handled", "aht_s", "occupancy")
AGENT_COLUMNS += tuple(f"{s}_s" for s in (*STAFFED_STATES, "break"))
OFFER_COLUMNS = ("abandoned_offered", "abandoned_offered_share")
"""Callback offer coverage: abandons offered a callback first, and their share of abandons."""
QUEUE_COLUMNS += OFFER_COLUMNS
HANDLE_COLUMNS = ("talk_s", "hold_s", "acw_s", "holds", "hold_mean_s")
"""AHT's parts, each per handled (talk without hold, hold, after-call work): they add up to
`aht_s`; then the holds and their mean length."""
TRANSFER_COLUMNS = (
    "transfers",
    "transfers_queue",
    "transfers_agent",
    "transfers_number",
    "transfers_warm",
    "transfers_cold",
    "transfers_in",
    "transfers_unanswered",
    "consults_completed",
    "consults_cancelled",
    "consult_mean_s",
)
"""Transfers made from the queue (by kind, warm or cold), taken in from another queue, and
lost before the next agent; warm transfers' consults (docs/metrics.md)."""
QUEUE_COLUMNS += ("handled", *HANDLE_COLUMNS, *TRANSFER_COLUMNS)
AGENT_COLUMNS += (
    *HANDLE_COLUMNS,
    "transfers",
    "transfers_received",
    "consults_completed",
    "consults_cancelled",
)


def add_parser(subparsers: Any) -> None:
    """Register `ivr report` and its options."""
    p = subparsers.add_parser("report", help="contact-centre figures from the metrics rollups")
    p.add_argument("--from", dest="start", help="start, local date or date-time (default today)")
    p.add_argument("--to", dest="end", help="end (exclusive), local date or date-time")
    p.add_argument("--queue", help="only this queue")
    p.add_argument("--agent", help="only this agent")
    p.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="output format"
    )
    p.add_argument(
        "--staffing",
        action="store_true",
        help="agents needed per queue and hour: Erlang C, and Erlang A from measured patience",
    )
    p.add_argument("--target", type=float, default=DEFAULT_TARGET, help="service level target")
    p.add_argument("--export", choices=("csv", "jsonl"), help="contact detail records instead")


def parse_when(text: str, zone: ZoneInfo, end: bool = False) -> datetime:
    """A local date (whole day) or date-time; a bare date as an end means the next midnight."""
    when = datetime.fromisoformat(text)
    bare = len(text) <= len("2026-11-23")
    when = when.replace(tzinfo=zone) if when.tzinfo is None else when
    return when + timedelta(days=1) if end and bare else when


def window(config: Config, args: argparse.Namespace, now_s: float) -> tuple[int, int]:
    zone = ZoneInfo(config.company.timezone)
    now = datetime.fromtimestamp(now_s, zone)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    start = parse_when(args.start, zone) if args.start else midnight
    # Today runs to its end: a day played on a pretend clock (`ivr demo --keep`) may lie
    # ahead of the wall clock, and nothing else is ever recorded in the future.
    end = parse_when(args.end, zone, end=True) if args.end else start + timedelta(days=1)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


async def collect(
    redis: aioredis.Redis,
    keys: Keys,
    config: Config,
    args: argparse.Namespace,
    span: tuple[int, int],
    now_ms: int | None = None,
) -> dict[str, Any]:
    """Every figure the report shows, as one JSON-ready document (`now_ms`: the hour in
    progress is observed up to then; None: the range's end)."""
    zone = ZoneInfo(config.company.timezone)
    queues = [args.queue] if args.queue else sorted(config.queues)
    agents = [args.agent] if args.agent else sorted(config.agents)
    out: dict[str, Any] = {"queues": {}, "agents": {}}
    for q in queues:
        scope = f"qa:{q}:{args.agent}" if args.agent else f"q:{q}"
        out["queues"][q] = (await rollups.read_window(redis, keys, scope, *span, zone)).figures()
    for a in agents:
        scope = f"qa:{args.queue}:{a}" if args.queue else f"a:{a}"
        figures = (await rollups.read_window(redis, keys, scope, *span, zone)).agent_figures()
        # Time in state is the agent's own, whatever queue the report is filtered on.
        states = (await rollups.read_window(redis, keys, f"a:{a}", *span, zone)).agent_figures()
        own = [f"{s}_s" for s in (*STAFFED_STATES, "break")] + ["occupancy"]
        figures.update({k: states[k] for k in own})
        out["agents"][a] = figures
    out["intervals"] = await intervals.collect(redis, keys, interval_scope(args), span, zone)
    if args.staffing:
        now = span[1] if now_ms is None else now_ms
        out["staffing"] = await staffing(redis, keys, config, queues, span, args.target, now)
        out["cps"] = await outbound_cps(redis, keys, config, span, now)
    return out


def interval_scope(args: argparse.Namespace) -> str:
    """The scope of the rows over time: the filtered queue and/or agent, else everything."""
    if args.queue and args.agent:
        return f"qa:{args.queue}:{args.agent}"
    if args.queue or args.agent:
        return f"q:{args.queue}" if args.queue else f"a:{args.agent}"
    return "all"


def eligible(config: Config, queue: str) -> list[str]:
    required = config.queues[queue].required_skills
    return [
        name
        for name, agent in config.agents.items()
        if all(agent.skills.get(skill, 0) >= level for skill, level in required.items())
    ]


async def staffing(
    redis: aioredis.Redis,
    keys: Keys,
    config: Config,
    queues: list[str],
    span: tuple[int, int],
    target: float,
    now_ms: int,
) -> list[dict[str, Any]]:
    """Per queue and hour with calls: the calls' hourly rate and AHT, agents needed and staffed.

    An hour observed only in part (the hour in progress, or cut by the range) gives
    its calls as a rate over that part (`queues.metrics.staffing.observed`). Where the
    range's abandons give a mean patience, Erlang A advice stands beside Erlang C's.
    """
    zone = ZoneInfo(config.company.timezone)
    rows = []
    for q in queues:
        threshold = config.queues[q].service_level_s if q in config.queues else 20
        hours = await rollups.series(redis, keys, f"q:{q}", *span, zone=zone)
        staffed = await staffed_hours(
            redis, keys, eligible(config, q) if q in config.queues else [], span, zone, now_ms
        )
        patience = staffing_data.patience_s(sum_totals(totals for _, totals in hours))
        for (at, totals), had in zip(hours, staffed, strict=True):
            part = staffing_data.observed(at, zone, span, now_ms)
            if part is None:
                continue
            if not part.whole and staffing_data.minutes_kept(part, now_ms):
                totals = await rollups.read(redis, keys, f"q:{q}", part.start_ms, part.end_ms, "m")
            else:  # only the whole hour is kept: its calls over the hour (as far as observed)
                end = staffing_data.so_far(at, part.hour_end_ms, now_ms)
                part = staffing_data.Part(at, part.hour_end_ms, at, end)
            aht = totals.figures()["aht_s"]
            # A call transferred in from another queue is work here too (its handle is in
            # this queue's AHT), though not a second inbound arrival.
            arrivals = totals["entered"] + totals["transfers_in"]
            if not arrivals or aht is None:
                continue
            rate = arrivals / part.hours
            needed = erlang.agents_needed(rate, float(aht), target, threshold)
            interval = f"{clock_time(part.start_ms, zone)} and {clock_time(part.end_ms, zone)}"
            advice = erlang.Advice(
                q, interval, round(rate, 1), float(aht), target, threshold, needed, round(had, 1)
            )
            rows.append(staffing_row(advice, rate, part.start_ms, zone, patience))
    return rows


def clock_time(ms: int, zone: ZoneInfo) -> str:
    return f"{datetime.fromtimestamp(ms / 1000, zone):%H:%M}"


def sum_totals(parts: Any) -> rollups.Totals:
    total = rollups.Totals()
    for part in parts:
        total.counts.update(part.counts)
    return total


def staffing_row(
    advice: erlang.Advice, rate: float, start_ms: int, zone: ZoneInfo, patience: float | None
) -> dict[str, Any]:
    """One interval's advice: Erlang C's, and Erlang A's where the range measured a patience."""
    row = {
        "date": f"{datetime.fromtimestamp(start_ms / 1000, zone):%Y-%m-%d}",
        "advice": str(advice),
        **vars(advice),
    }
    if patience is not None:
        needed = erlang_a.agents_needed(
            rate, advice.aht_s, patience, advice.target, advice.threshold_s
        )
        row.update(
            patience_s=round(patience, 1),
            needed_erlang_a=needed,
            advice_erlang_a=erlang_a.advice(advice, patience, needed),
        )
    return row


async def outbound_cps(
    redis: aioredis.Redis, keys: Keys, config: Config, span: tuple[int, int], now_ms: int
) -> dict[str, Any] | None:
    """The calls per second Twilio must allow for the busiest hour's agent rings (one per
    offer) and customer-first callback dials (one per callback taken in those queues), with
    as many agents as were ever staffed at once rung together (`queues.metrics.cps`)."""
    zone = ZoneInfo(config.company.timezone)
    hours = await rollups.series(redis, keys, "all", *span, zone=zone)
    dials = [0] * len(hours)
    for q in config.callbacks.customer_first:
        for i, (_, totals) in enumerate(
            await rollups.series(redis, keys, f"q:{q}", *span, zone=zone)
        ):
            dials[i] += int(totals["callbacks"])
    legs = [int(totals["offers"]) + dials[i] for i, (_, totals) in enumerate(hours)]
    if not any(legs):
        return None
    peak = legs.index(max(legs))
    staffed = await staffed_hours(redis, keys, list(config.agents), span, zone, now_ms)
    burst = math.ceil(max(staffed))
    begin = datetime.fromtimestamp(hours[peak][0] / 1000, zone)
    interval = f"{begin:%Y-%m-%d} {begin:%H:%M}-{begin + timedelta(hours=1):%H:%M}"
    advice = cps.advise(interval, legs[peak] - dials[peak], dials[peak], burst)
    return {"advice": str(advice), **vars(advice)}


async def staffed_hours(
    redis: aioredis.Redis,
    keys: Keys,
    agents: list[str],
    span: tuple[int, int],
    zone: ZoneInfo,
    now_ms: int,
) -> list[float]:
    """Agents staffed (logged in, not on break) on average over the part of each local
    hour observed: the range's part of it (to now for the hour in progress), read from
    minute rollups while they are kept, else over the whole hour so far.

    Staffed time folded into that part plus the states still open now, over its length.
    """
    states = await staffing_data.open_states(redis, keys, agents)
    hours = []
    for at in rollups.bucket_starts(*span, "h", zone):
        part = staffing_data.observed(at, zone, span, now_ms)
        if part is None:
            hours.append(0.0)
            continue
        grain = "m" if not part.whole and staffing_data.minutes_kept(part, now_ms) else "h"
        if grain == "h":
            end = staffing_data.so_far(at, part.hour_end_ms, now_ms)
            part = staffing_data.Part(at, part.hour_end_ms, at, end)
        folded = rollups.Totals()
        for a in agents:
            read = await rollups.read(
                redis, keys, f"a:{a}", part.start_ms, part.end_ms, grain, zone
            )
            folded.counts.update(read.counts)
        staffed = staffing_data.staffed_ms(folded, states, agents, part)
        hours.append(staffed / (part.end_ms - part.start_ms))
    return hours


PERCENT = (
    "service_level",
    "abandon_rate",
    "fcr",
    "ces_top_share",
    "ces_response_rate",
    "occupancy",
    "callback_completion_rate",
    "callback_on_time",
)
SHARES = ("abandoned_offered_share",)
"""Shown as percentages too (kept apart from PERCENT, which other figures extend)."""


def show(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if name in PERCENT or name in SHARES:
        return f"{value:.1%}"
    if isinstance(value, float):
        return f"{value:.1f}" if name.endswith("_s") else f"{value:.2f}"
    return str(value)


def table(
    title: str, rows: dict[str, dict[str, Any]], columns: tuple[str, ...], out: TextIO
) -> None:
    """Rows as columns: one column per queue or agent, one line per figure."""
    names = list(rows)
    width = max([len(c) for c in columns] + [10])
    cells = {n: [show(c, rows[n].get(c)) for c in columns] for n in names}
    col = {n: max([len(n)] + [len(v) for v in cells[n]]) for n in names}
    print(title.ljust(width) + "  " + "  ".join(n.rjust(col[n]) for n in names), file=out)
    for i, c in enumerate(columns):
        print(c.ljust(width) + "  " + "  ".join(cells[n][i].rjust(col[n]) for n in names), file=out)
    print(file=out)


def over_time(block: dict[str, Any], out: TextIO) -> None:
    """The rows over time (`metrics.intervals`): a line per hour or day, a column per figure."""
    rows, by = block["rows"], block["by"]
    if not rows:
        return
    width = max(len(by), *(len(r["label"]) for r in rows))
    cols = intervals.FIGURES
    cells = [[show(c, r[c]) for c in cols] for r in rows]
    wide = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(cols)]
    head = "  ".join(c.rjust(w) for c, w in zip(cols, wide, strict=True))
    print(by.ljust(width) + "  " + head, file=out)
    for r, line in zip(rows, cells, strict=True):
        values = "  ".join(v.rjust(w) for v, w in zip(line, wide, strict=True))
        print(r["label"].ljust(width) + "  " + values, file=out)
    print(file=out)


def render_csv(doc: dict[str, Any], out: TextIO) -> None:
    """One row per figure: kind (queue, agent, hour or day, staffing), name, figure, value."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["kind", "name", "figure", "value"])
    for kind in ("queues", "agents"):
        for name, figures in doc[kind].items():
            for figure, value in figures.items():
                writer.writerow([kind[:-1], name, figure, "" if value is None else value])
    for row in doc["intervals"]["rows"]:
        for figure in intervals.FIGURES:
            value = row[figure]
            writer.writerow(
                [doc["intervals"]["by"], row["label"], figure, "" if value is None else value]
            )
    for row in doc.get("staffing", []):
        writer.writerow(["staffing", row["queue"], row["interval"], row["advice"]])
        if "advice_erlang_a" in row:
            writer.writerow(["staffing", row["queue"], row["interval"], row["advice_erlang_a"]])
    if doc.get("cps"):
        writer.writerow(["cps", "outbound", doc["cps"]["interval"], doc["cps"]["needed"]])


def render(doc: dict[str, Any], fmt: str, out: TextIO) -> None:
    if fmt == "json":
        json.dump(doc, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return
    if fmt == "csv":
        render_csv(doc, out)
        return
    print(f"{doc['from']} to {doc['to']}\n", file=out)
    table("queue", doc["queues"], QUEUE_COLUMNS, out)
    table("agent", doc["agents"], AGENT_COLUMNS, out)
    over_time(doc["intervals"], out)
    for row in doc.get("staffing", []):
        print(f"{row['date']} {row['advice']}", file=out)
        if "advice_erlang_a" in row:
            print(f"{row['date']} {row['advice_erlang_a']}", file=out)
    if doc.get("cps"):
        print(doc["cps"]["advice"], file=out)


def refusal(config: Config, span: tuple[int, int], now_s: float) -> str | None:
    """Why the rollups cannot give this window exactly (`rollups.check_window`), or None.

    The export reads contact records by their start, so any window is exact there."""
    try:
        rollups.check_window(span, ZoneInfo(config.company.timezone), int(now_s * 1000))
    except rollups.WindowRefused as exc:
        return str(exc)
    return None


async def run(settings: Settings, args: argparse.Namespace, out: TextIO, clock: Clock) -> int:
    config = load(settings.config_dir)
    span = window(config, args, clock.now())
    why = None if args.export else refusal(config, span, clock.now())
    if why is not None:
        print(f"ivr report: {why}", file=sys.stderr)
        return 2
    url, embedded = resolve_url(settings)
    redis = async_client(url)  # any URL the service takes (redis+sentinel://, a cluster)
    keys = Keys(settings.tenant)
    try:
        if args.export:
            rows = await contacts.records(redis, keys, *span, args.queue, args.agent)
            contacts.write(rows, args.export, out)
            return 0
        doc = await collect(redis, keys, config, args, span, int(clock.now() * 1000))
    finally:
        await redis.aclose()
        if embedded is not None:
            embedded.stop()
    zone = ZoneInfo(config.company.timezone)
    doc["from"] = datetime.fromtimestamp(span[0] / 1000, zone).isoformat()
    doc["to"] = datetime.fromtimestamp(span[1] / 1000, zone).isoformat()
    render(doc, args.format, out)
    return 0


def main(
    settings: Settings, args: argparse.Namespace, out: TextIO, clock: Clock | None = None
) -> int:
    """Print the report (or export detail records) for the chosen range."""
    return asyncio.run(run(settings, args, out, clock or SystemClock()))
