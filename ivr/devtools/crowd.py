"""The simulated crowd `ivr simulate` drives through the emulator: callers and agents.

Time moves from one thing to the next (an arrival, a hang-up, a caller's
patience running out, or whatever the emulator schedules), never in fixed
steps, so a wait is measured to the millisecond.
"""

from __future__ import annotations

import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from callbacks import callback
from callbacks.inprocess import JobRunner
from ivr.config.loader import directory_problem
from ivr.core.clock import ManualClock
from ivr.core.errors import ConfigError
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.sandbox import BUSINESS
from ivr.service import Services
from ivr.voice import offers

QUEUE = "billing"
STEP_S = 1.0
"""The longest the simulation lets time move before it looks again (callback jobs, new calls)."""
DRAIN_MAX_S = 7200
"""After the last arrival, how long the calls still up may take to finish."""
TICK_S = 1.0
"""The app's background tick (routing timers, metrics fold) every this much emulated time.

Nothing in a simulation waits on a routing timer (agents answer at once, no wrap-up),
so a coarser tick than the emulator's default only saves wall time."""
CALLER_STEPS = ("1", "1", "20261124#")
"""English, billing, an account number."""
CALLBACK_OFFER_AFTER_S = 30
"""With callback offers on, they are made while the estimated wait is over this (as in the
sample's support queue: at 60 s, callers at position 1 or 2 who gave up were never offered)."""
OFFER_WORDS = "called back"
"""In the English callback offer (callbacks.yaml `texts.offer`)."""
ACCEPT_STEPS = ("1", "1")
"""The offer's key, then 1 to confirm the caller's own number."""


@dataclass
class Caller:
    call: Call
    arrived: float
    patience_s: float
    talk_s: float
    """How long the agent who answers talks with this caller (drawn at arrival)."""
    steps: list[str]
    handled_s: float | None = None
    """Accept to hang-up as it happened: `talk_s`, or the bridge if that came later."""
    accepts_callback: bool = False
    gave_up: bool = False
    bridged: bool = False
    offered_callback: bool = False
    heard: int = 0


@dataclass
class Agent:
    device: str
    accepted_at: float | None = None
    hangup_at: float | None = None
    caller: Caller | None = None


