"""`ivr demo`: the whole service on the embedded store, with a scripted stretch of calls.

Everything is real except the phone network: the app runs on uvicorn, state
lives in Valkey, routing runs its Lua scripts, and the emulator plays Twilio
and the people on the phones: callers in English, Malay and Thai who choose
different menu paths, wait, give up or leave a message, and agents who
answer, hear the whisper, accept (one declines), talk and wrap up. Time runs
on a controlled clock, so a busy stretch finishes in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ivr import background, offers
from ivr.app import create_app
from ivr.clock import ManualClock
from ivr.emulator import Emulator
from ivr.emulator.calls import Call
from ivr.liveserver import LiveServer
from ivr.service import Services
from ivr.settings import Settings

BUSINESS = "+60312345678"
DEMO_START = 1_795_399_200.0
"""Monday 23 November 2026, 10:00 in Kuala Lumpur: the sample business is open."""
PUBLIC_URL = "http://ivr.demo"
STEP_S = 1.0
PATHS: list[tuple[str, str, list[tuple[str, str]]]] = [
    # (language, a known caller's name or "", what they do after choosing a language)
    ("en", "Oliver", [("press", "1"), ("press", "20261124#")]),
    ("ms", "Aisyah", [("say", "saya perlukan sokongan")]),
    ("th", "Somchai", [("press", "3")]),
    ("en", "", [("press", "2")]),
    ("ms", "", [("press", "1"), ("press", "55501234#")]),
    ("th", "", [("say", "เทคนิค"), ("wait", "50"), ("press", "2"), ("wait", "3"), ("press", "#")]),
    ("en", "", [("say", "I want to buy a phone")]),
]
HOLD_WORDS = (
    "next in line",
    "caller number",
    "Your wait",
    "sorry you have had",
    "tone",
    "ลำดับ",
    "ระยะเวลารอ",
    "pemanggil",
    "Masa menunggu",
)
KNOWN = {"Oliver": "+447700900123", "Aisyah": "+60123456789", "Somchai": "+66812345678"}
AGENTS = {"alice": "client:alice", "budi": "client:budi", "chai": "+66811111111"}


@dataclass
class Caller:
    name: str
    number: str
    language: str
    steps: list[tuple[str, str]]
    patience_s: float
    call: Call | None = None
    started: float = 0.0
    outcome: str = ""
    not_before: float = 0.0
    shown: int = 0


@dataclass
class Agent:
    name: str
    device: str
    talk_s: float = 0.0
    declines_left: int = 0
    answered_at: float | None = None
    accepted: bool = False
    handled: int = 0
    log: list[str] = field(default_factory=list)


class Demo:
    """Plays callers and agents against the app, second by simulated second."""

    def __init__(
        self, tw: Emulator, svc: Services, clock: ManualClock, out: TextIO, rng: random.Random
    ) -> None:
        self.tw, self.svc, self.clock, self.out, self.rng = tw, svc, clock, out, rng
        self.start = clock.now()
        self.callers: list[Caller] = []
        self.agents = {name: Agent(name, device) for name, device in AGENTS.items()}
        self.agents["alice"].declines_left = 1

    def say(self, text: str) -> None:
        elapsed = int(self.clock.now() - self.start)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=self.out, flush=True)

    def open_floor(self) -> None:
        for name in self.agents:
            offered = self.svc.run(self.svc.router.set_available(name))
            self.svc.run(offers.dispatch_offers(self.svc, offered))
        self.say("alice, budi and chai are available")

    def run(self, minutes: float, calls_per_minute: float, speed: float = 0.0) -> None:
        """Play `minutes` of arrivals (then let calls finish); `speed` > 0 paces to real time."""
        self.open_floor()
        next_arrival = self.clock.now()
        end = self.start + minutes * 60
        while self.clock.now() < end or self.active():
            if self.clock.now() < end and self.clock.now() >= next_arrival:
                self.arrive()
                next_arrival += self.rng.expovariate(calls_per_minute / 60)
            for caller in self.callers:
                self.step_caller(caller)
            for agent in self.agents.values():
                self.step_agent(agent)
            self.tw.advance(STEP_S)
            if speed > 0:
                time.sleep(STEP_S / speed)
            if self.clock.now() > end + 1800:
                break

    def active(self) -> bool:
        return any(c.call is not None and not c.call.ended for c in self.callers)

    def arrive(self) -> None:
        language, known, steps = PATHS[len(self.callers) % len(PATHS)]
        if known and len(self.callers) < len(PATHS):
            name, number = known, KNOWN[known]
        else:
            name, number = f"caller {len(self.callers) + 1}", f"+601{self.rng.randrange(10**8):08d}"
        caller = Caller(name, number, language, list(steps), self.rng.expovariate(1 / 150))
        caller.started = self.clock.now()
        caller.call = self.tw.dial(from_=number, to=BUSINESS)
        self.callers.append(caller)
        self.say(f"{name} ({language}) calls")
        if not known or number != KNOWN[known]:
            caller.steps.insert(0, ("press", {"en": "1", "ms": "2", "th": "3"}[language]))

    def step_caller(self, caller: Caller) -> None:
        call = caller.call
        if call is None or call.ended:
            return
        self.show_hold(caller, call)
        if caller.steps:
            kind, value = caller.steps[0]
            if kind == "wait":
                caller.steps.pop(0)
                caller.not_before = self.clock.now() + float(value)
                return
            if self.clock.now() < caller.not_before:
                return
            wanted = "speech" if kind == "say" else "dtmf"
            if call.runner is not None and call.runner.accepts(wanted):
                caller.steps.pop(0)
                self.tw.deliver(call, wanted, (value, 0.9) if kind == "say" else value)
                self.say(f"{caller.name} {'says' if kind == 'say' else 'presses'} {value!r}")
            return
        if call.bridge is None and self.clock.now() - caller.started > caller.patience_s:
            self.say(f"{caller.name} gives up waiting and hangs up")
            caller.outcome = "abandoned"
            self.tw.hangup(call)

    def show_hold(self, caller: Caller, call: Call) -> None:
        """Print what the service tells a waiting caller about their place and wait."""
        for utterance in call.heard[caller.shown :]:
            if any(w in utterance.text for w in HOLD_WORDS):
                self.say(f"{caller.name} hears: {utterance.text}")
        caller.shown = len(call.heard)

    def step_agent(self, agent: Agent) -> None:
        device = self.tw.device(agent.device)
        if device.ringing is not None:
            device.answer()
            agent.answered_at, agent.accepted = self.clock.now(), False
            self.say(f"{agent.name}'s phone rings; {agent.name} answers and hears the whisper")
            return
        leg = device.call
        if leg is None:
            agent.answered_at = None
            return
        if not agent.accepted and leg.runner is not None and leg.runner.accepts("dtmf"):
            if agent.declines_left:
                agent.declines_left -= 1
                self.say(f"{agent.name} declines the call; the caller stays on hold")
                self.tw.deliver(leg, "dtmf", "9")
                return
            agent.accepted, agent.talk_s = True, self.rng.expovariate(1 / 100)
            agent.handled += 1
            self.tw.deliver(leg, "dtmf", "1")
            self.say(f"{agent.name} accepts and is connected")
        elif (
            agent.accepted
            and agent.answered_at
            and self.clock.now() - agent.answered_at > agent.talk_s
        ):
            self.say(f"{agent.name} finishes the call and wraps up")
            agent.accepted = False
            self.tw.hangup(leg)

    def summary(self) -> None:
        """What happened, from the service's own event stream."""
        from queues.events import read_events

        events = self.svc.run(read_events(self.svc.redis, self.svc.keys))
        kinds = Counter(e.type.value for e in events)
        frt = []
        for event in events:
            if event.type.value == "CONNECT":
                session = self.svc.run(self.svc.calls.get(event.get("call")))
                if session is not None:
                    frt.append(event.ts_ms / 1000 - session.started_at)
        languages = Counter(c.language for c in self.callers)
        print("\nSummary", file=self.out)
        print(f"  calls: {len(self.callers)}  by language: {dict(languages)}", file=self.out)
        print(f"  answered by an agent: {kinds['CONNECT']}", file=self.out)
        print(f"  abandoned while waiting: {kinds['ABANDON']}", file=self.out)
        print(f"  left a voicemail from hold: {kinds['EXITWITHKEY']}", file=self.out)
        print(
            f"  offers declined: {kinds['REJECTED']}, rang out: {kinds['RINGNOANSWER']}",
            file=self.out,
        )
        if frt:
            cuts = statistics.quantiles(frt, n=10) if len(frt) > 1 else [frt[0]] * 9
            print(
                f"  FRT (call start to agent): median {statistics.median(frt):.0f} s, "
                f"p90 {cuts[8]:.0f} s",
                file=self.out,
            )
        handled = ", ".join(f"{a.name} {a.handled}" for a in self.agents.values())
        print(f"  calls per agent: {handled}", file=self.out)
        print(f"  emulator errors: {len(self.tw.errors)}", file=self.out, flush=True)


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Start everything on a throwaway embedded store, play the scenario, print a summary."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(DEMO_START)
    with contextlib.ExitStack() as stack:
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=Path(stack.enter_context(tempfile.TemporaryDirectory())),
            redis_url=None,
        )
        app = create_app(local, clock=clock, run_timers=False)
        server = stack.enter_context(LiveServer(app))
        tw = stack.enter_context(
            Emulator(
                server.url,
                public_base_url=PUBLIC_URL,
                auth_token=local.twilio_auth_token,
                clock=clock,
            )
        )
        tw.add_number(
            BUSINESS,
            voice_url="/voice/incoming",
            voice_status_callback="/voice/status",
            sms_url="/sms/incoming",
        )
        svc: Services = server.app.state.services
        svc.twilio_http_client = tw.http_client()
        tw.on_tick(lambda now: svc.run(background.tick(svc)))
        demo = Demo(tw, svc, clock, out, random.Random(args.seed))
        demo.run(args.minutes, args.calls_per_minute, args.speed)
        demo.summary()
        return 1 if tw.errors else 0
