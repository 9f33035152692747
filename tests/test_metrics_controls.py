"""Hold, transfers and consults in the metrics fold, on hand-built event streams (issue 18)."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from ivr.core.clock import ManualClock
from ivr.devtools.liveserver import LiveServer
from ivr.web import report
from queues.metrics import contacts, rollups
from queues.metrics.batch import FoldOptions
from queues.metrics.fold import GROUP
from tests.consoles import Console
from tests.test_metrics_script import KEYS, T0, S, Script
from tests.test_prom import samples
from tests.test_report import run

HOUR = 3600 * S


@pytest.fixture(name="script")
def fixture_script(r: redis.Redis, redis_url: str) -> Script:
    """A script on a flushed store, folded with the sample config."""
    return Script(r, redis_url)


def connected(s: Script, sid: str, agent: str, at: int = T0, wait: int = 10 * S) -> int:
    """`sid` enters billing at `at` and `agent` answers after `wait`; returns the answer time."""
    s.session(sid, f"+6012{sid}", at)
    s.event("ENTERQUEUE", at, call=sid, queue="billing", language="en", position=1)
    s.event("CONNECT", at + wait, call=sid, queue="billing", agent=agent, wait_ms=wait)
    return at + wait


def complete(
    s: Script, sid: str, agent: str, at: int, talk: int, queue: str = "billing", **mark: Any
) -> None:
    s.event("COMPLETEAGENT", at, call=sid, queue=queue, agent=agent, talk_ms=talk, **mark)


def hold(s: Script, sid: str, agent: str, start: int, end: int | None) -> None:
    """A hold from `start` to `end` (None: its UNHOLD never comes)."""
    s.event("HOLD", start, call=sid, agent=agent, queue="billing")
    if end is not None:
        s.event("UNHOLD", end, call=sid, agent=agent, queue="billing", hold_ms=end - start)


def transfer(
    s: Script, sid: str, agent: str, at: int, kind: str, target: str, warm: int, talk: int = 0
) -> None:
    """A TRANSFER of `sid` out of billing, as routing emits it: it ends the agent's handle
    and carries its `talk_ms` (left out with `talk` 0). Written directly: `Script.event`
    names its type `kind`, as TRANSFER names its own field."""
    entry = {"type": "TRANSFER", "ts": str(at), "call": sid, "agent": agent, "queue": "billing"}
    entry.update(kind=kind, target=target, warm=str(warm))
    if talk:
        entry["talk_ms"] = str(talk)
    s.r.xadd(KEYS.events(), entry)  # type: ignore[arg-type]


def wrap_up(s: Script, agent: str, start: int, end: int) -> None:
    s.event("AGENTSTATUS", start, agent=agent, reason="wrap_up")
    s.event("AGENTSTATUS", end, agent=agent, reason="available")


def test_hold_is_taken_out_of_talk_and_put_in_aht(script: Script) -> None:
    """120 s connected, 30 s of it on hold, 15 s wrap-up: talk 90 s + hold 30 s + ACW 15 s,
    AHT 135 s, in the queue and the agent alike."""
    s = script
    s.event("AGENTSTATUS", T0, agent="alice", reason="available")
    answered = connected(s, "CA1", "alice")
    hold(s, "CA1", "alice", answered + 30 * S, answered + 60 * S)
    complete(s, "CA1", "alice", answered + 120 * S, 120 * S)
    wrap_up(s, "alice", answered + 120 * S, answered + 135 * S)
    s.fold()
    for f in (s.figures("q:billing"), s.totals("a:alice").agent_figures()):
        assert (f["talk_s"], f["hold_s"], f["acw_s"]) == (90.0, 30.0, 15.0)
        assert f["aht_s"] == pytest.approx(135.0)
        assert (f["holds"], f["hold_mean_s"]) == (1, 30.0)
    record = s.r.hgetall(KEYS.metrics_contact("CA1"))
    assert (record["talk_ms"], record["hold_ms"]) == ("90000", "30000")


@pytest.mark.parametrize(
    "ending",
    [
        pytest.param("unhold-then-complete", id="unhold-before-the-complete"),
        pytest.param("complete-then-unhold", id="unhold-after-the-complete"),
        pytest.param("no-unhold", id="unhold-missing"),
    ],
)
def test_a_call_that_ends_on_hold(script: Script, ending: str) -> None:
    """On hold for the last 40 s of 100 s: hold 40 s, talk 60 s, whether the emitter's
    UNHOLD comes before the COMPLETE, after it, or never (the process died): the hold then
    runs to the call's end, and is counted once."""
    s = script
    answered = connected(s, "CA1", "alice")
    end = answered + 100 * S
    s.event("HOLD", end - 40 * S, call="CA1", agent="alice", queue="billing")
    unhold = {"call": "CA1", "agent": "alice", "queue": "billing", "hold_ms": 40_000}
    if ending == "unhold-then-complete":
        s.event("UNHOLD", end, **unhold)
    complete(s, "CA1", "alice", end, 100 * S)
    if ending == "complete-then-unhold":
        s.event("UNHOLD", end + 2 * S, **unhold)
    s.fold()
    f = s.figures("q:billing")
    assert (f["talk_s"], f["hold_s"], f["holds"], f["aht_s"]) == (60.0, 40.0, 1, 100.0)


