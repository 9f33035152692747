"""`ivr simulate`: Poisson callers and exponential handle times through the real service.

The app runs on a LiveServer with the emulator in front, on a ManualClock, as in
`ivr demo`. One queue (billing), K identical agents with no wrap-up; callers
dial, choose English and billing, key an account number and wait; agents'
phones answer at once, they press 1 as soon as the whisper starts and talk for
the caller's exponential talk time. With `--patience` callers hang up after an
exponential patience. The figures are read back from the metrics fold and set
beside Erlang C for the same inputs; with no patience and no callbacks the same
calls also go through the ideal M/M/N queue (`queues.metrics.mmc`), call by call, and
the figures are set against the spread of many ideal runs of that length. With
`--patience` (and no callbacks) they are set beside Erlang A (M/M/N+M,
`queues.metrics.erlang_a`) and the spread of ideal M/M/N+M runs instead.

A run must fit inside the config's opening hours from its start (Monday 10:00):
a longer one is refused, saying how many minutes fit, since callers after
closing never reach the queue. If some callers still never reach it, the
figures are shown without Erlang's, under a warning.

With `--callback-prob P` the queue offers "press 1 to be called back" once the
estimated wait is over `CALLBACK_OFFER_AFTER_S` (or `--callback-offer-after`), and
each caller who hears it accepts with probability P (their phone answers the
callback). `--compare` runs
the same arrivals (same seed) twice, with callback offers and with plain
holding, each on its own throwaway store, and prints them side by side.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import logging
import math
import secrets
import statistics
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from callbacks.inprocess import JobRunner
from ivr.config.hours import Hours
from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import ManualClock
from ivr.core.errors import IVRError
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore
from ivr.devtools import faults, reliability, sandbox
from ivr.devtools.crowd import CALLBACK_OFFER_AFTER_S, QUEUE, TICK_S, Simulation, sim_config
from ivr.devtools.sandbox import BUSINESS
from ivr.handlers import HANDLERS
from ivr.service import Services
from queues.events import Event, EventType, read_events
from queues.metrics import cps, erlang, erlang_a, mmc, rollups
from queues.metrics.batch import DEFAULT_SHORT_ABANDON_S
from queues.metrics.fold import fold

START = 1_795_399_200.0
"""Monday 23 November 2026, 10:00 in Kuala Lumpur."""
PUBLIC_URL = "http://ivr.devtools.simulate"
ESTIMATE_MIN_S = 10.0
UNPACED_CPS = 1000.0
"""The emulator's calls per second here: the ideal queue rings an agent the instant it
is free, so the simulated account's CPS never delays a ring; `outbound_cps` says what
CPS the simulated peak needs of a real account."""
"""Announcements made less than this before the answer are left out of the estimate error."""


def add_parser(subparsers: Any) -> None:
    """Register `ivr simulate` and its options."""
    p = subparsers.add_parser("simulate", help="Poisson callers through the real service")
    p.add_argument(
        "--arrivals-per-hour",
        type=float,
        help="mean rate of callers, Poisson; default 120 (with --faults: 90)",
    )
    p.add_argument("--agents", type=int, help="agents logged in and answering; default 3")
    p.add_argument("--aht", type=float, help="mean handle time (s), exponential; default 60")
    p.add_argument("--patience", type=float, help="mean patience (s), exponential; none: wait")
    p.add_argument(
        "--callback-prob",
        type=float,
        default=0.0,
        help="probability a caller accepts a callback offer (>0 turns the offers on)",
    )
    p.add_argument(
        "--callback-offer-after",
        type=int,
        default=CALLBACK_OFFER_AFTER_S,
        help="offer the callback while the estimated wait is over this (s); "
        f"default {CALLBACK_OFFER_AFTER_S}",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="same arrivals twice: with callback offers and with plain holding, side by side",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=1,
        help="random seed: the same seed replays the same callers (and faults); default 1",
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="simulated minutes of arrivals; default 60 (with --faults: 10)",
    )
    p.add_argument(
        "--faults",
        help="inject faults and check liveness: comma-separated kinds or profiles "
        f"({', '.join(faults.PROFILES)}; kinds in docs/reliability.md)",
    )


def measure(
    svc: Services, start: float, end: float, args: Any, events: list[Event]
) -> dict[str, Any]:
    """Measured figures from the fold, beside Erlang C for the simulation's inputs.

    The agent is busy from the offer to hang-up, so the service time is
    (ring + talk) / answered, and the wait Erlang C speaks of is the wait before
    the offer: (wait − ring) / answered. A caller waited when that wait is over 0.
    """
    totals = svc.run(
        rollups.read(
            svc.redis, svc.keys, f"q:{QUEUE}", int(start * 1000), int(end * 1000), zone=zone(svc)
        )
    )
    figures = totals.figures()
    answered = totals["answered"] or 1
    threshold = svc.registry.current.queues[QUEUE].service_level_s
    load = args.arrivals_per_hour * args.aht / 3600
    waits = [w for _, _, w in queue_waits(events)]
    measured = {
        "asa_s": (totals["wait_ms"] - totals["ring_ms"]) / 1000 / answered,
        "p_wait": sum(w > 0 for w in waits) / answered,
        "service_level": figures["service_level"],
    }
    theory: dict[str, float | None] = {
        "asa_s": erlang.asa_s(load, args.agents, args.aht),
        "p_wait": erlang.p_wait(load, args.agents),
        "service_level": erlang.service_level(load, args.agents, args.aht, threshold),
    }
    if args.patience:
        queued = totals["entered"] - totals["callbacks"]
        gave_up = totals["abandoned"] + totals["abandoned_short"]
        measured["p_abandon"] = gave_up / queued if queued else 0.0
        theory = erlang_a_figures(args, threshold)
    busy_ms = totals["ring_ms"] + totals["talk_ms"] + totals["hold_ms"]  # talk excludes hold
    return {
        "calls": totals["entered"],
        "answered": totals["answered"],
        "arrivals_per_hour": totals["entered"] / (args.minutes / 60),
        "service_time_s": busy_ms / 1000 / answered,
        "load_erlangs": load,
        "abandon_rate": figures["abandon_rate"],
        **{name: (value, theory.get(name)) for name, value in measured.items()},
        "frt_median_s": figures["frt_median_s"],
        "frt_p90_s": figures["frt_p90_s"],
    }


def erlang_a_figures(args: Any, threshold_s: float) -> dict[str, float | None]:
    """Erlang A (M/M/N+M) for the simulation's inputs: what `--patience` runs are held to.

    P(wait) is left out: Erlang A's is the share of arrivals who find every agent
    busy, the measured one the share of answered callers who waited.
    """
    model = erlang_a.Model(args.arrivals_per_hour, args.aht, args.agents, args.patience)
    return {
        "p_abandon": erlang_a.p_abandon(model),
        "asa_s": erlang_a.asa_s(model),
        "p_wait": None,
        "service_level": erlang_a.service_level(model, threshold_s),
    }


def zone(svc: Services) -> ZoneInfo:
    """The business's timezone, which the hour rollups follow."""
    return ZoneInfo(svc.registry.current.company.timezone)


