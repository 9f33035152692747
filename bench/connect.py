"""Latency from an agent becoming available to the caller's bridge instruction being issued.

    .venv/bin/python -m bench.connect [--calls 200]

A caller waits in billing; Alice becomes available; routing offers her the
call and the service rings her phone over REST; her phone answers, she
presses 1 at the first moment the whisper allows, and the service returns
the `<Dial><Queue>` that bridges the caller. The clock of the call flow is
simulated, so this is the machine's own time for that whole path (routing
script, REST request, two webhooks, TwiML), with no human ring or whisper
time in it. Target: p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools import sandbox
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.service import Services
from ivr.voice import offers

BUSINESS = "+60312345678"
PUBLIC = "http://bench.local"
TOKEN = "bench-token"
START = 1_795_399_200.0  # Monday 10:00 in Kuala Lumpur: open


def waiting_caller(tw: Emulator, index: int) -> Call:
    call = tw.dial(from_=f"+6019{index:07d}", to=BUSINESS)
    call.press("1")
    call.press("1")
    call.press("20261124#")
    tw.advance(2)
    return call


def one_round(tw: Emulator, svc: Services, index: int) -> float:
    """Seconds from `set_available` to the bridge TwiML, for one waiting caller."""
    call = waiting_caller(tw, index)
    alice = tw.device("client:alice")
    started = time.perf_counter()
    svc.run(offers.dispatch_offers(svc, svc.run(svc.router.set_available("alice"))))
    tw.settle()
    leg = alice.answer()
    tw.deliver(leg, "dtmf", "1")  # as soon as the whisper's Gather listens
    elapsed = time.perf_counter() - started
    assert leg.runner is None or call.bridge is not None or not leg.ended
    tw.advance(5)
    call.hangup()
    tw.advance(20)  # wrap-up ends
    svc.run(svc.router.set_break("alice", "bench"))
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    clock = ManualClock(START)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            twilio_auth_token=TOKEN,
            public_base_url=PUBLIC,
            data_dir=Path(tmp),
            config_dir=Path("config"),
        )
        with sandbox.running(settings, clock, BUSINESS) as box:
            tw, svc = box.tw, box.svc
            samples = [one_round(tw, svc, i) * 1000 for i in range(args.calls)]
            tw.assert_no_errors()
    cuts = statistics.quantiles(samples, n=100)
    print(f"calls: {len(samples)}")
    print(
        f"available -> bridge TwiML: p50 {statistics.median(samples):.1f} ms, "
        f"p99 {cuts[98]:.1f} ms, max {max(samples):.1f} ms"
    )


if __name__ == "__main__":
    main()
