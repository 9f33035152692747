"""Scheduled jobs: due on the service clock, claimed once, retried, handed back, idempotent."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import redis.asyncio as aioredis

from callbacks import callback as callbacks
from callbacks import dial, jobs, worker
from ivr.config.model import Config
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore, async_client, sync_client
from ivr.handlers import HANDLERS, build_services
from tests.callbacks_helpers import callback_config
from tests.conftest import OPEN_TIME

KEYS = Keys()
T = TypeVar("T")
RAN: list[tuple[str, dict[str, Any]]] = []
FAILURES: list[str] = []
"""Job ids whose next run raises (one entry per failure)."""
STARTED = threading.Event()
RELEASE = threading.Event()


def record_job(ctx: jobs.JobContext, job_id: str, payload: dict[str, Any]) -> None:
    if job_id in FAILURES:
        FAILURES.remove(job_id)
        raise ConnectionError("api.twilio.com unreachable")
    RAN.append((job_id, payload))


def slow_job(ctx: jobs.JobContext, job_id: str, payload: dict[str, Any]) -> None:
    STARTED.set()
    RELEASE.wait(30)


@pytest.fixture(name="clock")
def fixture_clock() -> ManualClock:
    """A manual service clock far from the wall clock, as in the tests of the service."""
    return ManualClock(1_000_000.0)


@pytest.fixture(name="runner")
def fixture_runner(
    monkeypatch: pytest.MonkeyPatch,
    r: redis.Redis,
    redis_url: str,
    settings: Settings,
    clock: ManualClock,
) -> Iterator[jobs.Runner]:
    """A runner on a manual clock, with `test` (records its runs) and `slow` job kinds."""
    monkeypatch.setattr(jobs, "KINDS", (*jobs.KINDS, "test", "slow"))
    ctx = jobs.JobContext(settings, clock, r, KEYS, Config.model_construct, None, redis_url)
    RAN.clear()
    FAILURES.clear()
    STARTED.clear()
    RELEASE.clear()
    yield jobs.Runner(ctx, {**HANDLERS, "test": record_job, "slow": slow_job})
    RELEASE.set()


def schedule(redis_url: str, job_id: str, at: float, kind: str = "test") -> bool:
    return run_on_store(
        redis_url, lambda client: jobs.schedule(client, KEYS, job_id, kind, {"n": 1}, at)
    )


def run_on_store(redis_url: str, step: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """`step` on an async client of its own, run to the end."""

    async def go() -> T:
        client = async_client(redis_url)
        try:
            return await step(client)
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
    """Ids are safe in keys and kinds must be known."""
    with pytest.raises(ValueError):
        schedule(redis_url, job_id, 1.0, kind)


def test_due_jobs_run_once_however_many_runners(
    redis_url: str, r: redis.Redis, runner: jobs.Runner
) -> None:
    """Two runners at the due time: the job runs once; a later one waits its turn."""
    schedule(redis_url, "due", 100.0)
    schedule(redis_url, "later", 200.0)
    other = jobs.Runner(runner.ctx, runner.handlers)
    assert runner.run_due(150.0) == ["due"]
    assert other.run_due(150.0) == []
    assert RAN == [("due", {"n": 1})]
    assert other.run_due(200.0) == ["later"]
    assert r.zcard(KEYS.jobs_claimed()) == 0


def test_claim_left_by_a_dead_worker_goes_back_to_due(
    redis_url: str, r: redis.Redis, runner: jobs.Runner
) -> None:
    """A job claimed by a worker that died is claimed again after the timeout, and runs."""
    schedule(redis_url, "lost", 100.0)
    r.zrem(KEYS.jobs_due(), "lost")
    r.zadd(KEYS.jobs_claimed(), {"lost": 100.0})
    assert runner.run_due(120.0) == []
    assert runner.run_due(100.0 + jobs.CLAIM_TIMEOUT_S + 1) == ["lost"]
    assert RAN == [("lost", {"n": 1})]
    assert r.zcard(KEYS.jobs_claimed()) == 0


def test_failed_job_is_retried_after_its_backoff(
    redis_url: str, r: redis.Redis, runner: jobs.Runner
) -> None:
    """A job that raises waits its wall-clock backoff, then runs again and succeeds."""
    schedule(redis_url, "flaky", 100.0)
    FAILURES.append("flaky")
    assert runner.run_due(100.0) == ["flaky"]
    assert RAN == []
    assert runner.run_due(100.0) == []  # the backoff is real time: not yet
    assert runner.retry_now() == 1
    assert runner.run_due(100.0) == ["flaky"]
    assert RAN == [("flaky", {"n": 1})]
    assert r.hlen(KEYS.jobs_attempts()) == 0


def test_job_failing_every_attempt_is_filed_as_failed(
    redis_url: str, r: redis.Redis, runner: jobs.Runner
) -> None:
    """After the last retry fails, the job stops running and is listed as failed."""
    schedule(redis_url, "broken", 100.0)
    FAILURES.extend(["broken"] * (jobs.RETRY_MAX + 1))
    for _ in range(jobs.RETRY_MAX + 1):
        runner.retry_now()
        assert runner.run_due(100.0) == ["broken"]
    assert runner.retry_now() == 0
    assert r.zrange(KEYS.jobs_failed(), 0, -1) == ["broken"]
    assert RAN == [] and FAILURES == []


def test_deferred_job_runs_at_its_new_time(redis_url: str, runner: jobs.Runner) -> None:
    """`defer` moves an already scheduled job to a later time."""
    schedule(redis_url, "q", 100.0)
    run_on_store(redis_url, lambda client: jobs.defer(client, KEYS, "q", 300.0))
    assert runner.run_due(200.0) == []
    assert runner.run_due(300.0) == ["q"]


def test_run_of_an_expired_job_does_nothing(r: redis.Redis, runner: jobs.Runner) -> None:
    """A job whose payload is gone is skipped, not an error."""
    r.zadd(KEYS.jobs_due(), {"gone": 1.0})
    assert runner.run_due(1.0) == ["gone"]
    assert RAN == []
    assert r.zcard(KEYS.jobs_claimed()) == 0


def test_stopping_worker_hands_back_the_job_in_hand(
    redis_url: str,
    r: redis.Redis,
    runner: jobs.Runner,
    clock: ManualClock,
    sample_config_dir: Path,
) -> None:
    """Stopped mid-job, the worker returns within its grace and the job is due again."""
    schedule(redis_url, "long", clock.now(), "slow")
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        handed = pool.submit(worker.run_until, runner, ConfigRegistry(sample_config_dir), stop)
        assert STARTED.wait(10)
        stop.set()
        assert handed.result(timeout=worker.STOP_GRACE_S + 5) == ["long"]
    assert r.zrange(KEYS.jobs_due(), 0, -1) == ["long"]
    assert r.zcard(KEYS.jobs_claimed()) == 0


def acl_user_url(store: EmbeddedStore) -> str:
    """The store's URL as an ACL user, with the default user switched off."""
    admin = sync_client(store.url)
    admin.acl_setuser("ivr", enabled=True, passwords=["+s3cret"], keys="*", channels="*",
                      commands=["+@all"])  # fmt: skip
    admin.acl_setuser("default", enabled=False)
    admin.close()
    return "redis://ivr:s3cret@" + store.url.rsplit("@", 1)[1]  # in place of the default user


