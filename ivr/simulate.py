"""`ivr simulate`: Poisson callers and exponential handle times through the real service.

The app runs on a LiveServer with the emulator in front, on a ManualClock, as in
`ivr demo`. One queue (billing), K identical agents with no wrap-up; callers
dial, choose English and billing, key an account number and wait; agents
answer, press 1 and talk for an exponential time. With `--patience` callers
hang up after an exponential patience. The figures are read back from the
metrics fold and set beside Erlang C for the same inputs.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from ivr import offers, sandbox
from ivr.clock import ManualClock
from ivr.emulator import Emulator
from ivr.emulator.calls import Call
from ivr.service import Services
from ivr.settings import Settings
from queues import erlang, histogram, rollups
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


@dataclass
class Caller:
    call: Call
    arrived: float
    patience_s: float
    steps: list[str]
    offered_callback: bool = False


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
    p.add_argument("--callback-prob", type=float, default=0.0, help="(callbacks: later issue)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minutes", type=float, default=60.0, help="simulated minutes of arrivals")


def sim_config(source: Path, target: Path, agents: int) -> Path:
    """The sample config with K identical billing agents and no wrap-up."""
    shutil.copytree(source, target)
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
        self.callers: list[Caller] = []
        self.agents = [Agent(f"client:sim{i}") for i in range(1, args.agents + 1)]

    def run(self) -> None:
        for i in range(1, self.args.agents + 1):
            self.svc.run(
                offers.dispatch_offers(
                    self.svc, self.svc.run(self.svc.router.set_available(f"sim{i}"))
                )
            )
        end = self.clock.now() + self.args.minutes * 60
        next_arrival = self.clock.now() + self.rng.expovariate(self.args.arrivals_per_hour / 3600)
        while self.clock.now() < end or any(not c.call.ended for c in self.callers):
            while self.clock.now() < end and next_arrival <= self.clock.now():
                self.arrive()
                next_arrival += self.rng.expovariate(self.args.arrivals_per_hour / 3600)
            for caller in self.callers:
                self.step_caller(caller)
            for agent in self.agents:
                self.step_agent(agent)
            self.tw.advance(STEP_S)

    def arrive(self) -> None:
        number = f"+601{self.rng.randrange(10**8):08d}"
        patience = (
            self.rng.expovariate(1 / self.args.patience) if self.args.patience else float("inf")
        )
        call = self.tw.dial(from_=number, to=BUSINESS)
        self.callers.append(Caller(call, self.clock.now(), patience, list(CALLER_STEPS)))

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
        """Hook for the callback issue: accept an offered callback with `--callback-prob`.

        Callbacks are not offered by the service yet, so this never fires; when they
        are, accept here (press the offer's key) and return True.
        """
        return False

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
                self.rng.expovariate(1 / self.args.aht),
            )
            self.tw.deliver(leg, "dtmf", "1")
        elif agent.accepted_at is not None and self.clock.now() - agent.accepted_at >= agent.talk_s:
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


def simulate(settings: Settings, args: Any) -> dict[str, Any]:
    """Run one simulation on a throwaway embedded store (or `settings.redis_url`)."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(START)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=tmp / "var",
            config_dir=sim_config(settings.config_dir, tmp / "config", args.agents),
        )
        box = stack.enter_context(sandbox.running(local, clock, BUSINESS))
        tw, svc = box.tw, box.svc
        Simulation(tw, svc, clock, args).run()
        result = measure(svc, START, clock.now() + 1, args)
        result["emulator_errors"] = len(tw.errors)
        return result


def show(result: dict[str, Any], out: TextIO) -> None:
    print(f"{'figure':16} {'measured':>10} {'Erlang C':>10}", file=out)
    for name, value in result.items():
        measured, theory = value if isinstance(value, tuple) else (value, None)
        cells = [
            ("-" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v))
            for v in (measured, theory)
        ]
        print(f"{name:16} {cells[0]:>10} {cells[1] if theory is not None else '':>10}", file=out)


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Simulate, then print measured figures beside Erlang C."""
    result = simulate(settings, args)
    show(result, out)
    return 1 if result["emulator_errors"] else 0