def queue_waits(events: list[Event]) -> list[tuple[str, float, float]]:
    """(call, time it entered the queue, wait before its offer) for every answered call."""
    entered = {e.get("call"): e.ts_ms / 1000 for e in events if e.type.value == "ENTERQUEUE"}
    out = []
    for e in events:
        if e.type.value == "CONNECT" and e.get("call") in entered:
            wait_ms = int(e.get("wait_ms", "0")) - int(e.get("ring_ms", "0"))
            out.append((e.get("call"), entered[e.get("call")], wait_ms / 1000))
    return sorted(out, key=lambda row: row[1])


def against_ideal(svc: Services, sim: Simulation, args: Any, events: list[Event]) -> dict[str, Any]:
    """The same calls through the ideal M/M/N queue, and how far the service strays from it.

    The ideal queue gets each call's queue entry time and its handle time as it
    happened (the drawn talk time, or the bridge when that came later);
    `largest_gap_s` is the largest difference between a call's wait in the service
    and in the ideal queue. `band_*` is the central 99 % of each figure over runs
    of the scenario in the ideal queue: the sampling error of a run this long.
    """
    rows = queue_waits(events)
    talk = {c.call.sid: c.handled_s or c.talk_s for c in sim.callers}
    ideal = mmc.waits([t for _, t, _ in rows], [talk[sid] for sid, _, _ in rows], args.agents)
    gaps = [abs(wait - ideal_wait) for (_, _, wait), ideal_wait in zip(rows, ideal, strict=True)]
    threshold = svc.registry.current.queues[QUEUE].service_level_s
    bands = mmc.spread(args.arrivals_per_hour, args.agents, args.aht, args.minutes, threshold)
    return {
        "ideal_asa_s": mmc.summarise(ideal, threshold).asa_s,
        "largest_gap_s": max(gaps, default=0.0),
        **{f"band_{name}": band for name, band in bands.items()},
    }


