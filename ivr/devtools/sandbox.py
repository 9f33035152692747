"""The service and the Twilio emulator wired together in one process.

`ivr demo`, `ivr simulate` and the benchmarks all need the same thing: the
real app on a real HTTP server, the emulator in front of it with the
business number set up, the app's REST client talking to the emulator, and
routing timers driven from the emulator's clock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from ivr import background
from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.emulator import TICK_S
from ivr.devtools.liveserver import LiveServer
from ivr.service import Services
from ivr.voice import offers

BUSINESS = "+60312345678"
"""The sample business's number."""


@dataclass(frozen=True)
class Sandbox:
    server: LiveServer
    tw: Emulator
    svc: Services


@contextlib.contextmanager
def running(
    settings: Settings, clock: ManualClock, number: str = BUSINESS, tick_s: float = TICK_S
) -> Iterator[Sandbox]:
    """Serve the app for `settings` and put the emulator in front of it on `clock`.

    The app's background tick (routing timers, the metrics fold) runs every `tick_s`
    of emulated time.
    """
    with (
        LiveServer(create_app(settings, clock=clock, run_timers=False)) as server,
        Emulator(
            server.url,
            public_base_url=settings.public_base_url,
            auth_token=settings.twilio_auth_token,
            clock=clock,
            tick_s=tick_s,
        ) as tw,
    ):
        tw.add_number(
            number,
            voice_url="/voice/incoming",
            voice_status_callback="/voice/status",
            sms_url="/sms/incoming",
        )
        svc: Services = server.app.state.services
        svc.twilio_http_client = tw.http_client()
        tw.on_tick(lambda now: svc.run(background.tick(svc)))
        tw.on_settle(offers.settle_hook(svc))  # rings start off the webhook path
        yield Sandbox(server, tw, svc)
