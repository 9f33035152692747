"""Running scheduled jobs inside one process: for `ivr demo`, `ivr call` and the tests.

In production `ivr worker` pumps due jobs into rq and an rq worker runs them.
Here the same pump and the same rq job function run in this process, on the
service's (often controlled) clock, with the REST client the app uses.
"""

from __future__ import annotations

from typing import Any

import redis as redis_lib
from rq import SimpleWorker
from twilio.rest import Client

from callbacks import jobs
from ivr.service import Services
from ivr.store import sync_client


class JobRunner:
    """Pump the jobs due now, then run everything queued with an rq burst."""

    def __init__(self, svc: Services, redis_url: str, http_client: Any) -> None:
        settings = svc.settings
        self.ctx = jobs.JobContext(
            settings=settings,
            clock=svc.clock,
            redis=sync_client(redis_url),
            keys=svc.keys,
            config=lambda: svc.registry.current,
            rest=Client(
                settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client
            ),
        )
        self.rq = redis_lib.Redis.from_url(redis_url)
        self.queue = jobs.rq_queue(self.rq, svc.keys)
        self.pump = jobs.Pump(self.ctx.redis, self.queue, svc.keys)
        jobs.set_context(self.ctx)

    def due(self) -> bool:
        """Whether any job is due by the clock."""
        due = self.ctx.redis.zrangebyscore(self.ctx.keys.jobs_due(), "-inf", self.ctx.clock.now())
        return bool(due)

    def run(self, now: float | None = None) -> list[str]:
        """Pump the jobs due by `now` (default: the clock) and run everything queued."""
        jobs.set_context(self.ctx)  # another runner in this process may have replaced it
        enqueued = self.pump.pump(self.ctx.clock.now() if now is None else now)
        if enqueued or self.queue.count:
            SimpleWorker([self.queue], connection=self.rq).work(burst=True, logging_level="WARNING")
        return enqueued

    def retry_now(self) -> int:
        """Requeue the failed jobs rq scheduled for a retry, without waiting for its backoff."""
        registry = self.queue.scheduled_job_registry
        ids = registry.get_job_ids()
        for job_id in ids:
            registry.requeue(job_id)
        return len(ids)

    def close(self) -> None:
        jobs.set_context(None)
        self.ctx.redis.close()
        self.rq.close()