def against_patient_ideal(svc: Services, args: Any) -> dict[str, Any]:
    """The central 99 % of each figure over ideal M/M/N+M runs of the scenario (Erlang A's
    queue): the sampling error of a run this long, for `--patience` runs."""
    scenario = mmc.Scenario(
        args.arrivals_per_hour,
        args.agents,
        args.aht,
        args.patience,
        args.minutes,
        svc.registry.current.queues[QUEUE].service_level_s,
        DEFAULT_SHORT_ABANDON_S,
    )
    return {f"band_{name}": band for name, band in mmc.spread_patient(scenario).items()}


def without_theory_if_lost(result: dict[str, Any], dialled: int) -> dict[str, Any]:
    """The result as it is, or, if some callers never reached the queue, with no Erlang
    figure and no band: the queue was not fed the rate the model is computed at."""
    result["not_queued"] = dialled - result["calls"]
    if result["not_queued"] <= 0:
        return result
    return {
        name: (value[0], None) if isinstance(value, tuple) else value
        for name, value in result.items()
        if not name.startswith("band_")
    }


class PastClosing(IVRError):
    """The run would go on after the config's opening hours close: callers then never reach
    the queue, so its figures would be set against a rate that did not arrive."""


def schedules(config: Config) -> dict[str, Hours]:
    """The opening hours a simulated caller can meet: the menu's hours branches, the queue's."""
    named = [node.hours for node in config.nodes.values()] + [config.queues[QUEUE].hold.hours]
    return {name: config.hours[name] for name in sorted({n for n in named if n in config.hours})}


def first_closed(config: Config, start: float, minutes: float) -> tuple[str, datetime] | None:
    """The first minute of [start, start + minutes) some schedule is closed, and its name."""
    zone = ZoneInfo(config.company.timezone)
    for minute in range(math.ceil(minutes)):
        when = datetime.fromtimestamp(start + minute * 60, zone)
        for name, hours in schedules(config).items():
            if not hours.is_open(when):
                return name, when
    return None


def check_hours(config: Config, args: Any) -> None:
    """Refuse a run that would outlast the opening hours (raise `PastClosing`, saying how long
    a run fits)."""
    closed = first_closed(config, START, args.minutes)
    if closed is None:
        return
    name, when = closed
    fits = round((when.timestamp() - START) / 60)
    opened = datetime.fromtimestamp(START, when.tzinfo)
    if fits == 0:
        raise PastClosing(
            f"the run starts {opened:%A %d %B %H:%M} ({when.tzinfo}), when the {name!r} hours "
            "are closed: no caller would reach the queue. Open those hours then, or simulate "
            "with a config that is open at the start."
        )
    raise PastClosing(
        f"the run starts {opened:%A %d %B %H:%M} and would go on past {when:%A %H:%M} "
        f"({when.tzinfo}), when the {name!r} hours are closed: callers after that never reach "
        f"the queue, so nothing could be compared with Erlang C. Ask for --minutes {fits} or "
        "fewer."
    )


