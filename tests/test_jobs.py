"""Scheduled jobs: due on the service clock, claimed once, run through rq, idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import redis
from rq import SimpleWorker

from callbacks import jobs
from ivr.clock import ManualClock
from ivr.config import Config
from ivr.keys import Keys
from ivr.settings import Settings
from ivr.store import async_client

KEYS = Keys()
RAN: list[tuple[str, dict[str, Any]]] = []


def record_job(ctx: jobs.JobContext, job_id: str, payload: dict[str, Any]) -> None:
    RAN.append((job_id, payload))


@pytest.fixture(name="rq_redis")
def fixture_rq_redis(redis_url: str, r: redis.Redis) -> Iterator[redis.Redis]:
    """A client for rq (no decoding), on the flushed store."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture(name="test_kind")
def fixture_test_kind(
    monkeypatch: pytest.MonkeyPatch, r: redis.Redis, settings: Settings
) -> Iterator[ManualClock]:
    """A `test` job kind that records its runs, and a job context on a manual clock."""
    monkeypatch.setitem(jobs.KINDS, "test", f"{__name__}:record_job")
    clock = ManualClock(1_000_000.0)
    ctx = jobs.JobContext(settings, clock, r, KEYS, lambda: Config.model_construct(), None)
    jobs.set_context(ctx)
    RAN.clear()
    yield clock
    jobs.set_context(None)


def schedule(redis_url: str, job_id: str, at: float, kind: str = "test") -> bool:
    async def go() -> bool:
        client = async_client(redis_url)
        try:
            return await jobs.schedule(client, KEYS, job_id, kind, {"n": 1}, at)
        finally:
            await client.aclose()

    # In a thread of its own: another test module may leave an event loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result()


def test_schedule_is_idempotent_by_job_id(redis_url: str, r: redis.Redis) -> None:
    """Scheduling the same id twice keeps the first schedule."""
    assert schedule(redis_url, "a-1", 100.0, "survey")
    assert not schedule(redis_url, "a-1", 500.0, "survey")
    assert r.zrange(KEYS.jobs_due(), 0, -1, withscores=True) == [("a-1", 100.0)]


@pytest.mark.parametrize(
    ("job_id", "kind"),
    [
        pytest.param("a:1", "survey", id="colon-in-id"),
        pytest.param("", "survey", id="empty-id"),
        pytest.param("a-1", "nope", id="unknown-kind"),
    ],
)
def test_schedule_refuses_bad_ids_and_kinds(redis_url: str, job_id: str, kind: str) -> None:
    """Ids follow rq's rule and kinds must be known."""
    with pytest.raises(ValueError):
        schedule(redis_url, job_id, 1.0, kind)


def test_pump_enqueues_only_due_jobs_once(
    redis_url: str, r: redis.Redis, rq_redis: redis.Redis, test_kind: ManualClock
) -> None:
    """Two pumps at the due time: the job reaches rq once; a later one waits its turn."""
    schedule(redis_url, "due", 100.0)
    schedule(redis_url, "later", 200.0)
    queue = jobs.rq_queue(rq_redis, KEYS)
    first, second = jobs.Pump(r, queue, KEYS), jobs.Pump(r, queue, KEYS)
    assert first.pump(150.0) == ["due"]
    assert second.pump(150.0) == []
    assert queue.job_ids == ["due"]
    SimpleWorker([queue], connection=rq_redis).work(burst=True)
    assert RAN == [("due", {"n": 1})]
    assert second.pump(200.0) == ["later"]


def test_claim_left_by_a_dead_pump_goes_back_to_due(
    redis_url: str, r: redis.Redis, rq_redis: redis.Redis
) -> None:
    """A job claimed but never handed to rq is claimed again after the timeout."""
    schedule(redis_url, "lost", 100.0, "survey")
    r.zrem(KEYS.jobs_due(), "lost")
    r.zadd(KEYS.jobs_claimed(), {"lost": 100.0})
    pump = jobs.Pump(r, jobs.rq_queue(rq_redis, KEYS), KEYS)
    assert pump.pump(120.0) == []
    assert pump.pump(100.0 + jobs.CLAIM_TIMEOUT_S + 1) == ["lost"]
    assert r.zcard(KEYS.jobs_claimed()) == 0


def test_deferred_job_runs_at_its_new_time(
    redis_url: str, r: redis.Redis, rq_redis: redis.Redis, test_kind: ManualClock
) -> None:
    """`defer` moves an already scheduled job to a later time."""
    schedule(redis_url, "q", 100.0)
    jobs.defer(r, KEYS, "q", 300.0)
    pump = jobs.Pump(r, jobs.rq_queue(rq_redis, KEYS), KEYS)
    assert pump.pump(200.0) == []
    assert pump.pump(300.0) == ["q"]


def test_run_of_an_expired_job_does_nothing(r: redis.Redis, test_kind: ManualClock) -> None:
    """A job whose payload is gone is skipped, not an error."""
    jobs.run("gone")
    assert RAN == []


def test_run_without_a_context_is_an_error() -> None:
    """A worker must install its job context before running jobs."""
    jobs.set_context(None)
    with pytest.raises(RuntimeError):
        jobs.run("x")
