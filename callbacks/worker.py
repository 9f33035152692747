"""`ivr worker`: the job pump and an rq worker, in one process, on a shared Redis.

The pump thread claims jobs due on the service clock every `PUMP_INTERVAL_S`
and enqueues them; the rq worker (main thread: it installs signal handlers)
runs them, with rq's scheduler on so that failed jobs come back after their
`Retry` backoff. It needs `REDIS_URL`: the embedded store belongs to the
`ivr serve` process that started it, and a second process must not start one.
"""

from __future__ import annotations

import logging
import sys
import threading

import redis
from rq import Worker

from callbacks import jobs
from ivr import telephony
from ivr.clock import SystemClock
from ivr.keys import Keys
from ivr.reload import ConfigRegistry
from ivr.settings import Settings
from ivr.store import sync_client

log = logging.getLogger(__name__)

PUMP_INTERVAL_S = 0.5


def context_from(settings: Settings, url: str) -> tuple[jobs.JobContext, ConfigRegistry]:
    """The job context of a worker process: system clock, live config, real REST client."""
    registry = ConfigRegistry(settings.config_dir)
    ctx = jobs.JobContext(
        settings=settings,
        clock=SystemClock(),
        redis=sync_client(url),
        keys=Keys(settings.tenant),
        config=lambda: registry.current,
        rest=telephony.rest_client(settings),
    )
    return ctx, registry


def pump_loop(
    ctx: jobs.JobContext, pump: jobs.Pump, registry: ConfigRegistry, stop: threading.Event
) -> None:
    """Pump due jobs (and pick up config edits) until `stop` is set; errors are logged."""
    while not stop.is_set():
        try:
            registry.reload()
            pump.pump(ctx.clock.now())
        except Exception:  # the loop must outlive a store hiccup
            log.exception("job pump failed")
        stop.wait(PUMP_INTERVAL_S)


def main(settings: Settings) -> int:
    """Run the pump and an rq worker until interrupted; 2 without REDIS_URL."""
    if not settings.redis_url:
        print("ivr worker needs REDIS_URL (the embedded store is ivr serve's own)", file=sys.stderr)
        return 2
    ctx, registry = context_from(settings, settings.redis_url)
    jobs.set_context(ctx)
    queue = jobs.rq_queue(redis.Redis.from_url(settings.redis_url), ctx.keys)
    stop = threading.Event()
    pumper = threading.Thread(
        target=pump_loop, args=(ctx, jobs.Pump(ctx.redis, queue, ctx.keys), registry, stop),
        name="job-pump", daemon=True,
    )  # fmt: skip
    pumper.start()
    try:
        Worker([queue], connection=queue.connection).work(with_scheduler=True)
    finally:
        stop.set()
        pumper.join(timeout=5)
    return 0
