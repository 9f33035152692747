"""Alerting: the shipped Prometheus rules pass promtool, a live scrape passes
`promtool check metrics`, `/metrics` answers during a store outage, and `/healthz` and the
job worker's heartbeat tell a dead worker from one never started.

promtool is required, never skipped: `.ci/run` and `scripts/install --test` (as root)
install it with `scripts/install_promtool`.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from callbacks import heartbeat, jobs, worker
from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.settings import Settings
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import HANDLERS
from tests.agents import go_available
from tests.conftest import METRICS_TOKEN, ROOT, scrape
from tests.stores import Store
from tests.test_connect_e2e import billing_caller

RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "alerts_test.yml"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run promtool (it must be installed: see the module docstring)."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: run scripts/install_promtool (as root)"
    return subprocess.run(
        [tool, *args], input=stdin, capture_output=True, text=True, timeout=60, check=False
    )


def test_the_shipped_rules_pass_promtool_check_rules() -> None:
    """`promtool check rules` accepts deploy/prometheus/alerts.yml, all six rules."""
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def test_each_rule_fires_when_it_should_and_only_then() -> None:
    """`promtool test rules` runs the rules' unit tests: each alert fires on the series a
    scrape gives in trouble, and stays quiet just short of it."""
    tested = promtool("test", "rules", str(RULE_TESTS))
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_rules_name_only_series_the_service_exports(server: LiveServer) -> None:
    """Every `ivr_` series the rules query is in a live scrape (or is one absent only while
    there is nothing to report: no worker beat yet, no voicemail yet)."""
    exported = {s.name for f in text_string_to_metric_families(scrape(server)) for s in f.samples}
    exported |= {
        "ivr_worker_heartbeat_age_seconds",
        "ivr_voicemail_oldest_unhandled_timestamp_seconds",
    }
    queried = {word for word in split_words(RULES.read_text()) if word.startswith("ivr_")}
    assert queried and queried <= exported, queried - exported


def split_words(text: str) -> list[str]:
    for mark in "(){}[]=,\"'":
        text = text.replace(mark, " ")
    return text.split()


def test_a_live_scrape_passes_promtool_check_metrics(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A scrape after an answered call, with a worker beating, passes `promtool check metrics`
    with no complaint."""
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    heartbeat.beat(r, Keys(), time.time())
    checked = promtool("check", "metrics", stdin=scrape(server))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout + checked.stderr == ""
    call.hangup()


# -- a store outage -------------------------------------------------------------------------


@pytest.fixture(name="killable")
def fixture_killable(store: Store, settings: Settings, clock: ManualClock) -> Iterator[LiveServer]:
    """The app on the killable store."""
    app = create_app(settings.with_(redis_url=store.url), clock=clock, run_timers=False)
    with LiveServer(app) as server:
        yield server


def up_and_build(server: LiveServer) -> tuple[int, float, set[str]]:
    """The status of a scrape, its `ivr_store_up` value and the families it holds."""
    answer = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=15
    )
    found = {f.name: f for f in text_string_to_metric_families(answer.text)}
    (up,) = found["ivr_store_up"].samples
    return answer.status_code, up.value, set(found)


def test_metrics_answer_with_store_up_0_while_the_store_is_down(
    store: Store, killable: LiveServer
) -> None:
    """With the store killed the scrape still answers 200, with `ivr_store_up 0`, the build
    info and the process's own routing-decision timings (nothing read from the store); once
    the store is back, `ivr_store_up 1` and the queue figures return."""
    status, up, names = up_and_build(killable)
    assert (status, up) == (200, 1.0) and "ivr_queue_waiting" in names
    store.kill()
    status, up, names = up_and_build(killable)
    assert (status, up) == (200, 0.0)
    assert names == {"ivr_build_info", "ivr_store_up", "ivr_routing_decision_seconds"}
    store.start()
    status, up, names = up_and_build(killable)
    assert (status, up) == (200, 1.0) and "ivr_queue_waiting" in names


# -- the job worker's heartbeat ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("beat_ago_s", "status", "worker_state"),
    [
        pytest.param(None, "ok", "not seen", id="never-started"),
        pytest.param(3.0, "ok", "ok", id="beating"),
        pytest.param(heartbeat.STALE_AFTER_S + 30, "degraded", "down", id="silent"),
    ],
)
def test_healthz_tells_a_dead_worker_from_none(
    server: LiveServer, r: redis.Redis, beat_ago_s: float | None, status: str, worker_state: str
) -> None:
    """A worker silent past the bound makes /healthz "degraded" with the worker "down" (still
    200: the web process serves calls); a store no worker ever beat on stays "ok"."""
    if beat_ago_s is not None:
        heartbeat.beat(r, Keys(), time.time() - beat_ago_s)
    answer = httpx.get(f"{server.url}/healthz")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["status"], body["worker"]) == (status, worker_state)


def test_the_worker_loop_beats(redis_url: str, r: redis.Redis, settings: Settings) -> None:
    """A running job worker's loop writes a fresh heartbeat, kept for `KEPT_S`."""
    ctx, registry = worker.context_from(settings, redis_url)
    stop = threading.Event()
    thread = threading.Thread(target=worker.work, args=(jobs.Runner(ctx, HANDLERS), registry, stop))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while r.get(Keys().worker_heartbeat()) is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
        ctx.redis.close()
    beat = float(r.get(Keys().worker_heartbeat()) or 0)
    assert time.time() - beat < 5
    assert 0 < r.ttl(Keys().worker_heartbeat()) <= heartbeat.KEPT_S