def simulate(settings: Settings, args: Any, fresh_store: bool = False) -> dict[str, Any]:
    """Run one simulation on `settings.redis_url` (or a throwaway embedded store).

    Raises `PastClosing` when the run would outlast the config's opening hours.
    """
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(START)
    callbacks = args.callback_prob > 0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=tmp / "var",
            config_dir=sim_config(
                settings.config_dir, tmp / "config", args.agents, callbacks, offer_after_s(args)
            ),
        )
        url = local.redis_url
        if fresh_store or not url:  # the callback jobs need a store URL
            url = stack.enter_context(EmbeddedStore(tmp / "store")).url
            local = local.with_(redis_url=url)
        check_hours(load(local.config_dir), args)
        box = stack.enter_context(sandbox.running(local, clock, BUSINESS, tick_s=TICK_S))
        tw, svc = box.tw, box.svc
        tw.cps = UNPACED_CPS
        sim = Simulation(tw, svc, clock, args)
        if callbacks:
            sim.jobs = JobRunner(svc, url, tw.http_client(), HANDLERS)
            stack.callback(sim.jobs.close)
        sim.run()
        end = clock.now() + 1
        while svc.run(fold(svc.redis, svc.keys, svc.registry.current)):
            pass  # every event in the rollups before any figure is read
        events = svc.run(read_events(svc.redis, svc.keys, count=1_000_000))
        result = measure(svc, START, end, args, events)
        result.update(side_figures(svc, START, end, events))
        advice = outbound_cps(events, args.agents)
        result["cps_needed"], result["cps_advice"] = advice.needed, str(advice)
        if not callbacks and not args.patience:
            result.update(against_ideal(svc, sim, args, events))
        elif not callbacks:
            result.update(against_patient_ideal(svc, args))
        result["emulator_errors"] = len(tw.errors)
        return without_theory_if_lost(result, len(sim.callers))


