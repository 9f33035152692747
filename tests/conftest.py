"""Shared fixtures: one real Valkey server for the session, flushed around each test.

With `REDIS_URL` set the tests use that server instead (its database is flushed:
never point it at data you care about).
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis
import structlog
import yaml
from twilio.request_validator import RequestValidator

from callbacks.inprocess import JobRunner
from ivr import background
from ivr.core import logs
from ivr.core.clock import ManualClock
from ivr.core.outage import Outage
from ivr.core.settings import Settings
from ivr.core.store import STORE_ERRORS, EmbeddedStore, sync_client
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import HANDLERS
from ivr.service import Services
from ivr.voice import offers
from tests.consoles import Console
from tests.stores import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONFIG = ROOT / "config"


@pytest.fixture(name="redis_url", scope="session")
def fixture_redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URL of a real Valkey/Redis server for the whole test session."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    embedded = EmbeddedStore(tmp_path_factory.mktemp("store"))
    url = embedded.start()
    yield url
    embedded.stop()


@pytest.fixture(name="r")
def fixture_r(redis_url: str) -> Iterator[redis.Redis]:
    """A blocking client on a freshly flushed database."""
    client = sync_client(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(name="sample_config_dir")
def fixture_sample_config_dir() -> Path:
    """The sample configuration shipped in `config/`."""
    return SAMPLE_CONFIG


# -- the web app, served for real ------------------------------------------------

AUTH_TOKEN = "test-auth-token"
METRICS_TOKEN = "test-metrics-token"
"""The bearer token `/metrics` asks of the test apps' scrapes (`scrape`)."""
PUBLIC_BASE = "https://ivr.example.com"
BUSINESS = "+60312345678"
OPEN_TIME = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Kuala_Lumpur"))
"""A Monday morning, when the sample business is open."""


class Twilio:
    """Posts webhooks to the live app signed exactly as Twilio signs them."""

    def __init__(self, base_url: str, token: str = AUTH_TOKEN) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.validator = RequestValidator(token)

    def post(self, url: str, form: dict[str, str], sign: bool = True) -> httpx.Response:
        path = url.removeprefix(PUBLIC_BASE)
        headers = {}
        if sign:
            signature = self.validator.compute_signature(PUBLIC_BASE + path, form)
            headers["X-Twilio-Signature"] = signature
        return self.http.post(path, data=form, headers=headers)

    def close(self) -> None:
        self.http.close()


@pytest.fixture(name="clock")
def fixture_clock() -> ManualClock:
    """A controlled clock starting on a Monday at 10:00 in Kuala Lumpur."""
    return ManualClock(OPEN_TIME)


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """A private copy of the sample config that a test may edit."""
    target = tmp_path / "config"
    shutil.copytree(SAMPLE_CONFIG, target)
    return target


ALL_DAY = ["00:00-24:00"]
WEEK = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@pytest.fixture(name="open_config_dir")
def fixture_open_config_dir(config_dir: Path) -> Path:
    """The sample config open round the clock, every day. For tests that run the service
    on the wall clock (`ivr call`, `ivr serve` subprocesses), so the time of day a test
    runs at cannot send its caller to the after-hours message."""
    path = config_dir / "business.yaml"
    doc = yaml.safe_load(path.read_text())
    for hours in doc["hours"].values():
        hours.update(weekly=dict.fromkeys(WEEK, ALL_DAY), holidays=[], special={})
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    return config_dir


@pytest.fixture(name="settings")
def fixture_settings(redis_url: str, config_dir: Path, tmp_path: Path) -> Settings:
    """Settings for an app on the test store, signing with a known token."""
    return Settings(
        twilio_auth_token=AUTH_TOKEN,
        metrics_token=METRICS_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=redis_url,
        config_dir=config_dir,
        data_dir=tmp_path / "var",
        reload_interval_s=0.05,
    )


@pytest.fixture(name="server")
def fixture_server(settings: Settings, clock: ManualClock, r: redis.Redis) -> Iterator[LiveServer]:
    """The real app on a real uvicorn server, on a flushed store."""
    from ivr.app import create_app  # imported here so module-level tests never need the app

    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


