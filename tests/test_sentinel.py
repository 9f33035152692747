"""A Sentinel-managed store: the `redis+sentinel://` URL, clients that follow the primary,
writes confirmed on a replica, and a SIGKILLed primary in the middle of calls.

The servers (tests/sentinels.py) are the module's own: the failover test kills the primary,
so it runs last.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from callbacks import callback, jobs, worker
from callbacks.inprocess import JobRunner
from ivr import cli
from ivr.app import create_app
from ivr.core import sentinel
from ivr.core.clock import ManualClock
from ivr.core.errors import StoreError
from ivr.core.keys import Keys
from ivr.core.sentinel import SentinelUrl
from ivr.core.settings import Settings
from ivr.core.store import async_client, resolve_url, sync_client
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.devtools.sentinels import Topology
from ivr.handlers import HANDLERS
from ivr.web import report
from tests.agents import services_of
from tests.conftest import AUTH_TOKEN, BUSINESS, PUBLIC_BASE, SAMPLE_CONFIG, Twilio, wire
from tests.consoles import Console
from tests.stores import burst
from tests.test_connect_e2e import billing_caller
from tests.test_degraded import APOLOGY, HOLD_APOLOGY
from tests.test_redis_url import worker_refused
from tests.test_store import BURSTS, assert_burst_takes_turns
from tests.test_surveys_e2e import CALLER, surveyed
from tests.test_webhooks import call_form
from tests.twiml_helpers import action, heard

SWITCH_BUDGET_S = 15.0
"""The longest the test waits for webhooks to be answered normally again after the kill."""


@pytest.fixture(name="topology", scope="module")
def fixture_topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """A primary, its replica and three sentinels, for this module."""
    topology = Topology(tmp_path_factory.mktemp("sentinel"))
    topology.start()
    yield topology
    topology.stop()


# -- the URL -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "redis+sentinel://10.0.0.1:26380,10.0.0.2/ivr",
            SentinelUrl((("10.0.0.1", 26380), ("10.0.0.2", 26379)), "ivr"),
            id="hosts-default-port",
        ),
        pytest.param(
            "redis+sentinel://:s%40cret@h:1/mymaster/3",
            SentinelUrl((("h", 1),), "mymaster", 3, None, "s@cret"),
            id="password-db",
        ),
        pytest.param(
            "redis+sentinel://ivr:pw@[::1]:26379,[fe80::2]/ivr",
            SentinelUrl((("::1", 26379), ("fe80::2", 26379)), "ivr", 0, "ivr", "pw"),
            id="acl-user-ipv6",
        ),
    ],
)
def test_a_sentinel_url_names_the_sentinels_the_service_and_the_database(
    url: str, expected: SentinelUrl
) -> None:
    """Each host:port is a sentinel (26379 when left out); the path is service[/db]."""
    assert SentinelUrl.parse(url) == expected
    assert sentinel.is_sentinel(url)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        pytest.param("redis+sentinel://h:1", "names the service", id="no-service"),
        pytest.param("redis+sentinel:///ivr", "at least one sentinel", id="no-host"),
        pytest.param("redis+sentinel://h:x/ivr", "bad sentinel port", id="bad-port"),
        pytest.param("redis+sentinel://h/ivr/zero", "bad database", id="bad-db"),
    ],
)
def test_a_malformed_sentinel_url_is_refused_saying_why(url: str, says: str) -> None:
    """`resolve_url` (what every command starts with) refuses it before connecting."""
    with pytest.raises(StoreError, match=says):
        resolve_url(Settings(redis_url=url))


# -- clients -----------------------------------------------------------------------------


def test_clients_built_from_the_url_reach_the_primary(topology: Topology) -> None:
    """The blocking and the asyncio client both write to the primary the sentinels name,
    and the replica has the write."""
    client = sync_client(topology.url)
    try:
        client.set("sentinel:sync", "1")
    finally:
        client.close()

    async def write() -> None:
        aclient = async_client(topology.url)
        try:
            await aclient.set("sentinel:async", "1")
        finally:
            await aclient.aclose()

    asyncio.run(write())
    primary = topology.primary()
    replica = "b" if primary == "a" else "a"
    with redis.Redis(port=topology.ports[primary], decode_responses=True) as direct:
        assert direct.mget("sentinel:sync", "sentinel:async") == ["1", "1"]
    with redis.Redis(port=topology.ports[replica], decode_responses=True) as copy:
        topology_wait(lambda: copy.mget("sentinel:sync", "sentinel:async") == ["1", "1"])


@dataclass
class Bag:
    """The part of the services `sentinel.confirm` reads."""

    redis: Any
    settings: Settings
    keys: Keys = field(default_factory=Keys)


def test_a_confirmed_write_is_on_a_replica_when_confirm_returns(topology: Topology) -> None:
    """With one replica asked for, `confirm` returns True, and the replica already has every
    write made before it, on any connection."""
    settings = Settings(store_wait_replicas=1, store_wait_ms=1000)
    primary = topology.primary()
    replica = "b" if primary == "a" else "a"

    async def write_and_confirm() -> bool:
        client = async_client(topology.url)
        try:
            await client.set("sentinel:booked", "CB1")
            return await sentinel.confirm(Bag(client, settings), "callback booked")
        finally:
            await client.aclose()

    assert asyncio.run(write_and_confirm())
    with redis.Redis(port=topology.ports[replica], decode_responses=True) as copy:
        assert copy.get("sentinel:booked") == "CB1"


def test_without_a_replica_confirm_says_so_within_its_wait(redis_url: str) -> None:
    """On a server with no replica, `confirm` gives up after `store_wait_ms` and says so
    (False); with no replicas asked for it does not wait at all."""
    settings = Settings(store_wait_replicas=1, store_wait_ms=50)

    async def confirm(settings: Settings) -> tuple[bool, float]:
        client = async_client(redis_url)
        try:
            start = time.monotonic()
            done = await sentinel.confirm(Bag(client, settings), "caller queued")
            return done, time.monotonic() - start
        finally:
            await client.aclose()

    done, waited = asyncio.run(confirm(settings))
    assert not done and 0.04 <= waited < 1.0
    assert asyncio.run(confirm(settings.with_(store_wait_replicas=0)))[0]


def test_the_job_worker_and_ivr_report_run_on_a_sentinel_url(topology: Topology) -> None:
    """`ivr worker`'s loop beats its heartbeat through the sentinels, and `ivr report` reads
    the store through them."""
    settings = Settings(redis_url=topology.url, config_dir=SAMPLE_CONFIG)
    ctx, registry = worker.context_from(settings, topology.url)
    stop = threading.Event()
    thread = threading.Thread(target=worker.work, args=(jobs.Runner(ctx, HANDLERS), registry, stop))
    thread.start()
    try:
        topology_wait(lambda: ctx.redis.get(Keys().worker_heartbeat()) is not None)
    finally:
        stop.set()
        thread.join(10)
        ctx.redis.close()
    args = cli.build_parser().parse_args(["report", "--from", "2026-11-23", "--format", "json"])
    out = io.StringIO()
    assert report.main(settings, args, out) == 0
    assert "queues" in json.loads(out.getvalue())


def test_a_service_name_the_sentinels_do_not_know_stops_the_worker_plainly(
    topology: Topology, tmp_path: Path
) -> None:
    """`ivr worker` on a service name the sentinels do not know exits 2 with one line
    naming REDIS_URL, instead of logging "ready" and waiting forever."""
    url = topology.url.rsplit("/", 1)[0] + "/no-such-service"
    said = worker_refused(url, tmp_path)
    assert said.startswith("ivr worker: REDIS_URL=") and "no primary" in said, said


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings) -> Settings:
    """The session store's app settings, asking for a replica it does not have (1 ms wait)."""
    return settings.with_(store_wait_replicas=1, store_wait_ms=1)


