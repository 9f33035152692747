"""Jobs due at a time on the service clock, claimed and run by a `Runner`.

`schedule` puts a job in a due sorted set (once per job id). A `Runner`
atomically claims the jobs due by `now` (`claim`), runs each in its own
process (`run_due`), and then marks it done, or schedules a retry after a
wall-clock backoff (an outage lasts real time), or, once every retry is
spent, files it as failed. *When* a job runs is decided on the service's
clock (`Clock.now()`), so tests on a `ManualClock` run a two-minute delay
without sleeping, and tests and production share one scheduler: `ivr worker`
(`callbacks.worker`) and the in-process runner (`callbacks.inprocess`) are
the same `Runner` on different clocks.

A claim is held while the job runs. A worker that stops hands its unfinished
claims back (`release`), and the claims of a worker that died go back to due
after `CLAIM_TIMEOUT_S`. So a job can run twice: handlers must be idempotent,
and each guards its side effect with its own state machine in Redis.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import redis
import redis.asyncio as aioredis

from ivr.config.model import Config
from ivr.core import logs, lua
from ivr.core.clock import Clock
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.core.store import async_client

log = logs.get(__name__)

RETRY_INTERVALS_S = [10, 60, 300]
"""The backoff before each retry of a failed job (wall-clock seconds)."""
RETRY_MAX = len(RETRY_INTERVALS_S)
JOB_TTL_S = 30 * 86400
"""A job's payload is kept this long after it is scheduled: jobs are due within days.

A fixed TTL rather than one relative to the due time: the due time is on the
service clock, which in tests is far from the store's own clock."""
CLAIM_TIMEOUT_S = 60.0
"""A claim neither finished nor handed back within this long (its worker died) goes back to due."""
CLAIM_BATCH = 100
OVERDUE_AFTER_S = 60.0
"""A job still due this long after its time (service clock) is not being run: no worker
claims jobs (`/healthz` reports them, `overdue`)."""
JOB_ID = re.compile(r"[A-Za-z0-9_-]+")
"""Job ids are safe in keys and logs."""
KINDS = ("survey", "callback")
"""The kinds of job; the composition root hands each runner one `Handler` per kind
(`ivr.handlers.HANDLERS`)."""

SCHEDULE_LUA = lua.read("callbacks", "jobs_schedule")
CLAIM_LUA = lua.read("callbacks", "jobs_claim")
FAIL_LUA = lua.read("callbacks", "jobs_fail")


@dataclass
class JobContext:
    """What a job needs outside the web app: one per worker process (or test)."""

    settings: Settings
    clock: Clock
    redis: redis.Redis
    """A blocking client with decode_responses=True, on `redis_url`."""
    keys: Keys
    config: Callable[[], Config]
    """The live config."""
    rest: Any
    """A `twilio.rest.Client`."""
    redis_url: str
    """The store's URL: a job that needs another client builds it from this (`ivr.core.store`)."""


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


async def overdue(redis: aioredis.Redis, keys: Keys, now: float) -> int:
    """How many jobs have waited more than `OVERDUE_AFTER_S` past their time (service clock)."""
    return int(await redis.zcount(keys.jobs_due(), "-inf", now - OVERDUE_AFTER_S))


Handler = Callable[[JobContext, str, dict[str, Any]], None]
"""Runs one job: `handler(ctx, job_id, payload)`; it must be idempotent (see above)."""


async def defer(redis: aioredis.Redis, keys: Keys, job_id: str, at: float) -> None:
    """Run an already scheduled job (again) at `at`, e.g. after quiet hours."""
    await redis.zadd(keys.jobs_due(), {job_id: at})


async def postpone(redis: aioredis.Redis, keys: Keys, job_id: str, at: float) -> bool:
    """Move a job that is still due to `at`; one claimed or done is left alone (False)."""
    return bool(await redis.zadd(keys.jobs_due(), {job_id: at}, xx=True, ch=True))