def test_two_holds_and_a_cumulative_hold_ms_count_each_hold_once(script: Script) -> None:
    """Holds of 10 s and 20 s: 30 s in all, even if an emitter reports the call's running
    total (30 s) on the second UNHOLD: a hold is never longer than since its HOLD."""
    s = script
    answered = connected(s, "CA1", "alice")
    hold(s, "CA1", "alice", answered + 10 * S, answered + 20 * S)
    s.event("HOLD", answered + 50 * S, call="CA1", agent="alice", queue="billing")
    s.event("UNHOLD", answered + 70 * S, call="CA1", agent="alice", queue="billing", hold_ms=30_000)
    complete(s, "CA1", "alice", answered + 90 * S, 90 * S)
    s.fold()
    f = s.figures("q:billing")
    assert (f["hold_s"], f["talk_s"], f["holds"]) == (30.0, 60.0, 2)


ROUTING, COMPLETE_AFTER = "routing", "complete-after"
"""How an emitter may end the first agent's handle: routing's TRANSFER with its talk, and
the call's later events marked `transfer` 1; or a TRANSFER without talk followed by the
agent's COMPLETEAGENT, no marks."""


def cold_transfer(
    s: Script, kind: str = "queue", to_queue: str = "support", style: str = ROUTING
) -> int:
    """CA1 answered by alice in billing at T0+10 s; at +60 s she transfers it cold to
    `to_queue` (kind `kind`); budi answers it there at +90 s and ends it at +150 s."""
    at = transferred_out(s, kind, to_queue, style)
    mark = {"transfer": 1} if style == ROUTING else {}
    s.event(
        "CONNECT", at + 30 * S, call="CA1", queue=to_queue, agent="budi", wait_ms=30_000, **mark
    )
    complete(s, "CA1", "budi", at + 90 * S, 60 * S, queue=to_queue, **mark)
    return at


def transferred_out(
    s: Script, kind: str = "queue", to_queue: str = "support", style: str = ROUTING
) -> int:
    """CA1 answered by alice at T0+10 s, transferred at +60 s and queued again: the time."""
    answered = connected(s, "CA1", "alice")
    at = answered + 50 * S
    target = to_queue if kind == "queue" else "budi"
    transfer(s, "CA1", "alice", at, kind, target, 0, talk=50 * S if style == ROUTING else 0)
    if style == COMPLETE_AFTER:
        complete(s, "CA1", "alice", at + 1 * S, 51 * S)
    mark = {"transfer": 1} if style == ROUTING else {}
    s.event("ENTERQUEUE", at, call="CA1", queue=to_queue, language="en", position=1, **mark)
    return at


