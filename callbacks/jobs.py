"""Jobs due at a time on the service clock, run by rq workers.

`schedule` puts a job in a due sorted set (once per job id); `Pump.pump(now)`
atomically claims the jobs due by `now` and enqueues each into an rq queue
under the same id; an rq worker then calls `run(job_id)`, which loads the job
and dispatches on its kind (`KINDS`). *When* a job runs is decided on the
service's clock (`Clock.now()`), not rq's wall-clock `enqueue_at`, so tests on
a `ManualClock` run a two-minute delay without sleeping, and tests and
production share one scheduler. Retries after a failure are rq's own
(`Retry`, wall-clock backoff: an outage lasts real time).

Handlers must be idempotent: a job can run twice (a retry after a crash, or a
claim that went stale before it reached rq). Each guards its side effect with
its own state machine in Redis.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis
from rq import Queue, Retry

from ivr.clock import Clock
from ivr.config import Config
from ivr.keys import Keys
from ivr.settings import Settings
from queues.scripts import lua

log = logging.getLogger(__name__)

RETRY_MAX = 3
RETRY_INTERVALS_S = [10, 60, 300]
"""rq's backoff between attempts of a failed job (wall-clock seconds)."""
JOB_TTL_S = 30 * 86400
"""A job's payload is kept this long after it is scheduled: jobs are due within days.

A fixed TTL rather than one relative to the due time: the due time is on the
service clock, which in tests is far from the store's own clock."""
CLAIM_TIMEOUT_S = 60.0
"""A claim not handed to rq within this long (the pump died) goes back to due."""
PUMP_BATCH = 100
JOB_ID = re.compile(r"[A-Za-z0-9_-]+")
"""rq's own rule for job ids."""
KINDS: dict[str, str] = {
    "survey": "callbacks.surveys:send_job",
    "callback": "callbacks.dial:run_job",
}
"""Job kind -> `module:function(ctx, job_id, payload)` that runs it."""

SCHEDULE_LUA = lua("jobs_schedule")
CLAIM_LUA = lua("jobs_claim")


@dataclass
class JobContext:
    """What a job needs outside the web app: one per worker process (or test)."""

    settings: Settings
    clock: Clock
    redis: redis.Redis
    """A blocking client with decode_responses=True (our data, not rq's)."""
    keys: Keys
    config: Callable[[], Config]
    """The live config."""
    rest: Any
    """A `twilio.rest.Client`."""


_context: JobContext | None = None


def set_context(ctx: JobContext | None) -> None:
    """Install the context jobs in this process run with (None: remove it)."""
    global _context
    _context = ctx


def context() -> JobContext:
    if _context is None:
        raise RuntimeError("no job context: call callbacks.jobs.set_context first")
    return _context


async def schedule(
    redis: aioredis.Redis, keys: Keys, job_id: str, kind: str, payload: dict[str, Any], at: float
) -> bool:
    """Run job `job_id` of `kind` at `at` (service clock); False if the id was scheduled before."""
    if not JOB_ID.fullmatch(job_id) or kind not in KINDS:
        raise ValueError(f"bad job id {job_id!r} or unknown kind {kind!r}")
    job = json.dumps({"kind": kind, "payload": payload, "at": at}, ensure_ascii=False)
    # register_script only hashes the text; the server loads it once (EVALSHA).
    script = redis.register_script(SCHEDULE_LUA)
    args = [job_id, job, repr(at), str(JOB_TTL_S)]
    return bool(await script(keys=[keys.job(job_id), keys.jobs_due()], args=args))


def defer(redis: redis.Redis, keys: Keys, job_id: str, at: float) -> None:
    """Run an already scheduled job (again) at `at`, e.g. after quiet hours."""
    redis.zadd(keys.jobs_due(), {job_id: at})


def rq_queue(connection: redis.Redis, keys: Keys) -> Queue:
    """The rq queue jobs run on; `connection` must not decode responses (rq stores pickles)."""
    return Queue(queue_name(keys), connection=connection)


def queue_name(keys: Keys) -> str:
    """The rq queue of a tenant. Not a key template: rq keeps its own keys under `rq:`."""
    return f"ivr-{keys.tenant}-jobs"


class Pump:
    """Moves due jobs into rq: one `pump(now)` per tick, from any number of processes."""

    def __init__(self, redis: redis.Redis, queue: Queue, keys: Keys) -> None:
        self.redis = redis
        self.queue = queue
        self.keys = keys
        self._claim = redis.register_script(CLAIM_LUA)

    def pump(self, now: float) -> list[str]:
        """Enqueue every job due by `now`; the ids enqueued."""
        keys = [self.keys.jobs_due(), self.keys.jobs_claimed()]
        args = [repr(now), repr(now - CLAIM_TIMEOUT_S), str(PUMP_BATCH)]
        ids: list[str] = list(self._claim(keys=keys, args=args))
        for job_id in ids:
            self.queue.enqueue(
                "callbacks.jobs.run",
                job_id,
                job_id=job_id,
                retry=Retry(max=RETRY_MAX, interval=RETRY_INTERVALS_S),
            )
        if ids:
            self.redis.zrem(self.keys.jobs_claimed(), *ids)
        return ids


def run(job_id: str) -> None:
    """The rq job function: load job `job_id` and run its kind's handler."""
    ctx = context()
    raw = ctx.redis.get(ctx.keys.job(job_id))
    if raw is None:
        log.warning("job %s is gone (expired?); nothing to do", job_id)
        return
    job = json.loads(str(raw))
    handler(job["kind"])(ctx, job_id, job["payload"])


def handler(kind: str) -> Callable[[JobContext, str, dict[str, Any]], None]:
    """The function that runs jobs of `kind` (imported on first use: no import cycles)."""
    module, _, name = KINDS[kind].partition(":")
    function: Callable[[JobContext, str, dict[str, Any]], None] = getattr(
        importlib.import_module(module), name
    )
    return function
