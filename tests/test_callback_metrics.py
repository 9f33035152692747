"""Callbacks are their own contact type: inbound service level, ASA and abandonment leave them
out, and they have their own answer times and completion rate (issue 15, finding 7).

The repro: one keep-my-place callback answered with an 81 s virtual wait pulled billing's
service level to 50 %, while the only caller actually on the line waited 1 s.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from ivr import cli
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.liveserver import LiveServer
from ivr.web import report
from tests.conftest import SAMPLE_CONFIG, scrape
from tests.consoles import Console
from tests.test_metrics_script import KEYS, T0, S, Script

DAY = "2026-11-23"


def keep_my_place(s: Script, sid: str, cb: str, at: int, promised_s: int) -> None:
    """`sid` joins billing at `at`, asks after 20 s to be called back within `promised_s`."""
    s.session(sid, "+60111111111", at - 10 * S)
    s.event("ENTERQUEUE", at, call=sid, queue="billing", language="en", position=1)
    asked = at + 20 * S
    s.r.hset(
        KEYS.callback(cb),
        mapping={
            "call": sid,
            "queue": "billing",
            "kind": "keep",
            "created_ms": str(asked),
            "due": str((asked + promised_s * S) / 1000),
        },
    )
    s.event(
        "CALLBACK", asked, call=sid, callback=cb, queue="billing", wait_ms=20 * S, language="en"
    )
    s.event("CALLBACKREQUEST", asked, callback=cb, call=sid, queue="billing", reason="keep")


def called_back(s: Script, sid: str, cb: str, accepted: int, reached: int, done: int) -> None:
    """Alice accepts the callback's entry (its wait runs from the caller's enqueue), the
    customer answers at `reached`, and they talk until `done`."""
    s.event(
        "CONNECT",
        accepted,
        call=cb,
        queue="billing",
        agent="alice",
        wait_ms=accepted - T0,
        original_wait_ms=accepted - T0,
    )
    s.event(
        "CALLBACKCONNECT",
        reached,
        call=sid,
        callback=cb,
        queue="billing",
        agent="alice",
        original_wait_ms=reached - T0,
        frt_ms=reached - T0 + 10 * S,
    )
    s.event("COMPLETEAGENT", done, call=cb, queue="billing", agent="alice", talk_ms=done - reached)


@pytest.fixture(name="repro")
def fixture_repro(r: redis.Redis, redis_url: str) -> Script:
    """The finding: CA1 waits 20 s and takes a callback promised within 60 s (at T0+80 s);
    CA2 is answered after 1 s; the callback's entry is accepted at T0+81 s (a virtual wait
    of 81 s) and the customer is on at T0+90 s."""
    s = Script(r, redis_url)
    keep_my_place(s, "CA1", "CB1", T0, 60)
    s.session("CA2", "+60122222222", T0 + 50 * S)
    s.answered("CA2", "billing", "alice", T0 + 60 * S, 1 * S, 10 * S)
    called_back(s, "CA1", "CB1", T0 + 81 * S, T0 + 90 * S, T0 + 150 * S)
    s.fold()
    return s


def printed(redis_url: str, fmt: str = "json") -> str:
    args = cli.build_parser().parse_args(["report", "--from", DAY, "--to", DAY, "--format", fmt])
    out = io.StringIO()
    assert report.main(Settings(redis_url=redis_url, config_dir=SAMPLE_CONFIG), args, out) == 0
    return out.getvalue()


def test_inbound_service_level_leaves_the_callback_out(repro: Script, redis_url: str) -> None:
    """`ivr report`: SL 100 % and ASA 1 s from the one caller on the line; 1 answered."""
    billing = json.loads(printed(redis_url))["queues"]["billing"]
    assert billing["service_level"] == 1.0
    assert billing["asa_s"] == pytest.approx(1.0)
    assert (billing["answered"], billing["abandoned"], billing["queued"]) == (1, 0, 2)
    assert billing["abandon_rate"] == 0.0  # 2 queued, 1 left for the callback: 0 of 1


def test_callbacks_have_their_own_figures(repro: Script, redis_url: str) -> None:
    """Requested 1, reached 1, completed 1 (100 %); answered 70 s after the request, 10 s
    after the promised time, so not on time."""
    billing = json.loads(printed(redis_url))["queues"]["billing"]
    got = {k: billing[k] for k in report.CALLBACK_COLUMNS}
    assert got == {
        "callbacks_requested": 1,
        "callbacks_reached": 1,
        "callbacks_completed": 1,
        "callback_completion_rate": 1.0,
        "callback_answer_median_s": pytest.approx(70.0, rel=0.2),
        "callback_answer_p90_s": pytest.approx(70.0, rel=0.2),
        "callback_answer_mean_s": pytest.approx(70.0),
        "callback_after_promise_mean_s": pytest.approx(10.0),
        "callback_on_time": 0.0,
    }
    rows = printed(redis_url, "csv").splitlines()
    assert "queue,billing,callbacks_completed,1" in rows
    assert "queue,billing,service_level,1.0" in rows
    table = printed(redis_url, "table")
    assert "callback_completion_rate" in table


def test_an_unreached_attempt_is_neither_handled_nor_completed(
    r: redis.Redis, redis_url: str
) -> None:
    """The customer does not answer the first dial: no handled call, no completion; the
    retry reaches them: 1 of 1 completed, and only the reached one counts as handled."""
    s = Script(r, redis_url)
    keep_my_place(s, "CA1", "CB1", T0, 60)
    s.event("CONNECT", T0 + 81 * S, call="CB1", queue="billing", agent="alice", wait_ms=81 * S)
    s.event("COMPLETEAGENT", T0 + 111 * S, call="CB1", queue="billing", agent="alice", talk_ms=0)
    s.event("ENTERQUEUE", T0 + 200 * S, call="CB1", queue="billing", position=1)
    called_back(s, "CA1", "CB1", T0 + 300 * S, T0 + 305 * S, T0 + 365 * S)
    s.fold()
    f = s.figures("q:billing")
    assert (f["callbacks_requested"], f["callbacks_reached"], f["callbacks_completed"]) == (1, 1, 1)
    assert (f["handled"], f["answered"], f["queued"], f["contacts"]) == (1, 0, 1, 1)
    assert f["service_level"] is None  # no inbound call was answered or abandoned
    assert s.totals("a:alice").agent_figures()["answered"] == 2  # alice took both offers


def test_live_figures_and_metrics_leave_the_callback_out(
    repro: Script, server: LiveServer, sam: Console, clock: ManualClock
) -> None:
    """The reports page's live card and `/metrics` read the same inbound figures; the
    callbacks are their own series."""
    clock.set(T0 / 1000 + 1800)
    live = sam.get("/api/supervisor/reports/live").json()["queues"]["billing"]
    assert (live["service_level_today"], live["answered_today"]) == (1.0, 1)
    assert (live["callbacks_requested_today"], live["callbacks_completed_today"]) == (1, 1)
    families = {f.name: f for f in text_string_to_metric_families(scrape(server))}
    calls = samples(families["ivr_queue_calls"], "queue", "outcome")
    assert calls[("billing", "answered")] == 1
    callbacks = samples(families["ivr_callbacks"], "queue", "outcome")
    assert {o: v for (q, o), v in callbacks.items() if q == "billing"} == {
        "requested": 1,
        "reached": 1,
        "completed": 1,
    }
    level = samples(families["ivr_queue_service_level_today"], "queue")
    assert level[("billing",)] == 1.0


def samples(family: Any, *labels: str) -> dict[tuple[str, ...], float]:
    """A family's `_total` samples by the given labels."""
    return {
        tuple(s.labels[name] for name in labels): s.value
        for s in family.samples
        if not s.name.endswith("_created")
    }