@pytest.mark.parametrize("style", [ROUTING, COMPLETE_AFTER])
def test_a_cold_transfer_is_one_contact_and_two_handles(script: Script, style: str) -> None:
    """Billing to support: one contact, one arrival and one answer (10 s: no second
    answer, wait or FRT in support), handled once overall and once in each queue, one
    handle each for alice and budi; billing and alice count the transfer, budi received it.
    The same whether the TRANSFER ends alice's handle or a COMPLETE of hers follows it."""
    s = script
    cold_transfer(s, style=style)
    s.fold()
    everyone, billing, support = (s.figures(q) for q in ("all", "q:billing", "q:support"))
    assert (everyone["contacts"], everyone["queued"], everyone["answered"]) == (1, 1, 1)
    assert (everyone["handled"], billing["handled"], support["handled"]) == (1, 1, 1)
    assert (support["queued"], support["answered"], support["abandoned"]) == (0, 0, 0)
    assert s.totals("q:support").service_level_terms() == (0, 0)
    assert (everyone["asa_s"], everyone["frt_mean_s"]) == (10.0, 10.0)
    assert everyone["aht_s"] == pytest.approx(110.0)  # the contact's agent time: 50 s + 60 s
    alice, budi = (s.totals(f"a:{a}").agent_figures() for a in ("alice", "budi"))
    assert (alice["handled"], alice["aht_s"], budi["handled"], budi["aht_s"]) == (1, 50.0, 1, 60.0)
    assert (budi["answered"], budi["transfers_received"], alice["transfers"]) == (1, 1, 1)
    assert (billing["transfers_queue"], billing["transfers_cold"], billing["transfers"]) == (
        1,
        1,
        1,
    )
    assert (support["transfers_in"], support["transfers"]) == (1, 0)


def test_a_transfer_to_an_agent_in_the_same_queue_is_handled_once_there(script: Script) -> None:
    """Alice hands CA1 to budi in billing: billing handled 1 (AHT 110 s, the contact's time),
    alice and budi one handle each, billing's `transfers_agent` 1 and no `transfers_in`."""
    s = script
    cold_transfer(s, kind="agent", to_queue="billing")
    s.fold()
    billing = s.figures("q:billing")
    assert (billing["queued"], billing["answered"], billing["handled"]) == (1, 1, 1)
    assert (billing["aht_s"], billing["transfers_agent"], billing["transfers_in"]) == (110.0, 1, 0)
    assert s.totals("a:budi").agent_figures()["handled"] == 1


def test_a_caller_lost_during_a_cold_transfer_is_no_abandon(script: Script) -> None:
    """Transferred to support, the caller hangs up after 40 s there: no abandon, no second
    arrival; one transfer unanswered, and the contact is handled but not resolved (FCR 0)."""
    s = script
    at = transferred_out(s)
    s.event("ABANDON", at + 40 * S, call="CA1", queue="support", wait_ms=40_000, transfer=1)
    s.fold()
    everyone, support = s.figures(), s.figures("q:support")
    assert (everyone["abandoned"], everyone["queued"], everyone["abandon_rate"]) == (0, 1, 0.0)
    assert (support["transfers_unanswered"], support["abandoned"]) == (1, 0)
    assert (everyone["fcr"], s.figures("a:alice")["fcr"]) == (0.0, 0.0)
    assert not s.r.zrange(KEYS.metrics_waiting("support"), 0, -1)


