"""Calibration of the spoken wait ranges in a simulated busy stretch, through the real service.

    .venv/bin/python -m bench.ewt [--hours 2] [--agents 5] [--aht 180] [--per-hour 95]
                                  [--sigma 1.0] [--seed 1] [--write]

Poisson arrivals, one queue, no abandons, agents who answer and accept at once; the
emulator runs on a controlled clock. It runs twice: with exponential handle times, and
with log-normal ones of the same mean (`--sigma`, the spread of their logarithm). Every
range the hold loop speaks is logged with the moment it was said; the caller's actual
remaining wait is their connect time minus that moment. Per position band (1, 2-4, 5-9,
10+) we report the share of ranges the actual wait fell inside (target >= 80% in every
band, for both distributions) and the median width of the range said. `--write` puts
the table in docs/ewt.md and a summary in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import yaml

from bench.docs import DOCS, ROOT, machine, write_section
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools import sandbox
from ivr.devtools.emulator import Emulator
from ivr.service import Services
from ivr.voice import offers
from queues import ewt
from queues.events import Event, read_events

BUSINESS = "+60312345678"
PUBLIC = "http://bench.local"
TOKEN = "bench-token"
START = 1_795_399_200.0  # Monday 10:00 in Kuala Lumpur
BANDS = (("1", 1, 1), ("2-4", 2, 4), ("5-9", 5, 9), ("10+", 10, 10**9))
TARGET = 0.80
EWT_DOCS = ROOT / "docs" / "ewt.md"
EWT_HEADING = "## Calibration"
BENCH_HEADING = "## Wait-estimate accuracy"

Said = list[tuple[str, dict[str, str]]]
"""The announcements stream: each range spoken, by stream id."""
Draw = Callable[[random.Random], float]
"""One handle time (seconds)."""


@dataclass(frozen=True)
class Band:
    """One position band's calibration: how many ranges, the share that held, their width."""

    name: str
    told: int
    held: float
    width_s: float
    open_ended: int


def write_config(target: Path, agents: int, aht: float) -> None:
    """The sample business and languages, one queue every agent serves, a menu straight to it."""
    shutil.copy(Path("config/business.yaml"), target / "business.yaml")
    menu = {
        "menu": {"start": "hello"},
        "nodes": {"hello": {"prompts": {"long": {"en": "Hello."}}, "then": {"queue": "general"}}},
    }
    queue = {
        "required_skills": {"general": 1},
        "ring_timeout_s": 30,
        "wrap_up_s": 0,
        "hold": {"voicemail_key": None, "apology_after_s": None, "handle_time_s": int(aht)},
    }
    people = {
        f"a{i}": {"name": f"Agent {i}", "skills": {"general": 3, "en": 3}, "device": f"client:a{i}"}
        for i in range(agents)
    }
    for name, data in [
        ("menu", menu),
        ("queues", {"queues": {"general": queue}}),
        ("agents", {"agents": people}),
    ]:
        (target / f"{name}.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")


def exponential(aht: float) -> Draw:
    return lambda rng: rng.expovariate(1 / aht)


def lognormal(aht: float, sigma: float) -> Draw:
    """Log-normal handle times with mean `aht`: exp(N(mu, sigma)) has mean exp(mu + sigma²/2)."""
    mu = math.log(aht) - sigma * sigma / 2
    return lambda rng: rng.lognormvariate(mu, sigma)


def simulate(
    args: argparse.Namespace, draw: Draw, config_dir: Path, data_dir: Path
) -> tuple[Said, list[Event]]:
    rng = random.Random(args.seed)
    clock = ManualClock(START)
    settings = Settings(
        twilio_auth_token=TOKEN, public_base_url=PUBLIC, data_dir=data_dir, config_dir=config_dir
    )
    with sandbox.running(settings, clock, BUSINESS) as box:
        tw, svc = box.tw, box.svc
        for i in range(args.agents):
            svc.run(offers.dispatch_offers(svc, svc.run(svc.router.set_available(f"a{i}"))))
        agent_ends: dict[str, float] = {}
        end, next_arrival, n = START + args.hours * 3600, START, 0
        while clock.now() < end or any(not c.ended for c in tw.calls if c.direction == "inbound"):
            if clock.now() >= next_arrival and clock.now() < end:
                tw.dial(from_=f"+6019{n:07d}", to=BUSINESS)
                n += 1
                next_arrival += rng.expovariate(args.per_hour / 3600)
            for i in range(args.agents):
                play_agent(tw, f"a{i}", agent_ends, rng, draw, clock.now())
            tw.advance(1)
            if clock.now() > end + 7200:
                break
        tw.assert_no_errors()
        said = svc.run(announcements(svc))
        events = svc.run(read_events(svc.redis, svc.keys, count=1_000_000))
    return said, events


async def announcements(svc: Services) -> Said:
    # The service's client decodes responses: ids and fields are str.
    return cast(Said, await svc.redis.xrange(svc.keys.announcements()))


def play_agent(
    tw: Emulator, name: str, ends: dict[str, float], rng: random.Random, draw: Draw, now: float
) -> None:
    """Answer at once, accept at the first moment the whisper listens, talk, hang up."""
    phone = tw.device(f"client:{name}")
    if phone.ringing is not None:
        phone.answer()
    leg = phone.call
    if leg is None:
        return
    if name not in ends and leg.runner is not None and leg.runner.accepts("dtmf"):
        tw.deliver(leg, "dtmf", "1")
        ends[name] = now + draw(rng)
    elif name in ends and now >= ends[name]:
        del ends[name]
        tw.hangup(leg)


