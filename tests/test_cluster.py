"""The service on a real Valkey Cluster of three primaries (`ivr/devtools/clusters.py`).

This module's `redis_url` is the cluster's `redis+cluster://` URL, so the shared
fixtures (`r`, `settings`, `server`, `tw`) run the app, the emulator's calls and
the in-process jobs on the cluster-aware clients. Two contact centres whose hash
tags land on different shards take calls side by side, and `ivr worker` runs jobs
there.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import redis.exceptions

from callbacks import jobs
from ivr import background, cli
from ivr.app import create_app
from ivr.core import cluster as cluster_urls
from ivr.core.clock import ManualClock
from ivr.core.errors import StoreError
from ivr.core.keys import Keys
from ivr.core.settings import Settings, Workspace
from ivr.core.store import STORE_ERRORS, async_client, resolve_url, sync_client
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.service import Workspaces
from ivr.voice.fallback import LEGS
from ivr.web import report
from tests.agents import go_available, state
from tests.clusters import Cluster, Node
from tests.conftest import AUTH_TOKEN, BUSINESS, PUBLIC_BASE, Twilio, wire
from tests.consoles import Console
from tests.test_connect_e2e import billing_caller
from tests.test_degraded import APOLOGY, IN_MENU, every_field
from tests.test_jobs import run_on_store
from tests.test_store import BURSTS, assert_burst_takes_turns
from tests.test_webhooks import call_form, english_main_menu
from tests.test_workspaces import SALES, SUPPORT, workspace_dir
from tests.twiml_helpers import heard

TENANTS = ("main", "north")
HEALTH_SETTLE_S = 5.0
"""How long after a shard's death the other workspaces' health may take to read ok."""
"""Two contact centres: `{main}` hashes to slot 12501, `{north}` to slot 1043."""
IVR = [sys.executable, "-m", "ivr.cli"]
WORKER_WAIT_S = 15.0


@pytest.fixture(name="cluster", scope="session")
def fixture_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three Valkey primaries in one cluster on free loopback ports, for the session."""
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(name="redis_url", scope="session")
def fixture_redis_url(cluster: Cluster) -> str:
    """The shared fixtures' store is the cluster, named by all three seeds."""
    return cluster.url