def test_a_warm_transfer_with_its_consult(script: Script) -> None:
    """Alice holds CA1 while she consults budi for 30 s, then completes the transfer; on CA2
    she consults 20 s and cancels. 2 consults (1 each), mean 25 s; 1 warm transfer to an
    agent; billing handled 2, alice 2 handles, budi 1; alice's hold 30 s + 20 s."""
    s = script
    answered = connected(s, "CA1", "alice")
    hold(s, "CA1", "alice", answered + 30 * S, answered + 60 * S)
    done = answered + 60 * S
    s.event(
        "CONSULT",
        done,
        call="CA1",
        agent="alice",
        target="budi",
        outcome="completed",
        consult_ms=30_000,
    )
    transfer(s, "CA1", "alice", done, "agent", "budi", 1, talk=60 * S)
    s.event("CONNECT", done, call="CA1", queue="billing", agent="budi", wait_ms=0, transfer=1)
    complete(s, "CA1", "budi", done + 60 * S, 60 * S, transfer=1)
    second = connected(s, "CA2", "alice", at=T0 + 600 * S)
    hold(s, "CA2", "alice", second + 10 * S, second + 30 * S)
    s.event(
        "CONSULT",
        second + 30 * S,
        call="CA2",
        agent="alice",
        target="budi",
        outcome="cancelled",
        consult_ms=20_000,
    )
    complete(s, "CA2", "alice", second + 90 * S, 90 * S)
    s.fold()
    billing = s.figures("q:billing")
    assert (billing["consults_completed"], billing["consults_cancelled"]) == (1, 1)
    assert billing["consult_mean_s"] == pytest.approx(25.0)
    assert (billing["transfers"], billing["transfers_agent"], billing["transfers_warm"]) == (
        1,
        1,
        1,
    )
    assert (billing["handled"], billing["answered"], billing["hold_s"]) == (2, 2, 25.0)
    alice, budi = (s.totals(f"a:{a}").agent_figures() for a in ("alice", "budi"))
    assert (alice["handled"], alice["hold_s"], alice["talk_s"]) == (2, 25.0, 50.0)
    assert (alice["consults_completed"], alice["transfers_warm"]) == (1, 1)
    assert (budi["handled"], budi["talk_s"], budi["transfers_received"]) == (1, 60.0, 1)


@pytest.mark.parametrize(
    ("first_says", "before_budi", "final", "fcr"),
    [
        pytest.param("transferred", True, "resolved", 1.0, id="resolved-by-budi"),
        pytest.param("transferred", False, "resolved", 1.0, id="alice-disposes-after-budi-took-it"),
        pytest.param("resolved", True, "follow_up", 0.0, id="budi-says-follow-up"),
    ],
)
def test_fcr_of_a_transferred_call_is_the_final_agent_s(
    script: Script, first_says: str, before_budi: bool, final: str, fcr: float
) -> None:
    """Alice's disposition (before or after budi picks the call up) does not decide; budi's
    does. FCR and its count land in budi's figures, once."""
    s = script
    at = transferred_out(s)
    alice_says = {"call": "CA1", "agent": "alice", "disposition": first_says}
    if before_budi:
        s.event("DISPOSITION", at + 5 * S, **alice_says)
    s.event("CONNECT", at + 30 * S, call="CA1", queue="support", agent="budi", wait_ms=30_000)
    if not before_budi:
        s.event("DISPOSITION", at + 35 * S, **alice_says)
    complete(s, "CA1", "budi", at + 90 * S, 60 * S, queue="support")
    s.event("DISPOSITION", at + 100 * S, call="CA1", agent="budi", disposition=final)
    s.fold()
    everyone = s.figures()
    assert everyone["fcr"] == fcr
    assert (s.totals("a:budi")["fcr_contacts"], s.totals("a:alice")["fcr_contacts"]) == (1, 0)
    assert s.totals()["fcr_contacts"] == 1
    record = s.r.hgetall(KEYS.metrics_contact("CA1"))
    assert (record["disposition"], record["transfer_disposition"]) == (final, first_says)
    if final == "resolved":
        assert everyone["art_s"] == pytest.approx((at + 100 * S - T0) / 1000)


