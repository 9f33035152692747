"""`ivr demo`: the whole service on the embedded store, with a scripted day of callers.

Everything is real except the phone network: the app runs on uvicorn, state
lives in Valkey, and the emulator plays Twilio and the people on the phones.
Time runs on a controlled clock (`--speed` × real time, or as fast as
possible by default), so a busy morning finishes in seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ivr.app import create_app
from ivr.clock import ManualClock
from ivr.emulator import Emulator
from ivr.emulator.calls import Call
from ivr.liveserver import LiveServer
from ivr.settings import Settings

BUSINESS = "+60312345678"
DEMO_START = 1_795_500_000.0 - (1_795_500_000.0 % 86400) + 2 * 3600
"""10:00 in Kuala Lumpur (02:00 UTC) on a weekday: the sample business is open."""
PUBLIC_URL = "http://ivr.demo"


@dataclass
class Step:
    at: float
    """Seconds after the caller's call starts."""
    kind: str  # press | say | hangup
    value: str = ""


@dataclass
class Caller:
    name: str
    number: str
    language: str
    arrives: float
    steps: list[Step]
    call: Call | None = None
    done: list[str] = field(default_factory=list)


def script(rng: random.Random, minutes: float) -> list[Caller]:
    """A morning's callers in English, Malay and Thai, taking different paths."""
    paths = [
        ("Oliver", "+447700900123", "en", [Step(6, "press", "1"), Step(14, "press", "12345678#")]),
        ("Aisyah", "+60123456789", "ms", [Step(8, "say", "saya perlukan sokongan")]),
        ("Somchai", "+66812345678", "th", [Step(8, "press", "3")]),
        ("Mei", "+60127778888", "en", [Step(3, "press", "1"), Step(12, "press", "2")]),
        ("Farid", "+60135556666", "ms", [Step(3, "press", "2"), Step(12, "press", "4")]),
        ("Nok", "+66891112222", "th", [Step(3, "press", "3"), Step(12, "say", "เทคนิค")]),
        ("Grace", "+60148889999", "en", [Step(3, "press", "1"), Step(9, "hangup")]),
    ]
    callers: list[Caller] = []
    gap = max(minutes * 60 / (len(paths) * 2), 5.0)
    for index in range(len(paths) * 2):
        name, number, language, steps = paths[index % len(paths)]
        if index >= len(paths):
            name, number = f"{name} (again)", number[:-4] + f"{rng.randrange(10000):04d}"
        patience = rng.uniform(60, 180)
        callers.append(
            Caller(name, number, language, index * gap, [*steps, Step(patience, "hangup")])
        )
    return callers


class Demo:
    """Runs the scripted callers against the app and reports as it goes."""

    def __init__(self, tw: Emulator, clock: ManualClock, out: TextIO) -> None:
        self.tw, self.clock, self.out = tw, clock, out
        self.start = clock.now()
        self.outcomes: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()

    def say(self, text: str) -> None:
        elapsed = int(self.clock.now() - self.start)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=self.out, flush=True)

    def run(self, callers: list[Caller]) -> None:
        events = sorted(
            [(c.arrives, i, -1) for i, c in enumerate(callers)]
            + [
                (c.arrives + s.at, i, j)
                for i, c in enumerate(callers)
                for j, s in enumerate(c.steps)
            ]
        )
        for at, who, step in events:
            self.tw.advance(max(0.0, self.start + at - self.clock.now()))
            caller = callers[who]
            if step < 0:
                self.arrive(caller)
            else:
                self.act(caller, caller.steps[step])
        self.tw.advance(30)
        for caller in callers:
            self.finish(caller)

    def arrive(self, caller: Caller) -> None:
        caller.call = self.tw.dial(from_=caller.number, to=BUSINESS)
        self.languages[caller.language] += 1
        self.say(f"{caller.name} ({caller.language}) calls")

    def act(self, caller: Caller, step: Step) -> None:
        call = caller.call
        if call is None or call.ended:
            return
        kind = "speech" if step.kind == "say" else "dtmf"
        if step.kind == "hangup":
            where = f"waiting in {call.queue}" if call.queue else "in the menu"
            self.say(f"{caller.name} hangs up ({where})")
            self.tw.hangup(call)
        elif call.runner is not None and call.runner.accepts(kind):
            value: object = (step.value, 0.9) if kind == "speech" else step.value
            self.tw.deliver(call, kind, value)
            self.say(f"{caller.name} {'says' if kind == 'speech' else 'presses'} {step.value!r}")
            if call.queue:
                self.say(f"{caller.name} joins the {call.queue} queue")

    def finish(self, caller: Caller) -> None:
        call = caller.call
        if call is None:
            return
        if any("leave your message" in u.text or "pesanan anda" in u.text for u in call.heard):
            self.outcomes["voicemail"] += 1
        elif call.queue or any(u.kind == "play" for u in call.heard):
            self.outcomes["queued, then hung up"] += 1
        else:
            self.outcomes["hung up in the menu"] += 1
        if not call.ended:
            self.tw.hangup(call)

    def summary(self) -> None:
        total = sum(self.languages.values())
        print("\nSummary", file=self.out)
        print(f"  calls: {total}  by language: {dict(self.languages)}", file=self.out)
        for outcome, count in self.outcomes.most_common():
            print(f"  {outcome}: {count}", file=self.out)
        print(f"  emulator errors: {len(self.tw.errors)}", file=self.out, flush=True)


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Start everything on a throwaway embedded store, play the script, print a summary."""
    logging.getLogger().setLevel(logging.WARNING)
    clock = ManualClock(DEMO_START)
    with contextlib.ExitStack() as stack:
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=Path(stack.enter_context(tempfile.TemporaryDirectory())),
            redis_url=None,
        )
        server = stack.enter_context(LiveServer(create_app(local, clock=clock)))
        tw = stack.enter_context(
            Emulator(
                server.url,
                public_base_url=PUBLIC_URL,
                auth_token=local.twilio_auth_token,
                clock=clock,
            )
        )
        tw.add_number(BUSINESS, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        server.app.state.twilio_http_client = tw.http_client()
        demo = Demo(tw, clock, out)
        demo.run(script(random.Random(args.seed), args.minutes))
        demo.summary()
        return 1 if tw.errors else 0
