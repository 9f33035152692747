"""Discrete-event time: tick hooks, idling and real-time running."""

from __future__ import annotations

import threading
import time

from ivr.core.clock import SystemClock
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    PUBLIC,
    TOKEN,
    CannedApp,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)


def test_on_tick_fires_every_quarter_second(tw: Emulator) -> None:
    """With a hook registered, advance() steps at most 0.25 s and reports each new time."""
    start = tw.clock.now()
    seen: list[float] = []
    tw.on_tick(lambda now: seen.append(round(now - start, 2)))
    tw.advance(1)
    assert seen == [0.25, 0.5, 0.75, 1.0]


def test_run_until_idle_stops_at_open_ended_hold(app: CannedApp, tw: Emulator) -> None:
    """run_until_idle returns once only a hold loop is left, without running it for long."""
    app.route("/voice", twiml('<Say>Hi</Say><Enqueue waitUrl="/wait">support</Enqueue>'))
    app.route("/wait", twiml('<Pause length="10"/>'))
    start = tw.clock.now()
    tw.dial(from_=CALLER, to=BUSINESS)
    assert tw.run_until_idle()
    assert tw.clock.now() - start < 1


def test_run_realtime_with_system_clock(app: CannedApp, server: LiveServer) -> None:
    """run_realtime processes events as wall-clock time passes."""
    app.route("/voice", twiml("<Say>quick</Say>"))
    clock = SystemClock()
    with Emulator(server.url, public_base_url=PUBLIC, auth_token=TOKEN, clock=clock) as tw:
        tw.say_seconds_per_word = 0.05
        tw.add_number(BUSINESS, voice_url="/voice")
        call = tw.dial(from_=CALLER, to=BUSINESS)
        stop = threading.Event()
        worker = threading.Thread(target=tw.run_realtime, args=(stop,))
        worker.start()
        deadline = time.monotonic() + 2
        while call.status != "completed" and time.monotonic() < deadline:
            time.sleep(0.01)
        stop.set()
        worker.join()
    assert call.status == "completed" and call.transcript() == ["quick"]
