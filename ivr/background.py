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
from ivr.core import logs
from ivr.core.outage import Outage
from ivr.service import Services
from ivr.voice import bridge, offers, queue_resources
from queues.metrics import fold as metrics

log = logs.get(__name__)
TIMER_POLL_S = 0.1
"""The loop wakes at least this often, so timers fire well within 250 ms of due."""
TIMERS, RINGS, TIDY = "timers", "rings", "queue deletes"
"""The three loops, as they report to the process's `Outage`."""


async def tick(svc: Services, ring: bool = True) -> None:
    """Sync routing with a new config version, fire due timers, and act on them; with
    `ring`, then make the REST requests of the agent rings due (`offers.pump`)."""
    await svc.sync_routing()
    fired = await svc.router.run_due()
    if fired.timers:
        await offers.dispatch(svc, fired)
        await bridge.take_out_lost(svc, fired.lost)
    if ring:
        await offers.pump(svc)
        await bridge.pump(svc)
        await queue_resources.pump(svc)
    await metrics.fold_service(svc)
    await surveys.consume(svc)


async def guarded_tick(svc: Services, outage: Outage, ring: bool = True) -> float | None:
    """One pass of the timer loop; the next timer's due time. Errors are logged, never
    raised: the loop (and the emulator's clock hook in tests) outlives a store outage."""
    try:
        await tick(svc, ring=ring)
        due = await svc.router.next_due()
    except Exception as exc:  # the loop must outlive a store outage, and any one bad timer
        if not outage.absorb(exc, TIMERS):
            log.exception("background tick failed")
        return None
    outage.up(TIMERS)
    return due


async def ring_loop(svc: Services, stop: asyncio.Event, outage: Outage) -> None:
    """Ring agents as their rings fall due, apart from the timers: a slow API must not
    hold up ring timeouts and wrap-up ends."""
    while not stop.is_set():
        try:
            await offers.pump(svc)
            await bridge.pump(svc)
            outage.up(RINGS)
        except Exception as exc:  # the loop must outlive a store outage, and any one bad ring
            if not outage.absorb(exc, RINGS):
                log.exception("ringing agents failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=outage.retry_s(TIMER_POLL_S, RINGS))


async def tidy_loop(svc: Services, stop: asyncio.Event, outage: Outage) -> None:
    """Delete callers' spent Twilio queues (`queue_resources.pump`), apart from the rings:
    a slow or failing API must not hold up a ring."""
    while not stop.is_set():
        try:
            await queue_resources.pump(svc)
            outage.up(TIDY)
        except Exception as exc:  # the loop must outlive a store outage
            if not outage.absorb(exc, TIDY):
                log.exception("deleting spent Twilio queues failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=outage.retry_s(TIMER_POLL_S, TIDY))


async def run(svc: Services, stop: asyncio.Event) -> None:
    """Tick until `stop` is set; an error is logged and the loop carries on. The loops
    share one `Outage`, so a store outage is one line from this process, not one a loop."""
    outage = Outage("timers and rings")
    others = [
        asyncio.create_task(ring_loop(svc, stop, outage)),
        asyncio.create_task(tidy_loop(svc, stop, outage)),
    ]
    try:
        await _tick_loop(svc, stop, outage)
    finally:
        for task in others:
            if not stop.is_set():  # cancelled, not stopped: the other loops would not end
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _tick_loop(svc: Services, stop: asyncio.Event, outage: Outage) -> None:
    while not stop.is_set():
        due = await guarded_tick(svc, outage, ring=False)
        delay = outage.retry_s(TIMER_POLL_S, TIMERS)
        if due is not None:
            delay = min(delay, max(0.0, due - svc.clock.now()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
