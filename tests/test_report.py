"""`ivr report` prints the folded figures, staffing advice and detail records."""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import redis

from ivr import cli
from ivr.config.loader import load
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings, Workspace
from ivr.web import report
from queues.metrics import erlang_a
from tests.conftest import OPEN_TIME, SAMPLE_CONFIG
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


def test_staffing_for_the_hour_in_progress_scales_to_an_hourly_rate(
    r: redis.Redis, redis_url: str
) -> None:
    """At 10:15, 100 calls since 10:00 are 400 calls/h: 27 agents at AHT 200 s, not 100/h's 9.

    Alice and Budi, billing's agents, have been available since 10:00 and still are.
    """
    s = Script(r, redis_url)
    for agent in ("alice", "budi"):
        s.event("AGENTSTATUS", T0, agent=agent, reason="available")
    for i in range(100):
        s.session(f"CQ{i}", f"+6019{i:07d}", T0 + i * 6 * S)
        s.answered(f"CQ{i}", "billing", "alice", T0 + i * 6 * S, 0, 200 * S)
    s.fold()
    args = cli.build_parser().parse_args(
        ["report", "--staffing", "--queue", "billing", "--format", "json"]
    )
    out = io.StringIO()
    clock = ManualClock(OPEN_TIME + timedelta(minutes=15))
    assert (
        report.main(Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG), args, out, clock) == 0
    )
    (row,) = json.loads(out.getvalue())["staffing"]
    assert (row["interval"], row["arrivals_per_hour"], row["needed"], row["had"]) == (
        "10:00 and 10:15",
        400.0,
        27,
        2.0,
    )


def test_staffed_agents_are_counted_over_the_window_not_the_hour(
    r: redis.Redis, redis_url: str
) -> None:
    """Alice and Budi were in from 10:00 to 10:20; at 10:50 a 10:00-10:05 report says they
    had 2 agents then, not the 0.8 they averaged over the 50 minutes of the hour so far."""
    s = Script(r, redis_url)
    for agent in ("alice", "budi"):
        s.event("AGENTSTATUS", T0, agent=agent, reason="available")
        s.event("AGENTSTATUS", T0 + 1200 * S, agent=agent, reason="offline")
    for i in range(10):
        s.session(f"CW{i}", f"+6019{i:07d}", T0 + i * 30 * S)
        s.answered(f"CW{i}", "billing", "alice", T0 + i * 30 * S, 0, 100 * S)
    s.fold()
    now = OPEN_TIME + timedelta(minutes=50)
    argv = ("--from", "2026-11-23T10:00", "--to", "2026-11-23T10:05", "--staffing")
    status, text, _ = run_at(redis_url, now, *argv, "--queue", "billing", "--format", "json")
    assert status == 0
    (row,) = json.loads(text)["staffing"]
    assert (row["interval"], row["had"]) == ("10:00 and 10:05", 2.0)


def test_a_break_whose_reason_changes_is_counted_once(r: redis.Redis, redis_url: str) -> None:
    """Alice goes on break at 10:10 (lunch), changes the reason at 10:20 (meeting) and is
    back at 10:30: 20 minutes of break, not 30 (the first 10 counted twice)."""
    s = Script(r, redis_url)
    s.event("AGENTSTATUS", T0, agent="alice", reason="available")
    s.event("AGENTSTATUS", T0 + 600 * S, agent="alice", reason="break:lunch")
    s.event("AGENTSTATUS", T0 + 1200 * S, agent="alice", reason="break:meeting")
    s.event("AGENTSTATUS", T0 + 1800 * S, agent="alice", reason="available")
    s.event("AGENTSTATUS", T0 + 3600 * S, agent="alice", reason="offline")
    s.fold()
    status, text, _ = run_at(redis_url, NOON, "--format", "json", "--from", "2026-11-23")
    assert status == 0
    alice = json.loads(text)["agents"]["alice"]
    assert (alice["break_s"], alice["available_s"]) == (1200.0, 2400.0)


def test_staffing_over_part_of_an_hour_is_a_rate_over_that_part(
    r: redis.Redis, redis_url: str
) -> None:
    """--from 10:00 --to 10:15 holds 100 of the hour's 130 calls: 400 calls/h, not 130."""
    s = Script(r, redis_url)
    for i in range(130):
        at = T0 + (i * 6 if i < 100 else 1800 + i * 6) * S
        s.session(f"CP{i}", f"+6019{i:07d}", at)
        s.answered(f"CP{i}", "billing", "alice", at, 0, 200 * S)
    s.fold()
    argv = ["report", "--from", "2026-11-23T10:00", "--to", "2026-11-23T10:15"]
    args = cli.build_parser().parse_args(
        [*argv, "--staffing", "--queue", "billing", "--format", "json"]
    )
    out = io.StringIO()
    clock = ManualClock(OPEN_TIME + timedelta(hours=2))
    assert (
        report.main(Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG), args, out, clock) == 0
    )
    (row,) = json.loads(out.getvalue())["staffing"]
    assert (row["interval"], row["arrivals_per_hour"], row["needed"]) == (
        "10:00 and 10:15",
        400.0,
        27,
    )