def test_a_booked_callback_and_a_survey_answer_wait_for_a_replica(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """Booking a callback, and a survey answer, each wait for a replica once (`confirm`)."""
    svc = services_of(server)
    before = marks(r)
    cb = callback.Callback(id=callback.new_id(), number="+60188888888", queue="billing")
    assert svc.run(callback.create(svc, cb)).status == "created"
    assert marks(r) == before + 1
    surveyed(tw, server)
    before = marks(r)
    (answer,) = tw.send_sms(CALLER, BUSINESS, "6 thanks")
    assert answer.body.startswith("Thank you for your feedback")
    assert marks(r) == before + 1


def marks(r: redis.Redis) -> int:
    """How many times the app has waited for a replica (`sentinel.confirm`)."""
    return int(r.get(Keys().replication_mark()) or 0)


# -- failover in the middle of calls --------------------------------------------------------


@dataclass
class Traffic:
    """New callers walking into the support queue by webhook, as fast as Twilio sends them,
    and what each webhook was answered."""

    phone: Twilio
    answers: list[tuple[float, str]] = field(default_factory=list)
    """(when, "normal" / "degraded" / "error:<status>") of every webhook, in order."""
    queued: list[str] = field(default_factory=list)
    """Callers answered with <Enqueue>: on hold, as far as they know."""
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            self.caller(f"CA{n:032d}")
            time.sleep(0.05)

    def caller(self, sid: str) -> None:
        """Dial, choose English, then support (2); stop at the first degraded answer."""
        document = self.post("/voice/incoming", call_form(sid))
        for digits in ("1", "2"):
            if document is None or "<Gather" not in document:
                return
            document = self.post(action(document), call_form(sid, Digits=digits))
        if document is not None and "<Enqueue" in document:
            self.queued.append(sid)

    def post(self, url: str, form: dict[str, str]) -> str | None:
        response = self.phone.post(url, form)
        if response.status_code != 200:
            self.answers.append((time.monotonic(), f"error:{response.status_code}"))
            return None
        degraded = heard(response.text).startswith(APOLOGY)
        self.answers.append((time.monotonic(), "degraded" if degraded else "normal"))
        return None if degraded else response.text


@pytest.fixture(name="live")
def fixture_live(
    topology: Topology, open_config_dir: Path, clock: ManualClock, tmp_path: Path
) -> Iterator[LiveServer]:
    """The app on the Sentinel-managed store, confirming its must-keep writes on 1 replica."""
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=topology.url,
        config_dir=open_config_dir,
        data_dir=tmp_path / "var",
        store_wait_replicas=1,
        store_wait_ms=100,
    )
    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