@pytest.mark.parametrize(
    ("socket", "url_of"),
    [
        pytest.param(True, lambda store: store.url, id="unix-socket"),
        pytest.param(False, acl_user_url, id="acl-user"),
    ],
)
def test_callback_job_uses_the_store_of_its_url(
    tmp_path: Path, socket: bool, url_of: Callable[[EmbeddedStore], str]
) -> None:
    """With REDIS_URL=unix://... or an ACL user, a callback's scheduled activation runs there."""
    config_dir = callback_config(tmp_path / "config")
    with EmbeddedStore(tmp_path / "data", tmp_path / "v.sock" if socket else None) as store:
        url = url_of(store)
        clock = ManualClock(OPEN_TIME)
        settings = Settings(redis_url=url, config_dir=config_dir, data_dir=tmp_path)
        cb_id = asyncio.run(scheduled_callback(settings, url, clock))
        client = sync_client(url)
        registry = ConfigRegistry(config_dir)
        ctx = jobs.JobContext(settings, clock, client, KEYS, lambda: registry.current, None, url)
        clock.advance(61)
        assert jobs.Runner(ctx, HANDLERS).run_due(clock.now()) == [f"cb-{cb_id}-activate"]
        assert client.zcard(KEYS.jobs_retry()) == 0  # it did not fail
        assert asyncio.run(callback_state(settings, url, clock, cb_id)) == "queued"
        client.close()


async def scheduled_callback(settings: Settings, url: str, clock: ManualClock) -> str:
    """A callback due in a minute, with its activation job scheduled."""
    svc = build_services(settings, clock, async_client(url), ConfigRegistry(settings.config_dir))
    cb = callbacks.Callback(
        id=callbacks.new_id(), number="+60176543210", queue="billing", due=clock.now() + 60
    )
    await callbacks.create(svc, cb)
    await dial.schedule(svc, cb, "activate", cb.due)
    await svc.redis.aclose()
    return cb.id


async def callback_state(settings: Settings, url: str, clock: ManualClock, cb_id: str) -> str:
    redis_client = async_client(url)
    svc = build_services(settings, clock, redis_client, ConfigRegistry(settings.config_dir))
    cb = await callbacks.get(svc, cb_id)
    await redis_client.aclose()
    return cb.state if cb else "gone"
