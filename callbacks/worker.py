"""`ivr worker`: claims the jobs due and runs them, until SIGTERM or SIGINT.

A work thread claims and runs jobs (`callbacks.jobs.Runner`) every
`POLL_INTERVAL_S`, picks up config edits, and beats the heartbeat that `/healthz`
and `/metrics` read (`callbacks.heartbeat`). The main thread only waits for
a stop: on SIGTERM or SIGINT it lets the job in hand finish for up to
`STOP_GRACE_S`, hands every unfinished claim back to due (another worker, or
this one restarted, runs it), and returns, well within the 5 s a service
manager waits before SIGKILL. When the process that started it dies (`ivr
serve`, even by SIGKILL), the worker stops the same way: `ivr.core.store`'s
parent-death signal on Linux, and `IVR_PARENT_PID` checked on every poll.

With several workspaces (`IVR_WORKSPACES`), a work thread per workspace claims the jobs
of that workspace alone: a job is scheduled under its workspace's keys, so it runs with
that workspace's config, keys and webhook URLs (`Settings.for_workspace`).

It needs `REDIS_URL`: the embedded store belongs to the `ivr serve` process
that started it, and a second process must not start one. On a cluster (a
`redis+cluster://` URL, or one node's URL) it claims from the slot of its
contact centre's hash tag, like everything else: jobs need no store of their own.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from callbacks import heartbeat, jobs
from ivr.config.reload import ConfigRegistry
from ivr.config.workspaces import folder_problem
from ivr.core import logs, telephony
from ivr.core.clock import SystemClock
from ivr.core.keys import Keys
from ivr.core.outage import Outage
from ivr.core.settings import Settings
from ivr.core.store import PARENT_ENV, sync_client, topology_url

log = logs.get(__name__)

POLL_INTERVAL_S = 0.5
STOP_GRACE_S = 2.0
"""How long a stopping worker waits for the job in hand before handing it back."""


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
        redis_url=url,
    )
    return ctx, registry


def work(runner: jobs.Runner, registry: ConfigRegistry, stop: threading.Event) -> None:
    """Claim and run due jobs (and pick up config edits) until `stop` is set, beating the
    heartbeat from this loop so a stuck job shows as a silent worker. A store outage is one
    line with its reason, then reminders and retries that back off."""
    last_beat = 0.0
    outage = Outage("jobs")
    while not stop.is_set():
        try:
            last_beat = beat_if_due(runner.ctx, last_beat)
            registry.reload()
            runner.run_due(runner.ctx.clock.now(), stop.is_set)
            outage.up()
        except Exception as exc:  # the loop must outlive a store outage, and any one bad pass
            if not outage.absorb(exc):
                log.exception("job worker failed; trying again")
        stop.wait(outage.retry_s(POLL_INTERVAL_S))


def beat_if_due(ctx: jobs.JobContext, last_beat: float) -> float:
    """Beat when `heartbeat.BEAT_INTERVAL_S` has passed since `last_beat`; the last beat's time.

    Wall-clock time, not `ctx.clock`: the heartbeat measures real seconds.
    """
    now = time.time()
    if now - last_beat < heartbeat.BEAT_INTERVAL_S:
        return last_beat
    heartbeat.beat(ctx.redis, ctx.keys, now)
    return now


def run_until(
    runner: jobs.Runner,
    registry: ConfigRegistry,
    stop: threading.Event,
    orphaned: Callable[[], bool] = lambda: False,
) -> list[str]:
    """Work until `stop` is set (or `orphaned()`); the job ids handed back unfinished."""
    return run_all([(runner, registry)], stop, orphaned)


def run_all(
    workers: Sequence[tuple[jobs.Runner, ConfigRegistry]],
    stop: threading.Event,
    orphaned: Callable[[], bool] = lambda: False,
) -> list[str]:
    """Work until `stop` is set (or `orphaned()`), a thread per workspace (`workers`: its
    runner and live config); the job ids handed back unfinished."""
    threads = [
        threading.Thread(target=work, args=(runner, registry, stop), daemon=True)
        for runner, registry in workers
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(POLL_INTERVAL_S):
        if orphaned():
            log.warning("the process that started this worker is gone; stopping")
            stop.set()
    for thread in threads:
        thread.join(STOP_GRACE_S)
    # A job still running is handed back and dies with this process: jobs are idempotent.
    return [job for runner, _ in workers for job in runner.release()]


def parent_gone(parent: int) -> Callable[[], bool]:
    """A check that process `parent` no longer runs (0: never)."""
    return (lambda: os.getppid() != parent) if parent else (lambda: False)


def main(settings: Settings, handlers: Mapping[str, jobs.Handler]) -> int:
    """Run jobs until SIGTERM or SIGINT; 2 without REDIS_URL, 1 when a workspace's config
    folder is missing (named by its `IVR_WORKSPACES` entry, as `ivr check` does)."""
    if not settings.redis_url:
        print("ivr worker needs REDIS_URL (the embedded store is ivr serve's own)", file=sys.stderr)
        return 2
    for workspace in settings.workspaces:
        if (missing := folder_problem(workspace)) is not None:
            print(f"ivr worker: {missing}", file=sys.stderr)
            return 1
    url = topology_url(settings.redis_url)  # one cluster node's URL means its cluster
    contexts = [context_from(each, url) for each in settings.each_workspace()]
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    parent = int(os.environ.get(PARENT_ENV, "0") or 0)
    log.info("job worker ready", workspaces=len(contexts))
    workers = [(jobs.Runner(ctx, handlers), registry) for ctx, registry in contexts]
    try:
        handed = run_all(workers, stop, parent_gone(parent))
    finally:
        for ctx, _ in contexts:
            ctx.redis.close()
    if handed:
        log.warning("handed back unfinished jobs", jobs=handed)
    return 0