def test_staffing_offers_erlang_a_from_measured_patience(r: redis.Redis, redis_url: str) -> None:
    """80 answered after 20 s and 20 who gave up after 60 s: patience (1600 + 1200) / 20 = 140 s.

    100 calls/h at AHT 180 s: Erlang C needs 8 agents for 80 % in 20 s; Erlang A, with
    callers giving up, needs fewer, and the advice says why.
    """
    s = Script(r, redis_url)
    for i in range(100):
        at = T0 + i * 36 * S
        s.session(f"CG{i}", f"+6019{i:07d}", at)
        if i % 5:
            s.answered(f"CG{i}", "billing", "alice", at, 20 * S, 180 * S)
        else:
            s.event("ENTERQUEUE", at, call=f"CG{i}", queue="billing", language="en", position=1)
            s.event("ABANDON", at + 60 * S, call=f"CG{i}", queue="billing", wait_ms=60 * S)
    s.fold()
    (row,) = json.loads(run(redis_url, "--staffing", "--queue", "billing", "--format", "json"))[
        "staffing"
    ]
    needed = erlang_a.agents_needed(100, 180, 140, 0.8, 20)
    assert (row["patience_s"], row["needed"], row["needed_erlang_a"]) == (140.0, 8, needed)
    assert needed < 8
    text = run(redis_url, "--staffing", "--queue", "billing")
    assert (
        f"billing: with callers giving up after 140 s on average (measured), Erlang A needs "
        f"{needed} agents to reach 80% in 20 s between 10:00 and 11:00, not Erlang C's 8" in text
    )


def test_staffing_without_abandons_gives_erlang_c_alone(morning: Script, redis_url: str) -> None:
    """No caller gave up: no patience to measure, so no Erlang A advice."""
    (row,) = json.loads(run(redis_url, "--staffing", "--queue", "billing", "--format", "json"))[
        "staffing"
    ]
    assert "needed_erlang_a" not in row and "patience_s" not in row


def test_a_short_abandon_alone_measures_no_patience(r: redis.Redis, redis_url: str) -> None:
    """A caller who hung up after 3 s (a short abandon: a misdial, not giving up) is no
    abandon to measure patience from: Erlang C's advice stands alone."""
    s = Script(r, redis_url)
    for i in range(10):
        s.session(f"CS{i}", f"+6019{i:07d}", T0 + i * 60 * S)
        s.answered(f"CS{i}", "billing", "alice", T0 + i * 60 * S, 20 * S, 180 * S)
    s.event("ENTERQUEUE", T0, call="CS-short", queue="billing", language="en", position=1)
    s.event("ABANDON", T0 + 3 * S, call="CS-short", queue="billing", wait_ms=3 * S)
    s.fold()
    doc = json.loads(run(redis_url, "--staffing", "--queue", "billing", "--format", "json"))
    assert doc["queues"]["billing"]["abandoned"] == 0
    (row,) = doc["staffing"]
    assert "patience_s" not in row and "needed_erlang_a" not in row


def test_part_of_an_hour_past_the_minute_rollups_is_refused_with_staffing(
    morning: Script, redis_url: str
) -> None:
    """Three days on, 10:00–10:15 has no minute rollups left: the report, staffing included,
    is refused with the reason rather than advising on the whole 10:00 hour."""
    now = OPEN_TIME + timedelta(days=3)
    argv = ("--from", "2026-11-23T10:00", "--to", "2026-11-23T10:15", "--staffing")
    status, text, err = run_at(redis_url, now, *argv, "--queue", "billing", "--format", "json")
    assert (status, text) == (2, "")
    assert "minute rollups, kept 2 days" in err


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


def test_a_report_reads_the_workspace_named(
    morning: Script, redis_url: str, tmp_path: Path
) -> None:
    """With several workspaces, `--workspace` reads that workspace's keys and config: main
    holds the morning's 60 calls, north none; naming none or an unknown one is refused,
    naming the ids."""
    north = tmp_path / "north"
    shutil.copytree(SAMPLE_CONFIG, north)
    spaces = (Workspace("main", SAMPLE_CONFIG), Workspace("north", north))
    settings = Settings(redis_url=redis_url, workspaces=spaces)
    answered = {}
    for name in ("main", "north"):
        argv = ["report", "--from", "2026-11-23", "--format", "json", "--workspace", name]
        out = io.StringIO()
        assert report.main(settings, cli.build_parser().parse_args(argv), out) == 0
        answered[name] = json.loads(out.getvalue())["queues"]["billing"]["answered"]
    assert answered == {"main": 60, "north": 0}
    for extra, said in (
        ([], "choose one with --workspace (main, north)"),
        (["--workspace", "south"], "no workspace 'south' in IVR_WORKSPACES (main, north)"),
    ):
        args = cli.build_parser().parse_args(["report", "--from", "2026-11-23", *extra])
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            assert report.main(settings, args, io.StringIO()) == 2
        assert said in err.getvalue()