@contextlib.contextmanager
def contact_centre(
    settings: Settings, tenant: str, clock: ManualClock
) -> Iterator[tuple[LiveServer, Emulator]]:
    """The app of contact centre `tenant` on the settings' store, with its own emulator."""
    app = create_app(settings.with_(tenant=tenant), clock=clock, run_timers=False)
    with (
        LiveServer(app) as server,
        Emulator(server.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock) as tw,
    ):
        tw.add_number(BUSINESS, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        wire(tw, server)
        yield server, tw


def answered_call(tw: Emulator, server: LiveServer) -> None:
    """Alice takes a billing caller, talks a minute and wraps up."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    call.hears("Connecting you now")
    tw.advance(2)
    assert call.bridge is not None
    assert state(server, "alice").state == "on_call"
    tw.advance(60)
    call.hangup()
    tw.advance(1)
    assert state(server, "alice").state == "wrap_up"
    tw.assert_no_errors()


@pytest.fixture
def dead_shard_leaks() -> Iterator[None]:
    """redis-py's cluster client drops a dead shard's connections without closing them: they
    are collected here, where the test's filters excuse their warnings, not in a later test
    (where an unraisable warning fails whatever test happens to be running)."""
    yield
    gc.collect()


def test_the_two_tags_live_on_different_shards(cluster: Cluster) -> None:
    """The two contact centres of these tests are served by different primaries."""
    assert cluster.owner(TENANTS[0]) != cluster.owner(TENANTS[1])


def test_two_contact_centres_on_different_shards_take_calls(
    cluster: Cluster, settings: Settings, clock: ManualClock, r: redis.Redis
) -> None:
    """Each contact centre answers a call end to end; its keys sit on its own shard only."""
    for tenant in TENANTS:
        with contact_centre(settings, tenant, clock) as (server, tw):
            answered_call(tw, server)
    for tenant in TENANTS:
        assert r.xlen(Keys(tenant).events()) > 0
        holders = [i for i, node in enumerate(cluster.nodes) if holds(node, Keys(tenant).prefix)]
        assert holders == [cluster.owner(tenant)]


def holds(node: Node, prefix: str) -> bool:
    """Whether `node` itself holds any key under `prefix` (SCAN on one node sees its own)."""
    with node.client() as client:
        return any(True for _ in client.scan_iter(match=f"{prefix}:*", count=1000))


def test_web_starts_on_a_node_that_does_not_serve_its_slot(
    cluster: Cluster, settings: Settings, clock: ManualClock, r: redis.Redis
) -> None:
    """REDIS_URL naming one node that does not serve `{main}`: the app starts (no MovedError
    in router.load), follows the redirection and answers a call."""
    node = cluster.not_owner("main")
    app = create_app(settings.with_(redis_url=node.url), clock=clock, run_timers=False)
    with LiveServer(app) as server:
        assert httpx.get(f"{server.url}/healthz").json()["store"] == "ok"
        with Emulator(
            server.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock
        ) as tw:
            tw.add_number(BUSINESS, voice_url="/voice/incoming")
            wire(tw, server)
            answered_call(tw, server)


@pytest.mark.parametrize("seed", ["cluster", "other-node"])
def test_ivr_worker_runs_jobs_on_the_cluster(
    cluster: Cluster, seed: str, sample_config_dir: Path, r: redis.Redis, tmp_path: Path
) -> None:
    """`ivr worker` given the cluster URL, or one node that does not serve `{main}`, beats
    its heartbeat and runs a job due now, and is still running afterwards (it used to
    loop on MovedError, and `redis+cluster://` was refused as a scheme)."""
    url = cluster.url if seed == "cluster" else cluster.not_owner("main").url
    keys = Keys()
    run_on_store(
        cluster.url, lambda c: jobs.schedule(c, keys, "s-1", "survey", {"call": "CA1"}, time.time())
    )
    env = {**os.environ, "REDIS_URL": url, "IVR_CONFIG_DIR": str(sample_config_dir)}
    env.pop("IVR_PARENT_PID", None)
    log = tmp_path / "worker.log"
    with open(log, "wb") as output:
        worker = subprocess.Popen([*IVR, "worker"], env=env, stdout=output, stderr=output)
    try:
        deadline = time.monotonic() + WORKER_WAIT_S
        while r.zcard(keys.jobs_due()) or not r.exists(keys.worker_heartbeat()):
            assert worker.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        assert wait_done(r), log.read_text()[-2000:]
        assert worker.poll() is None
        assert "MovedError" not in log.read_text()
    finally:
        worker.terminate()
        worker.wait(10)


def wait_done(r: redis.Redis) -> bool:
    """The claimed job finishes (neither claimed nor filed as failed) within the wait."""
    keys = Keys()
    deadline = time.monotonic() + WORKER_WAIT_S
    while r.zcard(keys.jobs_claimed()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return r.zcard(keys.jobs_failed()) == 0 and r.zcard(keys.jobs_retry()) == 0


def test_healthz_is_degraded_while_jobs_go_unrun(
    server: LiveServer, clock: ManualClock, redis_url: str
) -> None:
    """No worker ever beat, and a job is a minute overdue: /healthz says "degraded" (200)."""
    assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    run_on_store(
        redis_url, lambda c: jobs.schedule(c, Keys(), "s-2", "survey", {"call": "CA2"}, clock.now())
    )
    clock.advance(jobs.OVERDUE_AFTER_S + 1)
    answer = httpx.get(f"{server.url}/healthz")
    body = answer.json()
    assert answer.status_code == 200
    assert (body["status"], body["worker"], body["jobs_overdue"]) == ("degraded", "not seen", 1)


def test_ivr_report_reads_the_cluster(
    settings: Settings, clock: ManualClock, r: redis.Redis, tw: Emulator, server: LiveServer
) -> None:
    """`ivr report` on the cluster URL (a blocking CLI on the cluster clients) reads the day."""
    answered_call(tw, server)
    args = cli.build_parser().parse_args(["report", "--from", "2026-11-23", "--format", "json"])
    out = io.StringIO()
    assert report.main(settings, args, out, clock) == 0
    assert json.loads(out.getvalue())["queues"]["billing"]["answered"] == 1


def test_sync_and_async_clients_follow_the_cluster(cluster: Cluster, r: redis.Redis) -> None:
    """Blocking and asyncio clients built from the cluster URL reach every shard's keys."""
    with sync_client(cluster.url) as client:
        for tenant in TENANTS:
            client.set(Keys(tenant).config_version(), tenant)

    async def read(client: aioredis.Redis) -> list[Any]:
        return [await client.get(Keys(tenant).config_version()) for tenant in TENANTS]

    assert run_on_store(cluster.url, read) == list(TENANTS)


@pytest.mark.parametrize(
    ("url", "seeds"),
    [
        pytest.param("redis+cluster://a:7000", [("a", 7000)], id="one-seed"),
        pytest.param(
            "redis+cluster://u:p%40ss@a:7000,b:7001/0?socket_timeout=2",
            [("a", 7000), ("b", 7001)],
            id="user-and-options",
        ),
        pytest.param("rediss+cluster://a,b:7001", [("a", 6379), ("b", 7001)], id="tls"),
    ],
)
def test_cluster_url_names_its_seeds(url: str, seeds: list[tuple[str, int]]) -> None:
    """A `redis+cluster://` URL lists seed nodes, separated by commas (port 6379 by default)."""
    assert cluster_urls.seeds(url) == seeds


def test_cluster_url_refuses_a_database_number() -> None:
    """A cluster has only database 0: `/3` is refused with the reason."""
    with pytest.raises(StoreError, match="database 0"):
        cluster_urls.seeds("redis+cluster://a:7000/3")


def test_a_plain_url_to_a_cluster_node_resolves_to_the_cluster(cluster: Cluster) -> None:
    """REDIS_URL=redis://one-node resolves to a cluster URL seeded by that node."""
    node = cluster.nodes[0]
    url, embedded = resolve_url(Settings(redis_url=node.url))
    assert embedded is None
    assert url == f"redis+cluster://127.0.0.1:{node.port}"


@contextlib.contextmanager
def refusing_writes(node: Node) -> Iterator[None]:
    """`node` refuses every write (NOREPLICAS: it asks for a replica it does not have)."""
    with node.client() as client:
        client.config_set("min-replicas-to-write", 1)
        try:
            yield
        finally:
            client.config_set("min-replicas-to-write", 0)


def test_healthz_fails_while_its_shard_refuses_writes(cluster: Cluster, server: LiveServer) -> None:
    """/healthz answers 503 "refuses writes" while the shard serving `{main}` takes no writes,
    and stays "ok" while another shard does: that one serves other contact centres."""
    with refusing_writes(cluster.not_owner("main")):
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
    with refusing_writes(cluster.nodes[cluster.owner("main")]):
        answer = httpx.get(f"{server.url}/healthz")
    assert (answer.status_code, answer.json()["store"]) == (503, "refuses writes")


# Known, left alone: after ~45 webhooks against the killed shard, the test server's uvloop
# cannot close its loop (EBUSY: connects to the dead node still pending) and warns of
# unclosed handles at teardown. Each webhook's answer, which is what this test is about,
# is asserted; the dev server's shutdown noise is not a caller-visible behaviour.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.usefixtures("dead_shard_leaks")
def test_a_failed_shard_stops_only_its_own_contact_centre(
    tmp_path: Path, settings: Settings, clock: ManualClock
) -> None:
    """On a cluster that need not cover every slot, the shard serving `{main}` is killed:
    main's caller hears the degraded-mode apology (200, no 500), north's the welcome (it
    failed too while redis-py loaded scripts on every primary); main's caller already in
    the menu gets valid TwiML from every webhook, and its agent's console a 503."""
    cluster = Cluster(tmp_path / "cluster", full_coverage=False)
    try:
        cluster.start()
        apps = {
            t: create_app(
                settings.with_(redis_url=cluster.url, tenant=t), clock=clock, run_timers=False
            )
            for t in TENANTS
        }
        with LiveServer(apps["main"]) as main, LiveServer(apps["north"]) as north:
            alice, in_menu = Console(main, "agent", "alice"), Twilio(main.url)
            english_main_menu(in_menu, IN_MENU)
            cluster.kill(cluster.owner("main"))
            for path in sorted(LEGS):
                answer = in_menu.post(f"{path}?step=3&res=R1&call=CA1", every_field(IN_MENU))
                assert answer.status_code in (200, 204), f"{path}: {answer.text}"
            assert alice.post("/api/agent/status", {"status": "available"}).status_code == 503
            alice.close()
            in_menu.close()
            for server, said in ((main, APOLOGY), (north, "Welcome to Acme Telco")):
                phone = Twilio(server.url)
                answer = phone.post("/voice/incoming", call_form())
                phone.close()
                assert answer.status_code == 200, answer.text
                assert said in heard(answer.text)
    finally:
        cluster.stop()


# As above: connections to the killed shard are left to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.usefixtures("dead_shard_leaks")
def test_a_workspace_whose_shard_is_down_at_start_does_not_stop_the_others(
    tmp_path: Path, settings: Settings, clock: ManualClock
) -> None:
    """Sales' shard is dead when the web process starts: it starts all the same, support's
    caller hears the welcome, sales' the degraded-mode apology, and sales' routing sync
    (skipped at start) is done by its timer loop once its shard is back."""
    spaces = (
        Workspace("sales", workspace_dir(tmp_path / "sales", SALES, {})),
        Workspace("support", workspace_dir(tmp_path / "support", SUPPORT, {})),
    )
    cluster = Cluster(tmp_path / "cluster", full_coverage=False)
    try:
        cluster.start()
        down = cluster.owner("sales")
        assert down != cluster.owner("support")
        cluster.kill(down)
        several = settings.with_(redis_url=cluster.url, workspaces=spaces)
        with LiveServer(create_app(several, clock=clock, run_timers=False)) as server:
            phone = Twilio(server.url)
            for number, said in ((SUPPORT, "Welcome to Acme Telco"), (SALES, APOLOGY)):
                answer = phone.post("/voice/incoming", call_form(To=number))
                assert answer.status_code == 200, answer.text
                assert said in heard(answer.text)
            phone.close()
            sales = cast_workspaces(server.app.state.workspaces).by_id["sales"]
            assert sales.synced_version == ""
            cluster.revive(down)
            sales.run(background.tick(sales, ring=False))
            assert sales.synced_version == sales.registry.current.version
    finally:
        cluster.stop()


# As above: connections to the killed shard are left to the garbage collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.usefixtures("dead_shard_leaks")
def test_plain_healthz_stays_up_while_one_workspace_shard_is_down(
    tmp_path: Path, settings: Settings, clock: ManualClock
) -> None:
    """Sales' (the first workspace's) shard is down: plain `/healthz`, the proxy's check,
    is 200 as support is served, degraded, with each workspace's state in its body;
    `/w/sales/healthz` is 503 and `/w/support/healthz` 200."""
    spaces = (
        Workspace("sales", workspace_dir(tmp_path / "sales", SALES, {})),
        Workspace("support", workspace_dir(tmp_path / "support", SUPPORT, {})),
    )
    cluster = Cluster(tmp_path / "cluster", full_coverage=False)
    try:
        cluster.start()
        cluster.kill(cluster.owner("sales"))
        several = settings.with_(redis_url=cluster.url, workspaces=spaces)
        with LiveServer(create_app(several, clock=clock, run_timers=False)) as server:
            # The cluster client re-reads the slot map after the dead shard's errors, and a
            # request in that moment can fail: a proxy's check repeats, so does this one.
            deadline = time.monotonic() + HEALTH_SETTLE_S
            while True:
                plain = httpx.get(f"{server.url}/healthz")
                sales = httpx.get(f"{server.url}/w/sales/healthz")
                support = httpx.get(f"{server.url}/w/support/healthz")
                settled = (plain.status_code, sales.status_code, support.status_code)
                if settled == (200, 503, 200) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
    finally:
        cluster.stop()
    assert (sales.status_code, support.status_code) == (503, 200)
    assert plain.status_code == 200, plain.text
    body = plain.json()
    assert body["status"] == "degraded"
    assert body["workspaces"]["sales"]["store"] == "unreachable"
    assert body["workspaces"]["support"]["store"] == "ok"


def cast_workspaces(spaces: object) -> Workspaces:
    assert isinstance(spaces, Workspaces)
    return spaces


# -- the asyncio client's connection limit ----------------------------------------------


@pytest.mark.parametrize(("size", "block_s", "limit"), BURSTS)
def test_a_burst_of_blocking_reads_all_succeed_on_a_cluster(
    cluster: Cluster, size: int, block_s: float, limit: int | None
) -> None:
    """Concurrent BLPOPs on one cluster client all succeed: past its connection limit they
    take turns for a connection instead of failing."""
    assert_burst_takes_turns(cluster.url, size, block_s, limit)


def test_cluster_pipelines_take_turns_at_the_limit_and_a_wait_that_runs_out_is_a_store_error(
    cluster: Cluster,
) -> None:
    """Through 5 connections, 40 pipelines of a 0.05 s BLPOP each all run, in turns; with
    one connection held longer than the wait, the next command fails with a store error."""

    async def pipelines() -> tuple[int, float]:
        client = async_client(cluster.url, max_connections=5)

        async def one(n: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                pipe.blpop([f"ivr:{{main}}:piped:{n}"], timeout=0.05)
                await pipe.execute()

        await client.ping()  # in use first (see `burst_through`)
        start = time.monotonic()
        try:
            found = await asyncio.gather(*(one(n) for n in range(40)), return_exceptions=True)
        finally:
            await client.aclose()
        return sum(isinstance(each, BaseException) for each in found), time.monotonic() - start

    errors, took = asyncio.run(pipelines())
    assert errors == 0 and took >= 40 // 5 * 0.05 * 0.9

    async def starved() -> BaseException | None:
        client = async_client(cluster.url, max_connections=1, pool_wait_s=0.05)

        async def hold() -> None:
            await client.blpop(["ivr:{main}:held"], timeout=0.5)

        try:
            await client.ping()  # the slot map is read
            holder = asyncio.create_task(hold())
            await asyncio.sleep(0.05)
            try:
                await client.get("ivr:{main}:probe")
            except Exception as exc:  # noqa: BLE001 (the test inspects it)
                return exc
            finally:
                await holder
            return None
        finally:
            await client.aclose()

    assert isinstance(asyncio.run(starved()), STORE_ERRORS)


# -- transactions -------------------------------------------------------------------------


def test_a_cluster_transaction_runs_on_the_callers_loop(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WATCH, a read and a MULTI/EXEC on the cluster give the same answers as on one
    server, and start no thread (redis-py 8.1 ran each command of a cluster transaction in a
    new thread with its own event loop, blocking every webhook of the process meanwhile)."""
    started: list[threading.Thread] = []
    start = threading.Thread.start

    def counted(thread: threading.Thread) -> None:
        started.append(thread)
        start(thread)

    async def transact() -> tuple[object, list[Any]]:
        client = async_client(cluster.url)
        try:
            await client.set("ivr:{main}:tx:seen", "before")
            monkeypatch.setattr(threading.Thread, "start", counted)
            async with client.pipeline(transaction=True) as pipe:
                await pipe.watch("ivr:{main}:tx:seen")
                seen = await pipe.get("ivr:{main}:tx:seen")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set("ivr:{main}:tx:seen", "after")
                pipe.hincrby("ivr:{main}:tx:count", "n", 2)
                done = await pipe.execute()
            monkeypatch.undo()
            return seen, done
        finally:
            await client.aclose()

    assert asyncio.run(transact()) == ("before", [True, 2])
    assert started == []


def test_a_cluster_transaction_whose_key_changed_meanwhile_is_refused(cluster: Cluster) -> None:
    """A key changed by another client between the WATCH and the EXEC fails the transaction
    (WatchError), and its writes are not made."""

    async def raced() -> object:
        client, other = async_client(cluster.url), async_client(cluster.url)
        try:
            await client.set("ivr:{main}:tx:raced", "first")
            async with client.pipeline(transaction=True) as pipe:
                await pipe.watch("ivr:{main}:tx:raced")
                await other.set("ivr:{main}:tx:raced", "theirs")
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.set("ivr:{main}:tx:raced", "ours")
                with pytest.raises(redis.exceptions.WatchError):
                    await pipe.execute()
            return await client.get("ivr:{main}:tx:raced")
        finally:
            await client.aclose()
            await other.aclose()

    assert asyncio.run(raced()) == "theirs"
