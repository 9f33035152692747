"""What each kind of job runs: callbacks and surveys, wired to the voice layer.

This is part of the composition root: `callbacks` cannot import the voice layer, so the
callback job's `Services`, with the voice layer's `Legs`, is built here, and every job
runner (`ivr worker`, the in-process runner) is handed `HANDLERS`.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from callbacks import dial, jobs, surveys
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import Clock
from ivr.core.settings import Settings
from ivr.service import Services
from ivr.voice.legs import VoiceLegs


def build_services(
    settings: Settings, clock: Clock, redis: aioredis.Redis, registry: ConfigRegistry
) -> Services:
    """The `Services` of a web process or a job, with the voice layer's legs."""
    return Services.build(settings, clock, redis, registry, legs=VoiceLegs)


def run_callback(ctx: jobs.JobContext, job_id: str, payload: dict[str, Any]) -> None:
    """A `callback` job: run its action on a short-lived `Services` built from `ctx`."""
    jobs.run_async(ctx, lambda client: _callback(ctx, client, payload))


async def _callback(ctx: jobs.JobContext, client: aioredis.Redis, payload: dict[str, Any]) -> None:
    svc = build_services(ctx.settings, ctx.clock, client, ConfigRegistry(ctx.settings.config_dir))
    svc.use_rest(ctx.rest)
    await dial.run_action(svc, payload)


HANDLERS: dict[str, jobs.Handler] = {"survey": surveys.send_job, "callback": run_callback}
"""Job kind -> the function that runs it (`callbacks.jobs.KINDS`)."""
