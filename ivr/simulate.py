"""`ivr simulate`: Poisson callers and exponential handle times through the real service.

The app runs on a LiveServer with the emulator in front, on a ManualClock, as in
`ivr demo`. One queue (billing), K identical agents with no wrap-up; callers
dial, choose English and billing, key an account number and wait; agents
answer, press 1 and talk for an exponential time. With `--patience` callers
hang up after an exponential patience. The figures are read back from the
metrics fold and set beside Erlang C for the same inputs.

With `--callback-prob P` the queue offers "press 1 to be called back" once the
estimated wait is over `CALLBACK_OFFER_AFTER_S`, and each caller who hears it
accepts with probability P (their phone answers the callback). `--compare` runs
the same arrivals (same seed) twice, with callback offers and with plain
holding, each on its own throwaway store, and prints them side by side.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from callbacks import callback
from callbacks.inprocess import JobRunner
from ivr import offers, sandbox
from ivr.clock import ManualClock
from ivr.emulator import Emulator
from ivr.emulator.calls import Call
from ivr.service import Services
from ivr.settings import Settings
from ivr.store import EmbeddedStore
from queues import erlang, histogram, rollups
from queues.events import read_events
from queues.metrics import fold

BUSINESS = "+60312345678"
START = 1_795_399_200.0
"""Monday 23 November 2026, 10:00 in Kuala Lumpur."""
PUBLIC_URL = "http://ivr.simulate"
QUEUE = "billing"
STEP_S = 1.0
CALLER_STEPS = ("1", "1", "20261124#")
"""English, billing, an account number."""
WAITED_S = 2.0
"""A call counts as having waited when its queue wait exceeds the ring-and-accept time."""
CALLBACK_OFFER_AFTER_S = 60
"""With callback offers on, they are made while the estimated wait is over this."""
OFFER_WORDS = "called back"
"""In the English callback offer (callbacks.yaml `texts.offer`)."""
ACCEPT_STEPS = ("1", "1")
"""The offer's key, then 1 to confirm the caller's own number."""
ESTIMATE_MIN_S = 10.0
"""Announcements made less than this before the answer are left out of the estimate error."""


@dataclass
class Caller:
    call: Call
    arrived: float
    patience_s: float
    steps: list[str]
    accepts_callback: bool = False
    offered_callback: bool = False
    heard: int = 0


@dataclass
class Agent:
    device: str
    talk_s: float = 0.0
    accepted_at: float | None = None


def add_parser(subparsers: Any) -> None:
    """Register `ivr simulate` and its options."""
    p = subparsers.add_parser("simulate", help="Poisson callers through the real service")
    p.add_argument("--arrivals-per-hour", type=float, default=120.0)
    p.add_argument("--agents", type=int, default=3)
    p.add_argument("--aht", type=float, default=60.0, help="mean handle time (s), exponential")
    p.add_argument("--patience", type=float, help="mean patience (s), exponential; none: wait")
    p.add_argument(
        "--callback-prob",
        type=float,
        default=0.0,
        help="probability a caller accepts a callback offer (>0 turns the offers on)",
    )
    p.add_argument(
        "--compare",
        action="store_true",
        help="same arrivals twice: with callback offers and with plain holding, side by side",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minutes", type=float, default=60.0, help="simulated minutes of arrivals")


def sim_config(source: Path, target: Path, agents: int, callbacks: bool = False) -> Path:
    """The sample config with K identical billing agents and no wrap-up.

    With `callbacks`, billing's hold loop offers a callback (key 1) while the
    estimated wait is over `CALLBACK_OFFER_AFTER_S`; without, billing has none.
    """
    shutil.copytree(source, target)
    queues = yaml.safe_load((target / "queues.yaml").read_text())
    hold = queues["queues"][QUEUE].setdefault("hold", {})
    hold.pop("callback_key", None)
    if callbacks:
        hold.update(callback_key="1", callback_offer_after_estimate_s=CALLBACK_OFFER_AFTER_S)
    (target / "queues.yaml").write_text(yaml.safe_dump(queues, allow_unicode=True))
    roster = {
        f"sim{i}": {
            "name": f"Sim {i}",
            "skills": {QUEUE: 5, "en": 5},
            "device": f"client:sim{i}",
            "wrap_up_s": 0,
        }
        for i in range(1, agents + 1)
    }
    (target / "agents.yaml").write_text(yaml.safe_dump({"agents": roster}))
    return target


class Simulation:
    """Drives callers and agents second by simulated second."""

    def __init__(self, tw: Emulator, svc: Services, clock: ManualClock, args: Any) -> None:
        self.tw, self.svc, self.clock, self.args = tw, svc, clock, args
        self.rng = random.Random(args.seed)
        """Arrivals, numbers, patience and callback choices: the same with or without offers."""
        self.talk_rng = random.Random(f"talk-{args.seed}")
        self.callers: list[Caller] = []
        self.agents = [Agent(f"client:sim{i}") for i in range(1, args.agents + 1)]
        self.jobs: JobRunner | None = None

    def run(self) -> None:
        for i in range(1, self.args.agents + 1):
            self.svc.run(
                offers.dispatch_offers(
                    self.svc, self.svc.run(self.svc.router.set_available(f"sim{i}"))
                )
            )
        end = self.clock.now() + self.args.minutes * 60
        next_arrival = self.clock.now() + self.rng.expovariate(self.args.arrivals_per_hour / 3600)
        while self.clock.now() < end or self.busy():
            while self.clock.now() < end and next_arrival <= self.clock.now():
                self.arrive()
                next_arrival += self.rng.expovariate(self.args.arrivals_per_hour / 3600)
            for caller in self.callers:
                self.step_caller(caller)
            for agent in self.agents:
                self.step_agent(agent)
            if self.jobs is not None:
                self.jobs.run()
            self.tw.advance(STEP_S)
            if self.clock.now() > end + 7200:
                break

    def busy(self) -> bool:
        """Calls still up, agents still talking, or callbacks still to make."""
        if any(not c.call.ended for c in self.callers):
            return True
        if any(self.tw.device(a.device).call is not None for a in self.agents):
            return True
        return self.jobs is not None and bool(self.svc.run(callback.pending(self.svc)))

    def arrive(self) -> None:
        number = f"+6012{self.rng.randrange(10**7):07d}"  # a valid Malaysian mobile
        patience = (
            self.rng.expovariate(1 / self.args.patience) if self.args.patience else float("inf")
        )
        accepts = self.rng.random() < self.args.callback_prob
        if self.args.callback_prob > 0:
            self.tw.device(number).auto = "answer"  # they pick up when called back
        call = self.tw.dial(from_=number, to=BUSINESS)
        caller = Caller(call, self.clock.now(), patience, list(CALLER_STEPS), accepts)
        self.callers.append(caller)

    def step_caller(self, caller: Caller) -> None:
        call = caller.call
        if call.ended:
            return
        if caller.steps:
            if call.runner is not None and call.runner.accepts("dtmf"):
                self.tw.deliver(call, "dtmf", caller.steps.pop(0))
            return
        if self.offer_callback(caller):
            return
        if call.bridge is None and self.clock.now() - caller.arrived > caller.patience_s:
            self.tw.hangup(call)

    def offer_callback(self, caller: Caller) -> bool:
        """When the caller first hears the callback offer, accept it if they will.

        Whether they accept was drawn at arrival (`--callback-prob`), so both runs
        of `--compare` draw the same numbers. Accepting queues the offer's key and
        the number's confirmation as the caller's next steps.
        """
        heard = caller.call.heard[caller.heard :]
        caller.heard = len(caller.call.heard)
        if caller.offered_callback or not any(OFFER_WORDS in u.text for u in heard):
            return False
        caller.offered_callback = True
        if not caller.accepts_callback:
            return False
        caller.steps = list(ACCEPT_STEPS)
        return True

    def step_agent(self, agent: Agent) -> None:
        device = self.tw.device(agent.device)
        if device.ringing is not None:
            device.answer()
            return
        leg = device.call
        if leg is None:
            agent.accepted_at = None
            return
        if agent.accepted_at is None and leg.runner is not None and leg.runner.accepts("dtmf"):
            agent.accepted_at, agent.talk_s = (
                self.clock.now(),
                self.talk_rng.expovariate(1 / self.args.aht),
            )
            self.tw.deliver(leg, "dtmf", "1")
        elif (
            agent.accepted_at is not None
            and leg.bridge is not None  # a callback's customer may still be ringing
            and self.clock.now() - agent.accepted_at >= agent.talk_s
        ):
            agent.accepted_at = None
            self.tw.hangup(leg)


def measure(svc: Services, start: float, end: float, args: Any) -> dict[str, Any]:
    """Measured figures from the fold, beside Erlang C for the measured inputs.

    The agent is busy from the offer (ring and whisper) to hang-up, so the service
    time is (ring + talk) / answered, and the queue wait Erlang C predicts is the
    wait before the offer: (wait − ring) / answered.
    """
    svc.run(fold(svc.redis, svc.keys, svc.registry.current))
    totals = svc.run(
        rollups.read(svc.redis, svc.keys, f"q:{QUEUE}", int(start * 1000), int(end * 1000))
    )
    figures = totals.figures()
    answered = totals["answered"] or 1
    hist = totals.hist("wait")
    waited = sum(n for b, n in hist.items() if histogram.lower_ms(b) >= WAITED_S * 1000)
    threshold = svc.registry.current.queues[QUEUE].service_level_s
    service_s = (totals["ring_ms"] + totals["talk_ms"]) / 1000 / answered
    per_hour = totals["entered"] / (args.minutes / 60)
    load = per_hour * service_s / 3600
    return {
        "calls": totals["entered"],
        "answered": totals["answered"],
        "arrivals_per_hour": per_hour,
        "service_time_s": service_s,
        "load_erlangs": load,
        "abandon_rate": figures["abandon_rate"],
        "asa_s": (
            (totals["wait_ms"] - totals["ring_ms"]) / 1000 / answered,
            erlang.asa_s(load, args.agents, service_s),
        ),
        "p_wait": (waited / answered, erlang.p_wait(load, args.agents)),
        "service_level": (
            figures["service_level"],
            erlang.service_level(load, args.agents, service_s, threshold),
        ),
        "frt_median_s": figures["frt_median_s"],
        "frt_p90_s": figures["frt_p90_s"],
    }


def simulate(settings: Settings, args: Any, fresh_store: bool = False) -> dict[str, Any]:
    """Run one simulation on `settings.redis_url` (or a throwaway embedded store)."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(START)
    callbacks = args.callback_prob > 0
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=tmp / "var",
            config_dir=sim_config(settings.config_dir, tmp / "config", args.agents, callbacks),
        )
        if fresh_store:
            store = stack.enter_context(EmbeddedStore(tmp / "store"))
            local = local.with_(redis_url=store.url)
        box = stack.enter_context(sandbox.running(local, clock, BUSINESS))
        tw, svc = box.tw, box.svc
        sim = Simulation(tw, svc, clock, args)
        if callbacks and local.redis_url:
            sim.jobs = JobRunner(svc, local.redis_url, tw.http_client())
            stack.callback(sim.jobs.close)
        sim.run()
        result = measure(svc, START, clock.now() + 1, args)
        result.update(side_figures(svc, START, clock.now() + 1))
        result["emulator_errors"] = len(tw.errors)
        return result


