"""`ivr report` prints the folded figures, staffing advice and detail records."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from ivr import cli
from ivr.config.loader import load
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.web import report
from tests.conftest import SAMPLE_CONFIG
from tests.test_metrics_script import DAY, T0, S, Script

NOON = datetime(2026, 11, 23, 12, 0, tzinfo=ZoneInfo("Asia/Kuala_Lumpur"))


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


def run(redis_url: str, *argv: str, config_dir: Path = SAMPLE_CONFIG) -> str:
    args = cli.build_parser().parse_args(["report", "--from", "2026-11-23", *argv])
    out = io.StringIO()
    settings = Settings(redis_url=redis_url, config_dir=config_dir)
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


def test_a_day_report_lists_its_hours(morning: Script, redis_url: str) -> None:
    """One day: the table has a row for the 10:00 hour; the CSV has its figures as `hour` rows."""
    table = run(redis_url, "--to", "2026-11-23", "--queue", "billing").splitlines()
    header = table.index(next(line for line in table if line.startswith("hour ")))
    assert table[header + 1].split()[:3] == ["10:00", "60", "60"]  # queued, answered
    rows = run(redis_url, "--to", "2026-11-23", "--format", "csv").splitlines()
    assert "hour,10:00,answered,60" in rows


def test_a_multi_day_report_lists_dated_hours_in_order(morning: Script, redis_url: str) -> None:
    """Over two days the same hour of each day is its own dated row, never their sum."""
    morning.session("CN1", "+60190000001", T0 + DAY)
    morning.answered("CN1", "billing", "alice", T0 + DAY, 5 * S, 30 * S)
    morning.fold()
    doc = json.loads(run(redis_url, "--to", "2026-11-24", "--format", "json"))
    got = [(r["label"], r["answered"]) for r in doc["intervals"]["rows"]]
    assert (doc["intervals"]["by"], got) == (
        "hour",
        [("2026-11-23 10:00", 60), ("2026-11-24 10:00", 1)],
    )
    rows = run(redis_url, "--to", "2026-11-24", "--format", "csv").splitlines()
    assert "hour,2026-11-24 10:00,answered,1" in rows
    assert "2026-11-24 10:00" in run(redis_url, "--to", "2026-11-24")


def test_a_half_hour_zone_reports_local_hours(
    r: redis.Redis, redis_url: str, config_dir: Path
) -> None:
    """In Kolkata, calls at 09:20 and 09:40 local make one 09:00 row (SL 50 %, ASA 20 s)."""
    business = config_dir / "business.yaml"
    text = business.read_text().replace(
        "  timezone: Asia/Kuala_Lumpur", "  timezone: Asia/Kolkata", 1
    )
    business.write_text(text)
    script = Script(r, redis_url, load(config_dir))
    nine = int(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp() * 1000)
    for sid, minute, wait_s in (("CK1", 20, 10), ("CK2", 40, 30), ("CK3", 70, 5)):
        script.answered(sid, "billing", "alice", nine + minute * 60 * S, wait_s * S, 60 * S)
    script.fold()
    doc = json.loads(
        run(redis_url, "--to", "2026-11-23", "--format", "json", config_dir=config_dir)
    )
    got = [
        (r["label"], r["queued"], r["service_level"], r["asa_s"]) for r in doc["intervals"]["rows"]
    ]
    assert got == [("09:00", 2, 0.5, 20.0), ("10:00", 1, 1.0, 5.0)]
    assert doc["from"] == "2026-11-23T00:00:00+05:30"


def run_at(redis_url: str, now: datetime, *argv: str) -> tuple[int, str, str]:
    """`ivr report argv` with the clock at `now`: (exit status, stdout, stderr)."""
    args = cli.build_parser().parse_args(["report", *argv])
    out, err = io.StringIO(), io.StringIO()
    settings = Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG)
    with contextlib.redirect_stderr(err):
        status = report.main(settings, args, out, ManualClock(now))
    return status, out.getvalue(), err.getvalue()


FIVE_MINUTES = ("--from", "2026-11-23T10:50", "--to", "2026-11-23T10:55", "--format", "json")
"""Issue 15, finding 6: this window reported all of 10:00–11:00."""


def test_a_sub_hour_window_is_respected(morning: Script, redis_url: str) -> None:
    """10:50–10:55 holds 5 of the hour's 60 calls: 5 queued, answered and handled, alice
    available those 300 s; its one row starts at 10:50."""
    status, text, _ = run_at(redis_url, NOON, *FIVE_MINUTES)
    assert status == 0
    doc = json.loads(text)
    billing, alice = doc["queues"]["billing"], doc["agents"]["alice"]
    assert (billing["queued"], billing["answered"], billing["handled"]) == (5, 5, 5)
    assert (alice["handled"], alice["available_s"]) == (5, 300.0)
    rows = [(r["label"], r["queued"], r["answered"]) for r in doc["intervals"]["rows"]]
    assert rows == [("10:50", 5, 5)]
    assert (doc["from"], doc["to"]) == ("2026-11-23T10:50:00+08:00", "2026-11-23T10:55:00+08:00")


def test_a_window_across_an_hour_adds_its_parts(morning: Script, redis_url: str) -> None:
    """09:30–10:10 is the idle 09:30 part and 10:00–10:10: 10 calls, one row."""
    status, text, _ = run_at(
        redis_url,
        NOON,
        "--from",
        "2026-11-23T09:30",
        "--to",
        "2026-11-23T10:10",
        "--format",
        "json",
    )
    doc = json.loads(text)
    assert (status, doc["queues"]["billing"]["queued"]) == (0, 10)
    assert [(r["label"], r["answered"]) for r in doc["intervals"]["rows"]] == [("10:00", 10)]


@pytest.mark.parametrize(
    ("now", "argv", "said"),
    [
        pytest.param(
            NOON + timedelta(days=3),
            FIVE_MINUTES,
            "inside an hour is read from minute rollups, kept 2 days",
            id="minutes-expired",
        ),
        pytest.param(
            NOON,
            ("--from", "2026-11-23T10:50:30", "--to", "2026-11-23T10:55"),
            "whole minutes",
            id="seconds",
        ),
    ],
)
def test_a_window_that_cannot_be_respected_is_refused(
    morning: Script, redis_url: str, now: datetime, argv: tuple[str, ...], said: str
) -> None:
    """A sub-hour window older than the minute rollups, or cut inside a minute, is refused
    with a reason, never widened to whole hours."""
    status, text, err = run_at(redis_url, now, *argv)
    assert (status, text) == (2, "")
    assert said in err


def test_today_is_a_whole_day_whatever_the_clock_s_fraction(
    morning: Script, redis_url: str
) -> None:
    """With no --from, the report is today from local midnight, even on a clock mid-second."""
    status, text, err = run_at(redis_url, NOON + timedelta(seconds=0.25), "--format", "json")
    assert (status, err) == (0, "")
    assert json.loads(text)["queues"]["billing"]["answered"] == 60