def calibration(said: Said, events: list[Event]) -> list[Band]:
    """Per position band: the ranges told to callers later answered, and how many held."""
    connected = {e.get("call"): e.ts_ms / 1000 for e in events if e.type.value == "CONNECT"}
    held: dict[str, list[bool]] = {name: [] for name, _, _ in BANDS}
    widths: dict[str, list[float]] = {name: [] for name, _, _ in BANDS}
    for _, fields in said:
        answered = connected.get(fields["call"])
        if answered is None:
            continue
        actual = answered - float(fields["at"])
        low, high = float(fields["low_s"]), float(fields["high_s"])
        band = band_of(int(fields["position"]))
        held[band].append(low <= actual <= high)
        widths[band].append(high - low)
    return [band_row(name, held[name], widths[name]) for name, _, _ in BANDS]


def band_of(position: int) -> str:
    return next(name for name, low, high in BANDS if low <= position <= high)


def band_row(name: str, held: list[bool], widths: list[float]) -> Band:
    finite = [w for w in widths if math.isfinite(w)]
    return Band(
        name=name,
        told=len(held),
        held=sum(held) / len(held) if held else math.nan,
        width_s=statistics.median(finite) if finite else math.nan,
        open_ended=len(widths) - len(finite),
    )


def table(results: dict[str, list[Band]]) -> list[str]:
    rows = [
        "| handle times | position | ranges told | actual wait inside | median width |",
        "|---|---|---:|---:|---:|",
    ]
    for dist, bands in results.items():
        for b in bands:
            width = f"{b.width_s / 60:.1f} min" if math.isfinite(b.width_s) else "-"
            more = f" (+{b.open_ended} 'more than')" if b.open_ended else ""
            rows.append(f"| {dist} | {b.name} | {b.told} | {b.held:.0%} | {width}{more} |")
    return rows


def verdict(results: dict[str, list[Band]]) -> str:
    worst = min(b.held for bands in results.values() for b in bands if b.told)
    met = "met" if worst >= TARGET else "not met"
    every = f"Target >= {TARGET:.0%} in every band for both distributions"
    return f"{every}: **{met}** (lowest {worst:.0%})."


def command(args: argparse.Namespace) -> str:
    return (
        f".venv/bin/python -m bench.ewt --hours {args.hours:g} --agents {args.agents}"
        f" --aht {args.aht:g} --per-hour {args.per_hour:g} --sigma {args.sigma:g}"
        f" --seed {args.seed} --write"
    )


def setup(args: argparse.Namespace) -> str:
    load = args.per_hour * args.aht / 3600 / args.agents
    return (
        f"One queue, {args.agents} agents, handle times with mean {args.aht:g} s (load"
        f" {load:.2f}), Poisson arrivals at {args.per_hour:g}/h for {args.hours:g} h, no"
        " abandons, through the real service on the emulator's controlled clock. Log-normal:"
        f" sigma {args.sigma:g} (coefficient of variation"
        f" {math.sqrt(math.exp(args.sigma**2) - 1):.2f}). Quantiles"
        f" {ewt.LOW_QUANTILE:.0%}-{ewt.HIGH_QUANTILE:.0%} of the modelled wait, rounded"
        " outwards to whole minutes as spoken. A range held when the caller's actual remaining"
        " wait (connect time minus the moment it was said) fell inside it."
    )


def write_docs(args: argparse.Namespace, results: dict[str, list[Band]]) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        EWT_HEADING,
        "",
        f"Written by `bench/ewt.py` on {stamp}; reproduce with:",
        "",
        "```sh",
        command(args),
        "```",
        "",
        *machine(),
        "",
        setup(args),
        "",
        *table(results),
        "",
        verdict(results),
        "",
    ]
    write_section(EWT_DOCS, EWT_HEADING, "\n".join(lines))
    summary = [
        BENCH_HEADING,
        "",
        f"Written by `bench/ewt.py` on {stamp} (`{command(args)}`): per position band, the"
        " share of callers whose actual wait fell inside the range they were told (and the"
        " median width of that range). Table and method in [ewt.md](ewt.md#calibration).",
        "",
        *[
            f"- {dist} handle times: "
            + ", ".join(f"position {b.name} {b.held:.0%} ({b.width_s / 60:.0f} min)" for b in bands)
            for dist, bands in results.items()
        ],
        "",
        verdict(results),
        "",
    ]
    write_section(DOCS, BENCH_HEADING, "\n".join(summary))


def run(args: argparse.Namespace, dist: str) -> list[Band]:
    """One distribution's run, on its own store (the two run side by side)."""
    draw = exponential(args.aht) if dist == "exponential" else lognormal(args.aht, args.sigma)
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp) / "config"
        config_dir.mkdir()
        write_config(config_dir, args.agents, args.aht)
        said, events = simulate(args, draw, config_dir, Path(tmp) / "var")
    return calibration(said, events)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--aht", type=float, default=180.0)
    parser.add_argument("--per-hour", type=float, default=95.0)
    parser.add_argument("--sigma", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--only", choices=["exponential", "log-normal"], default=None)
    parser.add_argument("--write", action="store_true", help="write docs/ewt.md and benchmarks")
    args = parser.parse_args()
    names = [n for n in ("exponential", "log-normal") if args.only in (None, n)]
    with ProcessPoolExecutor(max_workers=len(names)) as pool:
        found = pool.map(run, [args] * len(names), names)
        results = dict(zip(names, found, strict=True))
    print("\n".join(table(results)))
    print(verdict(results))
    if args.write:
        write_docs(args, results)


if __name__ == "__main__":
    main()