def side_figures(svc: Services, start: float, end: float) -> dict[str, Any]:
    """FRT percentiles, abandonment, callbacks completed and the wait-estimate error."""
    while svc.run(fold(svc.redis, svc.keys, svc.registry.current)):
        pass
    totals = svc.run(rollups.read(svc.redis, svc.keys, "all", int(start * 1000), int(end * 1000)))
    figures = totals.figures()
    events = svc.run(read_events(svc.redis, svc.keys, count=1_000_000))
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
    print(f"{'figure':20} {'callbacks':>10} {'holding':>10}", file=out)
    for name in SIDE_BY_SIDE:
        cells = [cell(runs[run][name]) for run in ("callbacks", "holding")]
        print(f"{name:20} {cells[0]:>10} {cells[1]:>10}", file=out)


def cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def show(result: dict[str, Any], out: TextIO) -> None:
    print(f"{'figure':16} {'measured':>10} {'Erlang C':>10}", file=out)
    for name, value in result.items():
        measured, theory = value if isinstance(value, tuple) else (value, None)
        cells = [cell(v) for v in (measured, theory)]
        print(f"{name:16} {cells[0]:>10} {cells[1] if theory is not None else '':>10}", file=out)


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Simulate, then print measured figures beside Erlang C (or the two runs of --compare)."""
    if getattr(args, "compare", False):
        runs = compare(settings, args)
        show_side_by_side(runs, out)
        return 1 if any(run["emulator_errors"] for run in runs.values()) else 0
    result = simulate(settings, args)
    show(result, out)
    return 1 if result["emulator_errors"] else 0
