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
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from callbacks.inprocess import JobRunner
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore
from ivr.devtools import sandbox
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.handlers import HANDLERS
from ivr.service import Services
from ivr.voice import offers
from queues.events import read_events
from queues.metrics import fold as metrics
from queues.metrics import rollups

BUSINESS = "+60312345678"
DEMO_START = 1_795_399_200.0
"""Monday 23 November 2026, 10:00 in Kuala Lumpur: the sample business is open."""
PUBLIC_URL = "http://ivr.devtools.demo"
STEP_S = 1.0
SURVEY_GRACE_S = 300
"""After the last call, time for its survey (sent after two minutes) to be answered."""
REPLY_GRACE_S = 30
"""After the last job ran (a survey sent), time for the customer's texts back and forth."""
PATHS: list[tuple[str, str, list[tuple[str, str]]]] = [
    # (language, a known caller's name or "", what they do after choosing a language)
    ("en", "Oliver", [("press", "1"), ("press", "20261124#")]),
    ("ms", "Aisyah", [("say", "saya perlukan sokongan")]),
    ("th", "Somchai", [("press", "3")]),
    ("en", "", [("press", "2")]),
    ("ms", "", [("press", "1"), ("press", "55501234#")]),
    ("th", "", [("say", "เทคนิค"), ("wait", "50"), ("press", "2"), ("wait", "3"), ("press", "#")]),
    ("ms", "", [("press", "2"), ("wait", "20"), ("press", "1"), ("wait", "1"), ("press", "1")]),
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
    callbacks_seen: int = 0


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
        self.jobs: JobRunner | None = None
        self.last_job_at = 0.0
        self.texts_seen = 0
        self.low_scores = 0

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
        while self.clock.now() < end or self.active() or self.waiting_for_texts():
            if self.clock.now() < end and self.clock.now() >= next_arrival:
                self.arrive()
                next_arrival += self.rng.expovariate(calls_per_minute / 60)
            for caller in self.callers:
                self.step_caller(caller)
            for agent in self.agents.values():
                self.step_agent(agent)
            self.step_texts()
            if self.jobs is not None and self.jobs.run():
                self.last_job_at = self.clock.now()
            self.tw.advance(STEP_S)
            if speed > 0:
                time.sleep(STEP_S / speed)
            if self.clock.now() > end + 1800:
                break

    def active(self) -> bool:
        return any(c.call is not None and not c.call.ended for c in self.callers)

    def waiting_for_texts(self) -> bool:
        """After the calls: until every survey is sent and answered (or the grace is over)."""
        if self.clock.now() >= self.quiet_until():
            return False
        if self.jobs is None or self.clock.now() - self.last_job_at < REPLY_GRACE_S:
            return True
        redis, keys = self.jobs.ctx.redis, self.svc.keys
        due = redis.zcount(keys.jobs_due(), "-inf", self.quiet_until())
        return bool(due or redis.zcard(keys.jobs_retry()) or redis.zcard(keys.jobs_claimed()))

    def quiet_until(self) -> float:
        """Keep going until surveys (sent two minutes after a call) have been answered."""
        ended = [c.call.ended_at or 0.0 for c in self.callers if c.call is not None]
        return max(ended, default=0.0) + SURVEY_GRACE_S

    def step_texts(self) -> None:
        """Customers answer the SMS they get: a survey score, and a comment when asked."""
        for message in self.tw.outbox[self.texts_seen :]:
            caller = next((c for c in self.callers if c.number == message.to), None)
            if caller is None:
                continue
            body = message.body
            if "Reply 1" in body or "Balas 1" in body or "ตอบ 1" in body:
                score = self.rng.choice([7, 6, 6, 5, 7, 2])
                self.say(f"{caller.name} gets the survey and replies {score}")
                self.tw.send_sms(from_=caller.number, to=BUSINESS, body=str(score))
                self.low_scores += score <= 3
            elif "What made it hard" in body or "sukar" in body or "ยาก" in body:
                self.say(f"{caller.name} explains what was hard")
                self.tw.send_sms(from_=caller.number, to=BUSINESS, body="I had to wait too long")
            elif "called back" in body.lower() or "menghubungi" in body or "โทรกลับ" in body:
                self.say(f"{caller.name} gets an SMS confirming the callback")
        self.texts_seen = len(self.tw.outbox)

    def arrive(self) -> None:
        language, known, steps = PATHS[len(self.callers) % len(PATHS)]
        if known and len(self.callers) < len(PATHS):
            name, number = known, KNOWN[known]
        else:
            name = f"caller {len(self.callers) + 1}"
            number = f"+6012{self.rng.randrange(10**7):07d}"  # a Malaysian mobile: can get SMS
        caller = Caller(name, number, language, list(steps), self.rng.expovariate(1 / 150))
        caller.started = self.clock.now()
        self.tw.device(number).auto = "answer"  # they pick up when called back
        caller.call = self.tw.dial(from_=number, to=BUSINESS)
        self.callers.append(caller)
        self.say(f"{name} ({language}) calls")
        if not known or number != KNOWN[known]:
            caller.steps.insert(0, ("press", {"en": "1", "ms": "2", "th": "3"}[language]))

    def step_caller(self, caller: Caller) -> None:
        call = caller.call
        if call is None or call.ended:
            self.called_back(caller)
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

    def called_back(self, caller: Caller) -> None:
        """Tell when a caller who asked for a callback is rung back (their phone answers)."""
        phone = self.tw.device(caller.number)
        if len(phone.calls) > caller.callbacks_seen:
            caller.callbacks_seen = len(phone.calls)
            self.say(f"{caller.name}'s phone rings: the callback; {caller.name} answers")

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
        """The same figures `ivr report` shows, from the metrics fold of this run."""
        svc = self.svc
        while svc.run(metrics.fold(svc.redis, svc.keys, svc.registry.current)):
            pass  # fold everything still unread (each pass is bounded)
        totals = svc.run(rollups.all_time(svc.redis, svc.keys, "all")).figures()
        events = Counter(e.type.value for e in svc.run(read_events(svc.redis, svc.keys)))
        entries: list[tuple[str, dict[str, str]]] = svc.run(
            svc.redis.xrange(svc.keys.survey_alerts())  # type: ignore[arg-type]
        )
        alerts = len({fields.get("call") for _, fields in entries})
        languages = Counter(c.language for c in self.callers)
        lines = [
            f"calls: {len(self.callers)}  by language: {dict(languages)}",
            f"answered by an agent: {totals['answered']}  (offers declined "
            f"{events['REJECTED']}, rang out {events['RINGNOANSWER']})",
            f"abandoned: {totals['abandoned']}  "
            f"abandonment rate: {percent(totals['abandon_rate'])}",
            f"left a voicemail from hold: {events['EXITWITHKEY']}",
            f"callbacks: requested {events['CALLBACK']}, called back {events['CALLBACKCONNECT']}",
            f"FRT: median {seconds(totals['frt_median_s'])}, p90 {seconds(totals['frt_p90_s'])}; "
            f"ASA {seconds(totals['asa_s'])}",
            f"service level (answered or abandoned within the threshold): "
            f"{percent(totals['service_level'])}",
            f"CES: mean {number(totals['ces_mean'])} from {totals['ces_responses']} replies, "
            f"{percent(totals['ces_top_share'])} scored 5-7; low-score alerts for supervisors: "
            f"{alerts}",
            "calls per agent: " + ", ".join(f"{a.name} {a.handled}" for a in self.agents.values()),
            f"emulator errors: {len(self.tw.errors)}",
        ]
        print("\nSummary", file=self.out)
        for line in lines:
            print(f"  {line}", file=self.out)
        self.out.flush()


def percent(value: object) -> str:
    return "-" if value is None else f"{float(value):.0%}"  # type: ignore[arg-type]


def seconds(value: object) -> str:
    return "-" if value is None else f"{float(value):.0f} s"  # type: ignore[arg-type]


def number(value: object) -> str:
    return "-" if value is None else f"{float(value):.1f}"  # type: ignore[arg-type]


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Start everything on a throwaway embedded store, play the scenario, print a summary."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(DEMO_START)
    with contextlib.ExitStack() as stack:
        data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        store = stack.enter_context(EmbeddedStore(data_dir))
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=data_dir,
            redis_url=store.url,
        )
        box = stack.enter_context(sandbox.running(local, clock, BUSINESS))
        tw, svc = box.tw, box.svc
        demo = Demo(tw, svc, clock, out, random.Random(args.seed))
        demo.jobs = JobRunner(svc, store.url, tw.http_client(), HANDLERS)
        stack.callback(demo.jobs.close)
        demo.run(args.minutes, args.calls_per_minute, args.speed)
        demo.summary()
        return 1 if tw.errors else 0
