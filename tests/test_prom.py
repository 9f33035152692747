"""`/metrics` scrapes cleanly, honours its bearer token, and has the series alerts need."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

import ivr
from callbacks import heartbeat
from callbacks.inprocess import JobRunner
from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.web import prom, tally
from queues.agent import STATES
from queues.metrics.rollups import Totals
from tests.agents import go_available
from tests.conftest import BUSINESS, Twilio, scrape
from tests.test_connect_e2e import billing_caller
from tests.test_menu_e2e import KL
from tests.test_surveys_e2e import CALLER, handled_call


@pytest.fixture(name="guarded")
def fixture_guarded(settings: Settings, clock: ManualClock, r: object) -> Iterator[LiveServer]:
    """The app with a metrics token set."""
    app = create_app(settings.with_(metrics_token="s3cret"), clock=clock, run_timers=False)
    with LiveServer(app) as server:
        yield server


def test_scrape_parses_and_counts_an_answered_call(tw: object, server: LiveServer) -> None:
    """After one answered call the scrape parses and shows the queue, agents and FRT histogram."""
    from ivr.devtools.emulator import Emulator

    assert isinstance(tw, Emulator)
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    body = scrape(server)
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert {"ivr_queue_waiting", "ivr_agents", "ivr_frt_seconds", "ivr_wait_seconds"} <= set(
        families
    )
    frt_count = [s for s in families["ivr_frt_seconds"].samples if s.name.endswith("_count")]
    assert {s.labels["queue"]: s.value for s in frt_count}["billing"] == 1
    agents = {s.labels["state"]: s.value for s in families["ivr_agents"].samples}
    assert agents["on_call"] == 1
    call.hangup()


def samples(server: LiveServer, name: str) -> dict[tuple[str, ...], float]:
    """One sample name's values in a fresh scrape, by its label values in label-name order."""
    return {
        tuple(value for _, value in sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(scrape(server))
        for s in family.samples
        if s.name == name
    }


def test_every_agent_state_and_queue_is_there_at_zero(server: LiveServer) -> None:
    """With nobody logged in and no call yet, every agent state and every configured queue
    has its series at 0, so `ivr_agents{state="available"} == 0` can fire."""
    config = server.app.state.services.registry.current
    agents = samples(server, "ivr_agents")
    everyone = float(len(config.agents))
    assert agents == {(state,): (everyone if state == "offline" else 0.0) for state in STATES}
    queues = set(config.queues)
    for name in (
        "ivr_queue_waiting",
        "ivr_queue_oldest_wait_seconds",
        "ivr_queue_service_level_within_total",
        "ivr_queue_service_level_eligible_total",
    ):
        assert samples(server, name) == {(q,): 0.0 for q in queues}, name


def test_service_level_counters_are_the_one_definition(
    tw: Emulator, server: LiveServer, r: object
) -> None:
    """After an answered call, the counter pair is (within, eligible) of the queue's all-time
    rollup, and their ratio is its `Totals.service_level()`."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    within = samples(server, "ivr_queue_service_level_within_total")[("billing",)]
    eligible = samples(server, "ivr_queue_service_level_eligible_total")[("billing",)]
    totals = Totals()
    assert isinstance(r, redis.Redis)
    stored = r.hgetall(Keys().metrics_rollup("t", "q:billing", 0))
    totals.merge({str(k): str(v) for k, v in stored.items()})
    assert (within, eligible) == totals.service_level_terms() == (1, 1)
    assert within / eligible == totals.service_level()
    call.hangup()


def test_build_info_names_the_release(server: LiveServer) -> None:
    """`ivr_build_info` is 1, labelled with the Python running it and the package version."""
    assert samples(server, "ivr_build_info") == {(platform.python_version(), ivr.__version__): 1.0}


def test_a_voicemail_shows_as_unhandled(
    tw: Emulator, clock: ManualClock, server: LiveServer
) -> None:
    """A voicemail left on a closed Sunday counts as unhandled, with the time it was left."""
    assert samples(server, "ivr_voicemails_unhandled") == {(): 0.0}
    assert samples(server, "ivr_voicemail_oldest_unhandled_timestamp_seconds") == {}
    clock.set(datetime(2026, 11, 29, 11, 0, tzinfo=KL))
    left_at = clock.now()
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("2")
    call.hears("Sila tinggalkan pesanan anda")
    call.press("#")
    tw.run_until_idle()
    assert samples(server, "ivr_voicemails_unhandled") == {(): 1.0}
    (oldest,) = samples(server, "ivr_voicemail_oldest_unhandled_timestamp_seconds").values()
    assert left_at <= oldest <= clock.now()


def test_the_worker_heartbeat_age_is_scraped(server: LiveServer, r: object) -> None:
    """No series before any worker beat; after a beat 90 s ago, an age of about 90 s."""
    assert samples(server, "ivr_worker_heartbeat_age_seconds") == {}
    assert isinstance(r, redis.Redis)
    heartbeat.beat(r, Keys(), time.time() - 90)
    (age,) = samples(server, "ivr_worker_heartbeat_age_seconds").values()
    assert 90 <= age < 100


def test_a_handled_calls_survey_send_is_scraped(
    tw: Emulator, server: LiveServer, job_runner: JobRunner
) -> None:
    """The survey SMS the job sends shows up as a counter in the web process's scrape."""
    handled_call(tw, server)
    assert sends(server) == {}
    tw.advance(125)
    assert len(tw.sms_to(CALLER)) == 1
    assert sends(server) == {("billing", "en"): 1.0}


def sends(server: LiveServer) -> dict[tuple[str, str], float]:
    body = scrape(server)
    return {
        (s.labels["queue"], s.labels["language"]): s.value
        for family in text_string_to_metric_families(body)
        if family.name == "ivr_survey_sends"
        for s in family.samples
        if s.name == "ivr_survey_sends_total"
    }


def test_metrics_are_closed_when_no_token_is_set(settings: Settings, clock: ManualClock) -> None:
    """With no IVR_METRICS_TOKEN, `/metrics` answers 401 (saying what to set), never the
    figures: the port faces the internet."""
    app = create_app(settings.with_(metrics_token=None), clock=clock, run_timers=False)
    with LiveServer(app) as server:
        answer = httpx.get(f"{server.url}/metrics")
    assert answer.status_code == 401
    assert "IVR_METRICS_TOKEN" in answer.text


def test_the_token_is_enforced(guarded: LiveServer) -> None:
    """Without the bearer token the scrape is refused; with it, it parses."""
    assert httpx.get(f"{guarded.url}/metrics").status_code == 401
    bad = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    ok = httpx.get(f"{guarded.url}/metrics", headers={"Authorization": "Bearer s3cret"})
    assert ok.status_code == 200
    assert list(text_string_to_metric_families(ok.text))


@pytest.mark.anyio
async def test_latency_middleware_times_webhooks() -> None:
    """The middleware observes webhook latency and counts 5xx answers (held in the process's
    tally while there is no store to add them to)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def boom(request: object) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=503)

    counts = tally.Tally()
    app = Starlette(
        routes=[Route("/voice/boom", boom)],
        middleware=[Middleware(prom.LatencyMiddleware, counts=counts)],
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/voice/boom")).status_code == 503
    added = counts.pending
    assert added["errors|/voice/boom"] == 1 and added["count|/voice/boom"] == 1
    assert sum(n for name, n in added.items() if name.startswith("le|/voice/boom|")) == 1


def test_webhook_latency_and_errors_are_counted_in_the_store(
    twilio: Twilio, server: LiveServer
) -> None:
    """Each webhook's latency lands in the store's tally, so the scrape counts all of them."""
    for _ in range(3):
        twilio.post("/voice/incoming", {"CallSid": "CA" + "9" * 32}, sign=False)
    assert samples(server, "ivr_webhook_latency_seconds_count") == {("/voice/incoming",): 3.0}
    buckets = samples(server, "ivr_webhook_latency_seconds_bucket")
    assert buckets[("+Inf", "/voice/incoming")] == 3.0


@pytest.fixture(name="anyio_backend")
def fixture_anyio_backend() -> str:
    """Async tests here run on asyncio."""
    return "asyncio"