def outbound_cps(events: list[Event], agents: int) -> cps.CpsAdvice:
    """The CPS a real account needs for the busiest simulated hour: one REST call per agent
    ring (OFFERED) and per customer-first callback dial (CALLBACKDIAL for no agent), with
    all `agents` freed, and rung, together."""
    legs: collections.Counter[int] = collections.Counter()
    dials: collections.Counter[int] = collections.Counter()
    for event in events:
        hour = int((event.ts_ms / 1000 - START) // 3600)
        if event.type == EventType.OFFERED:
            legs[hour] += 1
        elif event.type == EventType.CALLBACKDIAL and not event.get("agent"):
            dials[hour] += 1
    peak = max(legs | dials, key=lambda h: legs[h] + dials[h], default=0)
    return cps.advise(f"simulated hour {peak + 1}", legs[peak], dials[peak], agents)


def offer_after_s(args: Any) -> int:
    """The callback offer's threshold: `--callback-offer-after`, else the simulation's own."""
    given = getattr(args, "callback_offer_after", None)
    return CALLBACK_OFFER_AFTER_S if given is None else int(given)


def side_figures(svc: Services, start: float, end: float, events: list[Event]) -> dict[str, Any]:
    """FRT percentiles, abandonment, callbacks completed and the wait-estimate error."""
    totals = svc.run(
        rollups.read(svc.redis, svc.keys, "all", int(start * 1000), int(end * 1000), zone=zone(svc))
    )
    figures = totals.figures()
    said = svc.run(announcements(svc))
    connected = {e.get("call"): e.ts_ms / 1000 for e in events if e.type.value == "CONNECT"}
    return {
        "frt_median_s": figures["frt_median_s"],
        "frt_p90_s": figures["frt_p90_s"],
        "frt_p95_s": figures["frt_p95_s"],
        "abandon_rate": figures["abandon_rate"],
        "answered": figures["answered"],
        "abandoned": figures["abandoned"],
        "callbacks_folded": figures["callbacks"],
        "callbacks_requested": sum(e.type.value == "CALLBACK" for e in events),
        "callbacks_completed": sum(e.type.value == "CALLBACKCONNECT" for e in events),
        "abandoned_offered": figures["abandoned_offered"],
        "abandoned_offered_share": figures["abandoned_offered_share"],
        "estimate_error": estimate_error([f for _, f in said], connected),
    }


async def announcements(svc: Services) -> list[tuple[str, dict[str, str]]]:
    """Every wait estimate told to a caller (`Keys.announcements`)."""
    found: list[tuple[str, dict[str, str]]] = await svc.redis.xrange(  # type: ignore[assignment]
        svc.keys.announcements()
    )
    return found


def estimate_error(said: list[dict[str, str]], connected: dict[str, float]) -> float | None:
    """Median |estimate − actual| / actual over wait estimates told to calls later answered.

    The actual wait is from the announcement to the call's CONNECT; announcements
    under `ESTIMATE_MIN_S` before it, and calls never answered, are left out.
    """
    errors = []
    for fields in said:
        answered = connected.get(fields.get("call", ""))
        if answered is None or answered - float(fields["at"]) < ESTIMATE_MIN_S:
            continue
        actual = answered - float(fields["at"])
        errors.append(abs(float(fields["estimate_s"]) - actual) / actual)
    return statistics.median(errors) if errors else None


SIDE_BY_SIDE = (
    "calls",
    "frt_median_s",
    "frt_p90_s",
    "frt_p95_s",
    "answered",
    "abandoned",
    "abandon_rate",
    "callbacks_requested",
    "callbacks_completed",
    "abandoned_offered",
    "abandoned_offered_share",
    "estimate_error",
    "emulator_errors",
)


def compare(settings: Settings, args: Any) -> dict[str, dict[str, Any]]:
    """The same arrivals (same seed) with callback offers and with plain holding."""
    plain = argparse.Namespace(**{**vars(args), "callback_prob": 0.0})
    return {
        "callbacks": simulate(settings, args, fresh_store=True),
        "holding": simulate(settings, plain, fresh_store=True),
    }


def show_side_by_side(runs: dict[str, dict[str, Any]], out: TextIO) -> None:
    print(f"{'figure':24} {'callbacks':>10} {'holding':>10}", file=out)
    for name in SIDE_BY_SIDE:
        cells = [cell(runs[run][name]) for run in ("callbacks", "holding")]
        print(f"{name:24} {cells[0]:>10} {cells[1]:>10}", file=out)


def cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def show(result: dict[str, Any], out: TextIO, patience: bool = False) -> None:
    """Measured figures beside Erlang C (Erlang A with `patience`) and, where known, the 99 %
    band of ideal M/M/N (M/M/N+M) runs."""
    model, ideal = ("Erlang A", "M/M/N+M") if patience else ("Erlang C", "M/M/N")
    if result.get("not_queued"):
        print(
            f"warning: {result['not_queued']} callers never reached the queue, so the figures "
            f"are not set beside {model} at the rate asked for",
            file=out,
        )
    print(f"{'figure':16} {'measured':>10} {model:>10} {ideal + ' 99% band':>16}", file=out)
    for name, value in result.items():
        if name.startswith("band_") or name == "cps_advice":
            continue
        measured, theory = value if isinstance(value, tuple) else (value, None)
        band = result.get(f"band_{name}")
        spread = f"{band.low:.3f}–{band.high:.3f}" if band is not None else ""
        theory_cell = cell(theory) if theory is not None else ""
        print(f"{name:16} {cell(measured):>10} {theory_cell:>10} {spread:>16}", file=out)
    if "cps_advice" in result:
        print(result["cps_advice"], file=out)


PLAIN_DEFAULTS = {"arrivals_per_hour": 120.0, "agents": 3, "aht": 60.0, "minutes": 60.0}


def with_defaults(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with the plain simulation's defaults for the options left out."""
    values = vars(args)
    filled = {k: v if values.get(k) is None else values[k] for k, v in PLAIN_DEFAULTS.items()}
    return argparse.Namespace(**{**values, **filled})


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Simulate, then print measured figures beside Erlang C (or the two runs of --compare).

    With `--faults`: one seed with those faults, its breaches and the line that replays it.
    """
    if getattr(args, "faults", None) is not None:
        report = reliability.run(settings, reliability.scenario(args), faults.parse(args.faults))
        reliability.show(report, out)
        return 1 if report.breaches else 0
    args = with_defaults(args)
    try:
        check_hours(load(settings.config_dir), args)
    except PastClosing as exc:
        print(f"ivr simulate: {exc}", file=out)
        return 2
    if getattr(args, "compare", False):
        runs = compare(settings, args)
        show_side_by_side(runs, out)
        return 1 if any(run["emulator_errors"] for run in runs.values()) else 0
    result = simulate(settings, args)
    show(result, out, patience=bool(args.patience))
    return 1 if result["emulator_errors"] else 0
