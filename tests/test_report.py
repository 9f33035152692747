"""`ivr report` prints the folded figures, staffing advice and detail records."""

from __future__ import annotations

import io
import json

import pytest
import redis

from ivr import cli, report
from ivr.settings import Settings
from tests.conftest import SAMPLE_CONFIG
from tests.test_metrics_script import T0, S, Script


@pytest.fixture(name="morning")
def fixture_morning(r: redis.Redis, redis_url: str) -> Script:
    """60 billing calls in the 10:00 hour (60 s talk, 20 s wait each), alice staffed all hour."""
    s = Script(r, redis_url)
    s.event("AGENTSTATUS", T0, agent="alice", reason="available")
    for i in range(60):
        s.session(f"CA{i}", f"+6019{i:07d}", T0 + i * 60 * S)
        s.answered(f"CA{i}", "billing", "alice", T0 + i * 60 * S, 20 * S, 30 * S)
    s.event("AGENTSTATUS", T0 + 3600 * S, agent="alice", reason="offline")
    s.fold()
    return s


def run(redis_url: str, *argv: str) -> str:
    args = cli.build_parser().parse_args(["report", "--from", "2026-11-23", *argv])
    out = io.StringIO()
    settings = Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG)
    assert report.main(settings, args, out) == 0
    return out.getvalue()


def test_json_report_has_the_queue_figures(morning: Script, redis_url: str) -> None:
    """The JSON report shows 60 answered, ASA 20 s, SL 100 % and AHT 30 s for billing."""
    doc = json.loads(run(redis_url, "--format", "json", "--queue", "billing"))
    billing = doc["queues"]["billing"]
    assert (billing["answered"], billing["asa_s"], billing["service_level"]) == (60, 20.0, 1.0)
    assert billing["aht_s"] == 30.0
    assert doc["agents"]["alice"]["handled"] == 60


def test_staffing_advice_from_measured_load(morning: Script, redis_url: str) -> None:
    """60 calls/h × 30 s = 0.5 Erlang: 2 agents reach 80 % in 20 s; alice alone was staffed."""
    text = run(redis_url, "--staffing", "--queue", "billing")
    assert (
        "billing: to reach 80% in 20 s between 10:00 and 11:00 you need 2 agents; you had 1" in text
    )


def test_table_and_csv_formats(morning: Script, redis_url: str) -> None:
    """The table lists figures by queue; the CSV has one row per figure."""
    table = run(redis_url)
    assert "service_level" in table and "100.0%" in table
    rows = run(redis_url, "--format", "csv").splitlines()
    assert rows[0] == "kind,name,figure,value"
    assert "queue,billing,answered,60" in rows


@pytest.mark.parametrize("fmt", [pytest.param("csv", id="csv"), pytest.param("jsonl", id="jsonl")])
def test_export_detail_records(morning: Script, redis_url: str, fmt: str) -> None:
    """The export has one record per contact, with FRT and talk time."""
    text = run(redis_url, "--export", fmt)
    lines = text.splitlines()
    if fmt == "jsonl":
        first = json.loads(lines[0])
        assert (first["call"], first["frt_s"], first["talk_s"], first["outcome"]) == (
            "CA0",
            20.0,
            30.0,
            "answered",
        )
        assert len(lines) == 60
    else:
        assert lines[0].startswith("call,caller,started_at,queue,agent")
        assert len(lines) == 61
