"""The web process's own background work: routing timers and config sync.

Ring timeouts, wrap-up ends, escalation steps, max waits and unconfirmed
console accepts are due in a Redis sorted set (`queues.timers`); any number
of processes may serve it, each timer firing once. `tick` does one pass, so
tests on a controlled clock can drive it from the emulator's clock hook
instead of the loop.
"""

from __future__ import annotations

import asyncio
import contextlib

from callbacks import surveys
from ivr import logs, offers
from ivr.service import Services
from queues import metrics

log = logs.get(__name__)
TIMER_POLL_S = 0.1
"""The loop wakes at least this often, so timers fire well within 250 ms of due."""


async def tick(svc: Services) -> None:
    """Sync routing with a new config version, fire due timers, and act on them."""
    await svc.sync_routing()
    fired = await svc.router.run_due()
    if fired.timers:
        await offers.dispatch(svc, fired)
    await metrics.fold_service(svc)
    await surveys.consume(svc)


async def run(svc: Services, stop: asyncio.Event) -> None:
    """Tick until `stop` is set; an error is logged and the loop carries on."""
    while not stop.is_set():
        try:
            await tick(svc)
            due = await svc.router.next_due()
        except Exception:  # the loop must outlive any one bad timer or store hiccup
            log.exception("background tick failed")
            due = None
        delay = TIMER_POLL_S if due is None else min(TIMER_POLL_S, max(0.0, due - svc.clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