def test_without_a_transfer_the_next_agent_s_connect_ends_the_first_handle(
    script: Script,
) -> None:
    """If budi connects before alice's handle has ended (no TRANSFER or COMPLETE of hers
    seen yet), hers ends at his CONNECT (60 s of talk); her late COMPLETE adds nothing."""
    s = script
    answered = connected(s, "CA1", "alice")
    s.event("CONNECT", answered + 60 * S, call="CA1", queue="billing", agent="budi", wait_ms=0)
    complete(s, "CA1", "alice", answered + 61 * S, 61 * S)
    complete(s, "CA1", "budi", answered + 120 * S, 60 * S)
    s.fold()
    alice = s.totals("a:alice").agent_figures()
    assert (alice["handled"], alice["talk_s"]) == (1, 60.0)
    assert s.figures("q:billing")["handled"] == 1


def test_a_transfer_to_a_number_is_the_contact_s_end(script: Script) -> None:
    """Alice sends CA1 out to a number after 40 s: handled once, 40 s talk, her resolved
    disposition decides FCR (100 %), nothing awaits another agent."""
    s = script
    answered = connected(s, "CA1", "alice")
    transfer(s, "CA1", "alice", answered + 40 * S, "number", "+60312345679", 0, talk=40 * S)
    s.event("DISPOSITION", answered + 50 * S, call="CA1", agent="alice", disposition="resolved")
    s.fold()
    billing = s.figures("q:billing")
    assert (billing["handled"], billing["talk_s"], billing["transfers_number"]) == (1, 40.0, 1)
    assert billing["fcr"] == 1.0
    assert not s.r.hget(KEYS.metrics_contact("CA1"), "transfer_pending")


def transfer_day(s: Script) -> None:
    """A warm and a cold transfer, holds (one never resumed) and dispositions."""
    cold_transfer(s)
    answered = connected(s, "CA2", "alice", at=T0 + 900 * S)
    hold(s, "CA2", "alice", answered + 5 * S, answered + 25 * S)
    s.event("HOLD", answered + 40 * S, call="CA2", agent="alice", queue="billing")
    s.event(
        "CONSULT",
        answered + 50 * S,
        call="CA2",
        agent="alice",
        target="budi",
        outcome="cancelled",
        consult_ms=10_000,
    )
    complete(s, "CA2", "alice", answered + 70 * S, 70 * S)
    s.event("DISPOSITION", answered + 80 * S, call="CA2", agent="alice", disposition="resolved")


def test_the_fold_of_transfers_is_the_same_in_any_batches_and_on_replay(script: Script) -> None:
    """Batches of one event give the rollups and records of one big batch; replaying the
    stream changes nothing; the hour read back (`read_window`) holds the all-time figures."""
    s = script
    transfer_day(s)
    s.fold(FoldOptions(batch=1))
    small = s.snapshot()
    s.r.delete(*small)
    s.r.xgroup_destroy(KEYS.events(), GROUP)
    s.fold(FoldOptions(batch=1000))
    assert s.snapshot() == small
    s.r.xgroup_setid(KEYS.events(), GROUP, "0")
    s.fold()
    assert s.snapshot() == small
    zone = ZoneInfo(s.config.company.timezone)
    hour = s.run(lambda c: rollups.read_window(c, KEYS, "q:billing", T0, T0 + HOUR, zone))
    assert hour.figures() == s.figures("q:billing")
    assert hour.figures()["hold_s"] == pytest.approx(25.0)
    assert hour.figures()["transfers"] == 1


def test_the_export_has_hold_and_transfers(script: Script) -> None:
    """A detail record carries its hold time (none: never held) and its number of transfers."""
    s = script
    transfer_day(s)
    s.fold()
    rows = {r["call"]: r for r in s.run(lambda c: contacts.records(c, KEYS, T0 - HOUR, T0 + HOUR))}
    assert (rows["CA1"]["transfers"], rows["CA1"]["hold_s"], rows["CA1"]["talk_s"]) == (
        1,
        None,
        110.0,
    )
    assert (rows["CA2"]["transfers"], rows["CA2"]["hold_s"], rows["CA2"]["talk_s"]) == (
        0,
        50.0,
        20.0,
    )


