"""Wait-estimate accuracy in a simulated busy hour, through the real service.

    .venv/bin/python -m bench.ewt [--hours 2] [--agents 5] [--aht 180] [--per-hour 85] [--seed 1]

Poisson arrivals and exponential handle times, one queue, no abandons,
agents who answer and accept at once; the emulator runs on a controlled
clock. Every wait estimate the hold loop speaks is logged with the moment it
was said; the caller's actual remaining wait is their connect time minus
that moment. We report the median absolute error, in seconds and relative to
the actual wait, for our estimate (position x recent handle time / staffed
agents) and, for comparison, for Asterisk's queue-wide smoothed average
(which ignores position). Target: median relative error <= 25%.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import cast

import yaml

from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools import sandbox
from ivr.devtools.emulator import Emulator
from ivr.service import Services
from ivr.voice import offers
from queues.events import Event, read_events

BUSINESS = "+60312345678"
PUBLIC = "http://bench.local"
TOKEN = "bench-token"
START = 1_795_399_200.0  # Monday 10:00 in Kuala Lumpur

Said = list[tuple[str, dict[str, str]]]
"""The announcements stream: each wait estimate spoken, by stream id."""


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


def simulate(
    args: argparse.Namespace, config_dir: Path, data_dir: Path
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
                play_agent(tw, f"a{i}", agent_ends, rng, args.aht, clock.now())
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
    tw: Emulator, name: str, ends: dict[str, float], rng: random.Random, aht: float, now: float
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
        ends[name] = now + rng.expovariate(1 / aht)
    elif name in ends and now >= ends[name]:
        del ends[name]
        tw.hangup(leg)


def errors(said: Said, events: list[Event]) -> dict[str, float]:
    connected = {e.get("call"): e.ts_ms / 1000 for e in events if e.type.value == "CONNECT"}
    answered = [e for e in events if e.type.value == "CONNECT"]
    ours, asterisk, absolute, signed = [], [], [], []
    by_position: dict[str, list[float]] = {"1": [], "2-4": [], "5+": []}
    smoothed = None
    waits = sorted((e.ts_ms, int(e.get("wait_ms")) / 1000) for e in answered)
    for _, fields in said:
        at, call = float(fields["at"]), fields["call"]
        if call not in connected or connected[call] - at < 10:
            continue
        actual = connected[call] - at
        estimate = float(fields["estimate_s"])
        ours.append(abs(estimate - actual) / actual)
        absolute.append(abs(estimate - actual))
        signed.append((estimate - actual) / actual)
        position = int(fields["position"])
        band = "1" if position == 1 else "2-4" if position <= 4 else "5+"
        by_position[band].append(abs(estimate - actual) / actual)
        smoothed = asterisk_estimate(waits, at * 1000)
        if smoothed is not None:
            waited = float(fields["waited_s"])
            asterisk.append(abs(max(smoothed - waited, 0) - actual) / actual)

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    return {
        "announcements": len(ours),
        "calls answered": len(answered),
        "median abs error (s)": median(absolute),
        "median rel error (ours)": median(ours),
        "median rel error (Asterisk-style)": median(asterisk),
        "median signed rel error (bias, ours)": median(signed),
        **{
            f"median rel error at position {band} (n={len(v)})": median(v)
            for band, v in by_position.items()
        },
    }


def asterisk_estimate(waits: list[tuple[int, float]], before_ms: float) -> float | None:
    """Asterisk's holdtime: new = (3*old + sample)/4 over answered waits so far."""
    value = None
    for ts, wait in waits:
        if ts > before_ms:
            break
        value = wait if value is None else (3 * value + wait) / 4
    return value


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--agents", type=int, default=5)
    parser.add_argument("--aht", type=float, default=180.0)
    parser.add_argument("--per-hour", type=float, default=85.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config_dir = Path(tmp) / "config"
        config_dir.mkdir()
        write_config(config_dir, args.agents, args.aht)
        said, events = simulate(args, config_dir, Path(tmp) / "var")
    for name, value in errors(said, events).items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")


if __name__ == "__main__":
    main()
