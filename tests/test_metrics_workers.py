"""`ivr serve --workers 2`: whichever web worker a scrape reaches, it reports the same counters,
and the job worker `ivr serve` starts beats its heartbeat (`/healthz` shows it "ok")."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.core.store import free_port
from tests.test_cli import IVR, wait_healthy

WEBHOOKS = 24
SCRAPES = 8
TOKEN = "workers-metrics-token"


@pytest.fixture(name="two_workers")
def fixture_two_workers(tmp_path: Path, open_config_dir: Path) -> Iterator[str]:
    """`ivr serve --workers 2` on its own embedded store; its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env |= {
        "IVR_DATA_DIR": str(tmp_path / "var"),
        "IVR_PORT": str(port),
        "TWILIO_AUTH_TOKEN": "workers-auth-token",
        "IVR_METRICS_TOKEN": TOKEN,
    }
    proc = subprocess.Popen(
        [*IVR, "serve", "--config", str(open_config_dir), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_healthy(f"{base}/healthz", proc)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def latency_count(base: str) -> float:
    """`ivr_webhook_latency_seconds_count` of /voice/incoming, scraped on a new connection."""
    answer = httpx.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.text
    return sum(
        s.value
        for family in text_string_to_metric_families(answer.text)
        for s in family.samples
        if s.name == "ivr_webhook_latency_seconds_count" and s.labels["path"] == "/voice/incoming"
    )


def test_scrapes_through_two_workers_agree(two_workers: str) -> None:
    """After 24 webhooks spread over two web workers (each on a new connection), every scrape,
    whichever worker answers it, counts all 24."""
    for _ in range(WEBHOOKS):  # unsigned: refused with 403, and timed all the same
        answer = httpx.post(f"{two_workers}/voice/incoming", data={"CallSid": "CA" + "1" * 32})
        assert answer.status_code == 403
    assert [latency_count(two_workers) for _ in range(SCRAPES)] == [WEBHOOKS] * SCRAPES


def test_the_job_worker_of_serve_shows_in_healthz(two_workers: str) -> None:
    """The job worker `ivr serve` starts beats within seconds, and /healthz says it is "ok"."""
    deadline = time.monotonic() + 15
    body = httpx.get(f"{two_workers}/healthz").json()
    while body["worker"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
        body = httpx.get(f"{two_workers}/healthz").json()
    assert (body["status"], body["worker"]) == ("ok", "ok")
    assert 0 <= body["worker_heartbeat_age_s"] < 10