def test_the_agent_console_frt_share_leaves_the_callback_out(
    repro: Script, alice: Console, clock: ManualClock
) -> None:
    """Alice's FRT share today is her one inbound answer (within 20 s), not 1 of 2 because
    of the callback's virtual 81 s."""
    clock.set(T0 / 1000 + 1800)
    assert alice.view()["stats"]["frt_share"] == 1.0


def test_the_rows_over_time_show_callbacks_apart(repro: Script, redis_url: str) -> None:
    """The 10:00 row: 1 inbound answer at 100 %, and the callback requested and completed."""
    (row,) = json.loads(printed(redis_url))["intervals"]["rows"]
    got = (row["label"], row["answered"], row["service_level"])
    assert got + (row["callbacks_requested"], row["callbacks_completed"]) == (
        "10:00",
        1,
        1.0,
        1,
        1,
    )


def test_a_callback_asked_for_in_the_menu_is_one_contact(r: redis.Redis, redis_url: str) -> None:
    """Pressing "call me back" in the menu (no queue wait) makes one contact, a callback;
    its entry joining the queue when due is not an inbound call nor a second contact."""
    s = Script(r, redis_url)
    s.session("CA1", "+60111111111", T0 - 30 * S)
    s.r.hset(KEYS.callback("CB1"), mapping={"call": "CA1", "queue": "billing", "due": "0"})
    s.event("CALLBACKREQUEST", T0, callback="CB1", call="CA1", queue="billing", reason="scheduled")
    s.event("ENTERQUEUE", T0 + 600 * S, call="CB1", queue="billing", position=1)
    called_back(s, "CA1", "CB1", T0 + 610 * S, T0 + 615 * S, T0 + 700 * S)
    s.fold()
    f = s.figures("q:billing")
    assert (f["contacts"], f["queued"], f["answered"], f["handled"]) == (1, 0, 0, 1)
    assert (f["callbacks_requested"], f["callbacks_completed"]) == (1, 1)
    assert s.r.hget(KEYS.metrics_contact("CA1"), "outcome") == "callback"
    assert not s.r.exists(KEYS.metrics_contact("CB1"))