# -- where the figures show -------------------------------------------------------
def test_ivr_report_shows_handle_time_parts_and_transfers(script: Script, redis_url: str) -> None:
    """`ivr report` prints AHT's parts and the transfers in its table, CSV and JSON alike."""
    transfer_day(script)
    script.fold()
    doc = json.loads(run(redis_url, "--format", "json"))
    billing, alice = doc["queues"]["billing"], doc["agents"]["alice"]
    assert (billing["handled"], billing["talk_s"], billing["hold_s"]) == (2, 35.0, 25.0)
    assert (billing["transfers_queue"], billing["consults_cancelled"]) == (1, 1)
    assert (doc["queues"]["support"]["transfers_in"], alice["transfers"]) == (1, 1)
    assert doc["agents"]["budi"]["transfers_received"] == 1
    rows = run(redis_url, "--format", "csv").splitlines()
    assert {"queue,billing,hold_s,25.0", "queue,billing,transfers_cold,1"} <= set(rows)
    table = run(redis_url).splitlines()
    for name in (*report.HANDLE_COLUMNS, *report.TRANSFER_COLUMNS):
        assert any(line.startswith(f"{name} ") for line in table), name
    hold_line = next(line for line in table if line.startswith("hold_s "))
    assert hold_line.split()[1:3] == ["25.0", "-"]  # billing, support (never held)


def test_the_reports_page_shows_them_as_ivr_report_does(
    script: Script, server: LiveServer, clock: ManualClock, redis_url: str
) -> None:
    """The dashboard's figures carry hold, transfers and consults, formatted as the report."""
    transfer_day(script)
    script.fold()
    clock.advance(4 * 3600)
    console = Console(server, "supervisor", "sam")
    try:
        response = console.get("/api/supervisor/reports?from=2026-11-23&to=2026-11-23")
    finally:
        console.close()
    assert response.status_code == 200, response.text
    shown: dict[str, Any] = response.json()["shown"]
    billing = shown["queues"]["billing"]
    assert (billing["hold_s"], billing["transfers"], billing["consult_mean_s"]) == (
        "25.0",
        "1",
        "10.0",
    )
    assert shown["agents"]["budi"]["transfers_received"] == "1"


def test_metrics_exposes_transfers_consults_hold_and_handle_time(
    script: Script, server: LiveServer
) -> None:
    """`/metrics` has transfers by queue, kind and mode, consults by outcome, the hold
    histogram and AHT's parts with the contacts handled, from the all-time rollups."""
    transfer_day(script)
    script.fold()
    transfers = samples(server, "ivr_transfers_total")
    assert transfers[("queue", "cold", "billing")] == 1
    assert transfers[("agent", "warm", "billing")] == 0
    consults = samples(server, "ivr_consults_total")
    assert (consults[("cancelled", "billing")], consults[("completed", "billing")]) == (1, 0)
    assert samples(server, "ivr_hold_seconds_count")[("billing",)] == 2
    assert samples(server, "ivr_hold_seconds_sum")[("billing",)] == 50.0
    parts = samples(server, "ivr_handle_seconds_total")
    assert (parts[("talk", "billing")], parts[("hold", "billing")]) == (70.0, 50.0)
    assert samples(server, "ivr_queue_handled_total")[("billing",)] == 2


def test_the_agent_console_counts_a_transferred_handle_as_the_reports_do(
    script: Script, server: LiveServer, clock: ManualClock, alice: Console
) -> None:
    """Alice's console today: the call she transferred is 1 handled (50 s talk), as in the
    reports; budi's transferred CONNECT is no inbound answer in his FRT share."""
    cold_transfer(script)
    script.fold()
    clock.set(T0 / 1000 + 1800)
    stats = alice.view()["stats"]
    reported = script.totals("a:alice").agent_figures()
    assert (stats["handled"], stats["aht_s"]) == (reported["handled"], reported["aht_s"]) == (1, 50)
    budi = Console(server, "agent", "budi")
    try:
        assert budi.view()["stats"]["frt_share"] is None
    finally:
        budi.close()