@pytest.fixture(name="twilio")
def fixture_twilio(server: LiveServer) -> Iterator[Twilio]:
    """A client that signs its webhooks like Twilio."""
    client = Twilio(server.url)
    yield client
    client.close()


@pytest.fixture(name="tw")
def fixture_tw(server: LiveServer, clock: ManualClock) -> Iterator[Emulator]:
    """A fresh Twilio emulator in front of the live app, with the business number set up."""
    with Emulator(
        server.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock
    ) as emulator:
        emulator.add_number(
            BUSINESS,
            voice_url="/voice/incoming",
            voice_status_callback="/voice/status",
            sms_url="/sms/incoming",
        )
        wire(emulator, server)
        yield emulator


async def tick_unless_store_down(svc: Services, outage: Outage) -> None:
    """The app's timers, as its loop runs them: a store outage pauses them (any other error
    fails the test)."""
    try:
        await background.tick(svc)
    except STORE_ERRORS as exc:
        outage.down(exc)


def wire(tw: Emulator, server: LiveServer) -> None:
    """Put the emulator in front of the app: its REST transport, the app's timers on the
    emulator's clock, and the app's rings under way landing before time moves on."""
    svc = server.app.state.services
    svc.twilio_http_client = tw.http_client()
    outage = Outage("emulator clock")
    tw.on_tick(lambda now: svc.run(tick_unless_store_down(svc, outage)))
    tw.on_settle(offers.settle_hook(svc))  # rings start off the webhook path


# -- scheduled jobs and surveys (callbacks/) ------------------------------------------


@pytest.fixture(name="job_runner")
def fixture_job_runner(server: LiveServer, tw: Emulator, redis_url: str) -> Iterator[JobRunner]:
    """Scheduled jobs run from the emulator's clock hook, in this process, through rq."""
    svc = server.app.state.services
    runner = JobRunner(svc, redis_url, tw.http_client(), HANDLERS)

    def run_due(now: float) -> None:
        runner.run()

    tw.on_tick(run_due)
    yield runner
    runner.close()


@pytest.fixture(name="jobs")
def fixture_jobs(
    server: LiveServer, tw: Emulator, clock: ManualClock, redis_url: str
) -> Iterator[Any]:
    """Callback jobs, run when a test says so (`jobs.run_due()`), remembering which ran."""
    from tests.callbacks_helpers import JobRunner as CallbackJobs  # it imports this module

    runner = CallbackJobs(server, tw, clock, redis_url)
    yield runner
    runner.close()


# -- consoles, logged in through the API ----------------------------------------------
@pytest.fixture(name="alice")
def fixture_alice(server: LiveServer) -> Iterator[Console]:
    """Alice, logged in to the console through the API."""
    console = Console(server, "agent", "alice")
    yield console
    console.close()


@pytest.fixture(name="sam")
def fixture_sam(server: LiveServer) -> Iterator[Console]:
    """Sam the supervisor, logged in through the API."""
    console = Console(server, "supervisor", "sam")
    yield console
    console.close()


def scrape(server: LiveServer) -> str:
    """`/metrics` as Prometheus scrapes it, with the bearer token."""
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    response = httpx.get(f"{server.url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    return response.text


# -- logging, configured as `ivr` configures it -----------------------------------------


@pytest.fixture(name="configured")
def fixture_configured() -> Iterator[Callable[..., None]]:
    """`logs.configure` for one test (to stderr, which capsys reads); the logging set-up
    before it is put back after."""
    root = logging.getLogger()
    handlers, level, config = root.handlers[:], root.level, structlog.get_config()
    yield lambda json, process="": logs.configure(json=json, process=process)
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.configure(**config)


@pytest.fixture(name="store")
def fixture_store(tmp_path: Path) -> Iterator[Store]:
    """A Valkey of this test's own, which it can kill, hang and start again."""
    store = Store(tmp_path / "valkey")
    store.start()
    yield store
    store.stop()