def run_async(ctx: JobContext, body: Callable[[aioredis.Redis], Awaitable[None]]) -> None:
    """Run a job whose body is a coroutine, on an async client of its own to the store.

    From a thread that already runs an event loop (a job run in-process), the
    body runs on a new loop in a thread of its own, and its error is raised here.
    """

    async def with_client() -> None:
        client = async_client(ctx.redis_url)  # whatever the URL's scheme (unix://...)
        try:
            await body(client)
        finally:
            await client.aclose()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(with_client())
        return
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, with_client()).result()


class Runner:
    """Claims the jobs due and runs them here: from any number of processes at once."""

    def __init__(self, ctx: JobContext, handlers: Mapping[str, Handler]) -> None:
        self.ctx = ctx
        self.handlers = handlers
        self.running: set[str] = set()
        """Job ids this runner has claimed and not yet finished."""
        self._claim = ctx.redis.register_script(CLAIM_LUA)
        self._fail = ctx.redis.register_script(FAIL_LUA)

    def claim(self, now: float) -> list[str]:
        """Claim the jobs due by `now` (service clock) and the retries due by the wall clock."""
        keys = self.ctx.keys
        script_keys = [keys.jobs_due(), keys.jobs_claimed(), keys.jobs_retry()]
        args = [repr(now), repr(now - CLAIM_TIMEOUT_S), str(CLAIM_BATCH), repr(time.time())]
        ids: list[str] = list(self._claim(keys=script_keys, args=args))
        self.running.update(ids)
        return ids

    def run_due(self, now: float, stopping: Callable[[], bool] = lambda: False) -> list[str]:
        """Claim what is due by `now` and run it, until `stopping()`; the ids claimed."""
        ids = self.claim(now)
        for job_id in ids:
            if stopping():
                break  # the rest stay claimed for `release`
            self.run_one(job_id)
        return ids

    def run_one(self, job_id: str) -> None:
        """Run one claimed job, then mark it done, or schedule its retry, or file it failed."""
        try:
            execute(self.ctx, self.handlers, job_id)
        except Exception:
            args = [job_id, repr(time.time()), *map(str, RETRY_INTERVALS_S)]
            retry = self._fail(keys=self._fail_keys(), args=args)
            log.exception("job failed", job=job_id, retry=retry or "never")
        else:
            keys = self.ctx.keys
            with self.ctx.redis.pipeline(transaction=True) as tx:
                tx.zrem(keys.jobs_claimed(), job_id)
                tx.hdel(keys.jobs_attempts(), job_id)
                tx.execute()
        finally:
            self.running.discard(job_id)

    def _fail_keys(self) -> list[str]:
        keys = self.ctx.keys
        return [keys.jobs_claimed(), keys.jobs_retry(), keys.jobs_attempts(), keys.jobs_failed()]

    def release(self, ids: Iterable[str] | None = None) -> list[str]:
        """Hand claimed jobs (default: every unfinished one) back to due now, for any worker."""
        handed = sorted(self.running if ids is None else ids)
        if handed:
            keys, now = self.ctx.keys, self.ctx.clock.now()
            with self.ctx.redis.pipeline(transaction=True) as tx:
                tx.zrem(keys.jobs_claimed(), *handed)
                tx.zadd(keys.jobs_due(), dict.fromkeys(handed, now))
                tx.execute()
            self.running.difference_update(handed)
        return handed

    def retry_now(self) -> int:
        """Make every failed job waiting for its backoff due at once; how many there were."""
        retry = self.ctx.keys.jobs_retry()
        ids: list[str] = self.ctx.redis.zrange(retry, 0, -1)  # type: ignore[assignment]
        if ids:
            self.ctx.redis.zadd(retry, dict.fromkeys(ids, 0), xx=True)
        return len(ids)


def execute(ctx: JobContext, handlers: Mapping[str, Handler], job_id: str) -> None:
    """Load job `job_id` and run its kind's handler (a job whose payload expired is skipped)."""
    raw = ctx.redis.get(ctx.keys.job(job_id))
    if raw is None:
        log.warning("job is gone (expired?); nothing to do", job=job_id)
        return
    job = json.loads(str(raw))
    handlers[job["kind"]](ctx, job_id, job["payload"])
