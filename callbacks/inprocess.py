"""Running scheduled jobs inside one process: for `ivr demo`, `ivr simulate`, `ivr call` and tests.

In production `ivr worker` claims due jobs and runs them. Here the same
`callbacks.jobs.Runner` runs them in this process, on the service's (often
controlled) clock, with the REST client the app uses, and returns when they
are done: nothing runs in the background and nothing needs stopping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twilio.rest import Client

from callbacks import jobs
from callbacks.context import Context
from ivr.core.store import sync_client


class JobRunner:
    """Run the jobs due by the service clock, to the end, when asked."""

    def __init__(
        self,
        svc: Context,
        redis_url: str,
        http_client: Any,
        handlers: Mapping[str, jobs.Handler],
    ) -> None:
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
            redis_url=redis_url,
        )
        self.runner = jobs.Runner(self.ctx, handlers)

    def due(self) -> bool:
        """Whether any job is due by the clock."""
        due = self.ctx.redis.zrangebyscore(self.ctx.keys.jobs_due(), "-inf", self.ctx.clock.now())
        return bool(due)

    def run(self, now: float | None = None) -> list[str]:
        """Run the jobs due by `now` (default: the clock) and the retries due; the ids run."""
        return self.runner.run_due(self.ctx.clock.now() if now is None else now)

    def retry_now(self) -> int:
        """Make the failed jobs waiting for a retry due at once, without waiting for the backoff."""
        return self.runner.retry_now()

    def close(self) -> None:
        self.ctx.redis.close()