def sim_config(
    source: Path,
    target: Path,
    agents: int,
    callbacks: bool = False,
    offer_after_s: int = CALLBACK_OFFER_AFTER_S,
) -> Path:
    """The sample config with K identical billing agents and no wrap-up.

    With `callbacks`, billing's hold loop offers a callback (key 1) while the
    estimated wait is over `offer_after_s`; without, billing has none.
    """
    missing = directory_problem(source)
    if missing is not None:
        raise ConfigError([missing])
    shutil.copytree(source, target)
    queues = yaml.safe_load((target / "queues.yaml").read_text())
    hold = queues["queues"][QUEUE].setdefault("hold", {})
    hold.pop("callback_key", None)
    if callbacks:
        hold.update(callback_key="1", callback_offer_after_estimate_s=offer_after_s)
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
    """Drives callers and agents, acting the instant something happens.

    Time moves from one thing to the next (an arrival, a hang-up, a caller's
    patience running out, or whatever the emulator schedules), never in fixed
    steps, so a wait is measured to the millisecond. Agents' phones answer at
    once and the agent presses 1 as soon as the whisper starts: the whole of
    an agent's handle time is the caller's exponential talk time, as in M/M/N.
    """

    def __init__(self, tw: Emulator, svc: Services, clock: ManualClock, args: Any) -> None:
        self.tw, self.svc, self.clock, self.args = tw, svc, clock, args
        self.rng = random.Random(args.seed)
        """Arrivals, numbers, patience and callback choices: the same with or without offers."""
        self.talk_rng = random.Random(f"talk-{args.seed}")
        """Each caller's talk time, drawn at arrival so both runs of --compare share them."""
        self.callers: list[Caller] = []
        self.active: list[Caller] = []
        self.by_number: dict[str, Caller] = {}
        self.agents = [Agent(f"client:sim{i}") for i in range(1, args.agents + 1)]
        self.jobs: JobRunner | None = None
        self.next_arrival = 0.0
        self.end = 0.0
        self.drain_max_s: float = DRAIN_MAX_S

    def run(self) -> None:
        self.start_agents()
        self.end = self.clock.now() + self.args.minutes * 60
        self.next_arrival = self.clock.now() + self.gap()
        while self.step():
            pass

    def start_agents(self) -> None:
        for agent in self.agents:
            self.tw.device(agent.device).auto = "answer"
        for i in range(1, self.args.agents + 1):
            self.svc.run(
                offers.dispatch_offers(
                    self.svc, self.svc.run(self.svc.router.set_available(f"sim{i}"))
                )
            )

    def step(self) -> bool:
        """Let the next thing happen; False once the run is over."""
        end = self.end
        if not (self.clock.now() < end or self.busy()):
            return False
        while self.clock.now() < end and self.next_arrival <= self.clock.now():
            self.arrive()
            self.next_arrival += self.gap()
        acted = self.tend() | self.act()
        if self.jobs is not None:
            self.jobs.run()
        until = self.next_due(end) - self.clock.now()
        if acted:
            self.tw.advance_until(self.attention, until)
        else:  # nothing could be done about what is pending: let time move on
            self.tw.advance(min(until, STEP_S))
        return self.clock.now() <= end + self.drain_max_s

    def tend(self) -> bool:
        """What a fault simulation does besides callers and agents (nothing here)."""
        return False

    def gap(self) -> float:
        return self.rng.expovariate(self.args.arrivals_per_hour / 3600)

    def busy(self) -> bool:
        """Calls still up, agents still talking, or callbacks still to make."""
        if self.active:
            return True
        if any(self.tw.device(a.device).call is not None for a in self.agents):
            return True
        return self.jobs is not None and bool(self.svc.run(callback.pending(self.svc)))

    def next_due(self, end: float) -> float:
        """The next arrival, hang-up or lost patience; at most `STEP_S` away."""
        due = [self.clock.now() + STEP_S]
        if self.next_arrival < end:
            due.append(self.next_arrival)
        due += [a.hangup_at for a in self.agents if a.hangup_at is not None]
        due += [c.arrived + c.patience_s for c in self.active if c.call.bridge is None]
        return max(self.clock.now(), min(due))

    def arrive(self) -> None:
        number = f"+6012{self.rng.randrange(10**7):07d}"  # a valid Malaysian mobile
        patience = (
            self.rng.expovariate(1 / self.args.patience) if self.args.patience else float("inf")
        )
        accepts = self.rng.random() < self.args.callback_prob
        talk = self.talk_rng.expovariate(1 / self.args.aht)
        if self.args.callback_prob > 0:
            self.tw.device(number).auto = "answer"  # they pick up when called back
        call = self.tw.dial(from_=number, to=BUSINESS)
        caller = Caller(
            call, self.clock.now(), patience, talk, list(CALLER_STEPS), accepts_callback=accepts
        )
        self.callers.append(caller)
        self.active.append(caller)
        self.by_number[number] = caller

    # -- acting on what is happening now --------------------------------------------------

    def attention(self) -> bool:
        """Whether a caller or an agent has something to do at this instant."""
        now = self.clock.now()
        for agent in self.agents:
            leg = self.tw.device(agent.device).call
            if leg is not None and agent_due(agent, leg, now):
                return True
        return any(self.caller_attention(c, now) for c in self.active)

    def caller_attention(self, caller: Caller, now: float) -> bool:
        if caller.call.ended:
            return True
        if caller.steps:
            return accepts_keys(caller.call)
        if caller.call.bridge is None and now >= caller.arrived + caller.patience_s:
            return True
        return self.args.callback_prob > 0 and len(caller.call.heard) > caller.heard

    def act(self) -> bool:
        """Do everything due now; say whether anything was done."""
        acted = False
        while True:
            done = [self.step_agent(a) for a in self.agents]
            done += [self.step_caller(c) for c in list(self.active)]
            if not any(done):
                return acted
            acted = True

    def step_caller(self, caller: Caller) -> bool:
        call = caller.call
        if call.ended:
            self.active.remove(caller)
            return True
        if caller.steps:
            if accepts_keys(call):
                self.tw.deliver(call, "dtmf", caller.steps.pop(0))
                return True
            return False
        if self.offer_callback(caller):
            return True
        if call.bridge is None and self.clock.now() >= caller.arrived + caller.patience_s:
            caller.gave_up = True
            self.tw.hangup(call)
            return True
        return False

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

    def step_agent(self, agent: Agent) -> bool:
        leg = self.tw.device(agent.device).call
        if leg is None:
            agent.accepted_at, agent.hangup_at = None, None
            return False
        action = agent_due(agent, leg, self.clock.now())
        if action == "accept" and self.hangs_up_in_whisper(leg):
            self.tw.hangup(leg)
        elif action == "accept":
            agent.accepted_at = self.clock.now()
            self.tw.deliver(leg, "dtmf", "1")
            if self.drops_after_accept(leg) and not leg.ended:
                agent.accepted_at = None
                self.tw.hangup(leg)
        elif action == "talk" and agent.accepted_at is not None and leg.bridge is not None:
            # The handle time runs from the accept (what routing counts as the connect);
            # the bridge comes after the caller's "connecting you", or a callback's ring.
            agent.caller = self.customer(leg.bridge.other(leg))
            if agent.caller is not None:
                agent.caller.bridged = True
            talk = agent.caller.talk_s if agent.caller else self.args.aht
            agent.hangup_at = max(agent.accepted_at + talk, self.clock.now())
        elif action == "hang up":
            if agent.caller is not None and agent.accepted_at is not None:
                agent.caller.handled_s = self.clock.now() - agent.accepted_at
            agent.accepted_at, agent.hangup_at, agent.caller = None, None, None
            self.tw.hangup(leg)
        return bool(action)

    def hangs_up_in_whisper(self, leg: Call) -> bool:
        """Whether the agent hangs up on `leg` instead of accepting (a fault simulation's)."""
        return False

    def drops_after_accept(self, leg: Call) -> bool:
        """Whether the agent's leg drops right after they accept (a fault simulation's)."""
        return False

    def customer(self, leg: Call) -> Caller | None:
        """The simulated caller on `leg`: their own call, or a callback to their number."""
        for number in (leg.from_, leg.to):
            if number in self.by_number:
                return self.by_number[number]
        return None


def agent_due(agent: Agent, leg: Call, now: float) -> str:
    """What the agent on `leg` does now: "accept", "talk", "hang up", or "" (nothing yet)."""
    if agent.accepted_at is None:
        return "accept" if accepts_keys(leg) else ""
    if agent.hangup_at is None:
        return "talk" if leg.bridge is not None else ""
    return "hang up" if now >= agent.hangup_at else ""


def accepts_keys(call: Call) -> bool:
    return call.runner is not None and call.runner.accepts("dtmf")
