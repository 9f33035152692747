"""The web process's own background work: routing timers, ringing agents and config sync.

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


async def tick(svc: Services, ring: bool = True) -> None:
    """Sync routing with a new config version, fire due timers, and act on them; with
    `ring`, then make the REST requests of the agent rings due (`offers.pump`)."""
    await svc.sync_routing()
    fired = await svc.router.run_due()
    if fired.timers:
        await offers.dispatch(svc, fired)
    if ring:
        await offers.pump(svc)
    await metrics.fold_service(svc)
    await surveys.consume(svc)


async def ring_loop(svc: Services, stop: asyncio.Event) -> None:
    """Ring agents as their rings fall due, apart from the timers: a slow API must not
    hold up ring timeouts and wrap-up ends."""
    while not stop.is_set():
        try:
            await offers.pump(svc)
        except Exception:  # the loop must outlive any one bad ring or store hiccup
            log.exception("ringing agents failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=TIMER_POLL_S)


async def run(svc: Services, stop: asyncio.Event) -> None:
    """Tick until `stop` is set; an error is logged and the loop carries on."""
    ringing = asyncio.create_task(ring_loop(svc, stop))
    try:
        await _tick_loop(svc, stop)
    finally:
        if not stop.is_set():  # cancelled, not stopped: the ring loop would not end
            ringing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ringing


async def _tick_loop(svc: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await tick(svc, ring=False)
            due = await svc.router.next_due()
        except Exception:  # the loop must outlive any one bad timer or store hiccup
            log.exception("background tick failed")
            due = None
        delay = TIMER_POLL_S if due is None else min(TIMER_POLL_S, max(0.0, due - svc.clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