@pytest.fixture(name="consoles")
def fixture_consoles(live: LiveServer) -> Iterator[tuple[Console, Console]]:
    """Alice and Budi, logged in to their consoles."""
    alice, budi = Console(live, "agent", "alice"), Console(live, "agent", "budi")
    yield alice, budi
    alice.close()
    budi.close()


def test_a_primary_killed_mid_call_loses_no_caller(
    topology: Topology,
    live: LiveServer,
    consoles: tuple[Console, Console],
    clock: ManualClock,
    record_property: Any,
) -> None:
    """SIGKILL the primary with one caller talking to Alice, three on hold, Budi at lunch and
    new callers arriving: Sentinel promotes the replica, every webhook meanwhile gets TwiML
    (degraded, never an error), every caller told they are on hold still is, in the same
    place, the agents keep their state and their console logins, and Budi then takes the
    first caller waiting."""
    alice, budi = consoles
    confirmed_before = confirmed(topology.url)
    with Emulator(live.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock) as tw:
        tw.add_number(BUSINESS, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        wire(tw, live)
        talking = talk_to_alice(tw, alice)
        assert budi.post("/api/agent/status", {"status": "break", "reason": "lunch"}).is_success
        waiting = [joined(tw, f"+6012222222{n}") for n in range(3)]
        places_before, agents_before = places(live, waiting), agents(alice, budi)
        assert [p for p, _ in places_before] == [1, 2, 3]
        # 4 callers queued and 1 accept, each waited for a replica:
        assert confirmed(topology.url) - confirmed_before == 5

        traffic, phone = Traffic(Twilio(live.url)), Twilio(live.url)
        thread = threading.Thread(target=traffic.run)
        thread.start()
        try:
            time.sleep(0.3)  # a few callers queue on the primary, then it dies
            killed_at = time.monotonic()
            topology.kill(topology.primary())
            held = phone.post("/voice/hold", call_form(waiting[1].sid, caller=waiting[1].from_))
            switched_at = wait_for_normal_answers(traffic, killed_at)
        finally:
            traffic.stop.set()
            thread.join()
            traffic.phone.close()
            phone.close()

        kinds = [kind for when, kind in traffic.answers if when >= killed_at]
        degraded, errors = kinds.count("degraded"), [k for k in kinds if k.startswith("error")]
        lost = [sid for sid in traffic.queued if position(live, sid) is None]
        lost += [c.sid for c, _ in zip(waiting, places_before, strict=True) if c.ended]
        switch_s = round(switched_at - killed_at, 2)
        summary = f"switch {switch_s} s, {degraded} webhooks degraded, callers lost {len(lost)}"
        print(f"failover: {summary} ({len(traffic.queued)} queued by webhook)")
        record_property("failover", summary)

        assert errors == [] and degraded > 0, kinds
        assert heard(held.text) == HOLD_APOLOGY  # a waiting caller's own loop, mid-switch
        assert lost == []
        assert places(live, waiting) == places_before
        assert agents(alice, budi) == agents_before  # the console logins survived too
        tw.advance(31)  # past billing's first step (billing 4): Budi (billing 2) may take it
        assert places(live, waiting) == places_before
        assert budi.post("/api/agent/status", {"status": "available"}).is_success
        offer = budi.view()["offer"]
        assert offer is not None and offer["call"] == waiting[0].sid
        assert budi.post(f"/api/agent/offers/{offer['id']}/accept").is_success
        tw.advance(1)
        tw.device("client:budi").answer()
        waiting[0].hears("Connecting you now")
        assert not talking.ended
        tw.assert_no_errors()


def joined(tw: Emulator, number: str) -> Call:
    """A billing caller on hold, a second after the one before."""
    call = billing_caller(tw, number)
    tw.advance(1)
    return call


def talk_to_alice(tw: Emulator, alice: Console) -> Call:
    """Alice, available in her console, accepts a billing caller and is bridged."""
    assert alice.post("/api/agent/status", {"status": "available"}).is_success
    call = billing_caller(tw, "+60111111111")
    tw.advance(1)
    offer = alice.view()["offer"]
    assert alice.post(f"/api/agent/offers/{offer['id']}/accept").is_success
    tw.advance(1)
    tw.device("client:alice").answer()
    call.hears("Connecting you now")
    return call


def wait_for_normal_answers(traffic: Traffic, killed_at: float) -> float:
    """When webhooks were first answered normally after some were degraded (the switch)."""
    deadline = killed_at + SWITCH_BUDGET_S
    while time.monotonic() < deadline:
        after = [(when, kind) for when, kind in traffic.answers if when >= killed_at]
        kinds = [kind for _, kind in after]
        if "degraded" in kinds:
            last = len(kinds) - 1 - kinds[::-1].index("degraded")
            normal = [when for when, kind in after[last:] if kind == "normal"]
            if len(normal) >= 3:
                return normal[0]
        time.sleep(0.02)
    raise AssertionError(f"no normal answers {SWITCH_BUDGET_S} s after the kill")


def confirmed(url: str) -> int:
    """How many times the app has waited for a replica (`sentinel.confirm`)."""
    client = sync_client(url)
    try:
        return int(client.get(Keys().replication_mark()) or 0)
    finally:
        client.close()


def position(live: LiveServer, sid: str) -> int | None:
    svc = services_of(live)
    place = svc.run(svc.router.position(sid))
    return place.position if place else None


def places(live: LiveServer, calls: list[Call]) -> list[tuple[int | None, str]]:
    """Each call's place and queue in routing."""
    svc = services_of(live)
    found = [svc.run(svc.router.position(c.sid)) for c in calls]
    return [(p.position, p.queue) if p else (None, "") for p in found]


def agents(*consoles: Console) -> list[tuple[str, str, str]]:
    """Each agent's state, reason and call, as their console shows them."""
    views = [c.view() for c in consoles]
    return [
        (v["agent"]["state"], v["agent"].get("reason", ""), (v["call"] or {}).get("call", ""))
        for v in views
    ]


def topology_wait(done: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


# -- the asyncio client's connection limit ----------------------------------------------


@pytest.mark.parametrize(("size", "block_s", "limit"), BURSTS)
def test_a_burst_of_blocking_reads_all_succeed_on_sentinel(
    topology: Topology, size: int, block_s: float, limit: int | None
) -> None:
    """Concurrent BLPOPs on one Sentinel-managed client all succeed: past its connection limit they
    take turns for a connection instead of failing."""
    assert_burst_takes_turns(topology.url, size, block_s, limit)


def test_new_connections_opened_together_keep_every_sentinel(topology: Topology) -> None:
    """150 connections opened at once each ask the sentinels where the primary is; all
    three sentinels are still in the client's list afterwards, so they are asked after a
    failover and closed with it (redis-py's reordering dropped one, its connections open)."""

    async def asked() -> set[int]:
        client = async_client(topology.url)
        try:
            errors, _ = await burst(client, 150, 0.05)
            assert errors == []
            assert isinstance(client, sentinel.AsyncPrimary) and client.sentinels is not None
            return {id(each) for each in client.sentinels.sentinels}
        finally:
            await client.aclose()

    assert len(asyncio.run(asked())) == 3
