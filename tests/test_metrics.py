"""The metrics fold on hand-built event streams, with worked numbers for every figure."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import redis

from queues.metrics import contacts, histogram, rollups
from queues.metrics.batch import FoldOptions
from tests.test_metrics_script import DAY, KEYS, T0, S, Script, in_zone, sample_config

KOLKATA = ZoneInfo("Asia/Kolkata")
NINE_IN_KOLKATA = datetime(2026, 11, 23, 9, 0, tzinfo=KOLKATA)
"""09:00 local in Kolkata (+05:30) is 03:30 UTC: not the start of a UTC hour."""
HOUR = 3600 * S


@pytest.fixture(name="script")
def fixture_script(r: redis.Redis, redis_url: str) -> Script:
    """A script on a flushed store, folded with the sample config."""
    return Script(r, redis_url)


@pytest.mark.parametrize(
    ("kind", "wait_ms", "expected"),
    [
        pytest.param("CONNECT", 20_000, {"answered": 1, "answered_sl": 1}, id="answered-at-T"),
        pytest.param("CONNECT", 20_001, {"answered": 1, "answered_sl": 0}, id="answered-after-T"),
        pytest.param("ABANDON", 20_000, {"abandoned": 1, "abandoned_sl": 1}, id="abandon-at-T"),
        pytest.param("ABANDON", 20_001, {"abandoned": 1, "abandoned_sl": 0}, id="abandon-after-T"),
        pytest.param("ABANDON", 4_999, {"abandoned": 0, "abandoned_short": 1}, id="short-abandon"),
        pytest.param("ABANDON", 5_000, {"abandoned": 1, "abandoned_short": 0}, id="abandon-at-5s"),
    ],
)
def test_threshold_boundaries(
    script: Script, kind: str, wait_ms: int, expected: dict[str, int]
) -> None:
    """Waits exactly at the service-level threshold count as within it; short abandons are < 5 s."""
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing", language="en")
    script.event(kind, T0 + wait_ms, call="CA1", queue="billing", agent="alice", wait_ms=wait_ms)
    script.fold()
    totals = script.totals("q:billing")
    assert {name: totals[name] for name in expected} == expected


def test_service_level_and_abandonment_worked_example(script: Script) -> None:
    """3 answered (2 within 20 s), 2 abandoned (both within), 1 short: SL 80 %, abandon 40 %."""
    for i, (kind, wait) in enumerate(
        [("CONNECT", 20_000), ("CONNECT", 20_001), ("CONNECT", 5_000)]
        + [("ABANDON", 20_000), ("ABANDON", 4_999), ("ABANDON", 5_000)]
    ):
        script.event("ENTERQUEUE", T0, call=f"CA{i}", queue="billing", language="en")
        script.event(kind, T0 + wait, call=f"CA{i}", queue="billing", agent="alice", wait_ms=wait)
    script.fold()
    f = script.figures("q:billing")
    assert f["service_level"] == pytest.approx(4 / 5)
    assert f["abandon_rate"] == pytest.approx(2 / 5)
    assert f["asa_s"] == pytest.approx((20 + 20.001 + 5) / 3)
    assert (f["answered"], f["abandoned"], f["short_abandons"], f["queued"]) == (3, 2, 1, 6)


def test_a_callback_is_not_an_abandon(script: Script) -> None:
    """A caller who leaves for a callback counts in callbacks, not in abandons or queued."""
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing")
    script.event(
        "ABANDON", T0 + 60 * S, call="CA1", queue="billing", wait_ms=60_000, reason="callback"
    )
    script.event("ENTERQUEUE", T0, call="CA2", queue="billing")
    script.event("CALLBACK", T0 + 30 * S, call="CA2", queue="billing", wait_ms=30_000)
    script.fold()
    f = script.figures("q:billing")
    assert (f["callbacks"], f["abandoned"], f["abandon_rate"]) == (2, 0, None)


def test_frt_counts_ivr_time_and_the_first_human_only(script: Script) -> None:
    """FRT runs from arrival (IVR included) to the first agent; a transfer does not reset it."""
    script.session("CA1", "+60111111111", T0 - 30 * S)
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing", language="en")
    script.event("CONNECT", T0 + 20 * S, call="CA1", queue="billing", agent="alice", wait_ms=20_000)
    script.event("CONNECT", T0 + 90 * S, call="CA1", queue="sales", agent="budi", wait_ms=10_000)
    script.fold()
    f = script.figures()
    assert f["frt_mean_s"] == pytest.approx(50.0)
    assert f["frt_queue_mean_s"] == pytest.approx(20.0)
    assert f["answered"] == 2
    record = script.r.hgetall(KEYS.metrics_contact("CA1"))
    assert (record["frt_ms"], record["agent"], record["path"]) == ("50000", "budi", "welcome")


def test_a_session_with_an_original_start_starts_there(script: Script) -> None:
    """A call whose session carries `original_started_at` has its FRT from that arrival."""
    script.session("CA7", "+60111111111", T0, original_started_at=(T0 - 600 * S) / 1000)
    script.event("ENTERQUEUE", T0, call="CA7", queue="billing")
    script.event("CONNECT", T0 + 10 * S, call="CA7", queue="billing", agent="alice", wait_ms=10_000)
    script.fold()
    assert script.figures()["frt_mean_s"] == pytest.approx(610.0)


@pytest.mark.parametrize(
    ("entry", "leg"),
    [
        pytest.param("CB1", "", id="agent-first"),
        pytest.param("CAleg", "CAleg", id="customer-first"),
    ],
)
def test_a_kept_place_callback_has_frt_from_the_original_arrival(
    script: Script, entry: str, leg: str
) -> None:
    """Arrive T0−30 s, queue 60 s, callback; answered at T0+300 s, customer on at +302 s.

    One contact: not an abandon, no inbound answer (the callback is its own contact type),
    FRT 332 s (CALLBACKCONNECT `frt_ms`), of which 302 s in the queue; reached and handled;
    the callback's entry adds no contact of its own.
    """
    script.session("CA1", "+60111111111", T0 - 30 * S)
    script.r.hset(KEYS.callback("CB1"), mapping={"call": "CA1", "queue": "billing"})
    if leg:
        script.r.set(KEYS.callback_leg(leg), "CB1")
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing", language="en")
    script.event(
        "CALLBACK", T0 + 60 * S, call="CA1", callback="CB1", queue="billing", wait_ms=60_000
    )
    script.event(
        "CONNECT", T0 + 300 * S, call=entry, queue="billing", agent="alice", wait_ms=300_000
    )
    script.event(
        "CALLBACKCONNECT",
        T0 + 302 * S,
        call="CA1",
        callback="CB1",
        queue="billing",
        agent="alice",
        original_wait_ms=302_000,
        frt_ms=332_000,
        **({"leg": leg} if leg else {}),
    )
    script.event(
        "COMPLETEAGENT", T0 + 400 * S, call=entry, queue="billing", agent="alice", talk_ms=98_000
    )
    script.fold()
    f = script.figures("q:billing")
    assert (f["contacts"], f["callbacks"], f["abandoned"], f["answered"]) == (1, 1, 0, 0)
    assert (f["callbacks_reached"], f["callbacks_completed"]) == (1, 1)
    assert f["frt_mean_s"] == pytest.approx(332.0)
    assert f["frt_queue_mean_s"] == pytest.approx(302.0)
    assert f["handled"] == 1
    record = script.r.hgetall(KEYS.metrics_contact("CA1"))
    assert (record["frt_ms"], record["agent"], record["outcome"]) == ("332000", "alice", "callback")
    assert not script.r.exists(KEYS.metrics_contact(entry))


def test_frt_percentiles_from_the_histogram(script: Script) -> None:
    """FRTs of 10, 20 … 100 s: median, p90 and p95 within one bucket of the exact ranks."""
    for i in range(1, 11):
        script.session(f"CA{i}", f"+6011111111{i}", T0)
        script.event("ENTERQUEUE", T0, call=f"CA{i}", queue="billing")
        script.event("CONNECT", T0 + i * 10 * S, call=f"CA{i}", queue="billing", agent="alice")
    script.fold()
    f = script.figures()
    width = 2 ** (1 / histogram.STEPS_PER_DOUBLING)
    for name, exact in (("frt_median_s", 50), ("frt_p90_s", 90), ("frt_p95_s", 100)):
        assert exact / width <= f[name] <= exact * width, name
    assert f["frt_mean_s"] == pytest.approx(55.0)


def test_aht_is_talk_plus_wrap_up(script: Script) -> None:
    """120 s talk and 15 s wrap-up on one handled call: AHT 135 s, in the queue and the agent."""
    script.event("AGENTSTATUS", T0, agent="alice", reason="available")
    script.answered("CA1", "billing", "alice", T0, 5 * S, 120 * S)
    script.event("AGENTSTATUS", T0 + 5 * S, agent="alice", reason="on_call")
    script.event("AGENTSTATUS", T0 + 125 * S, agent="alice", reason="wrap_up")
    script.event("AGENTSTATUS", T0 + 140 * S, agent="alice", reason="available")
    script.fold()
    assert script.figures("q:billing")["aht_s"] == pytest.approx(135.0)
    assert script.totals("a:alice").agent_figures()["aht_s"] == pytest.approx(135.0)


def test_agent_states_occupancy_and_missed_offers(script: Script) -> None:
    """Time in each state from AGENTSTATUS/OFFERED; occupancy 70 of 200 staffed seconds."""
    s = script
    s.event("AGENTSTATUS", T0, agent="alice", reason="available")
    s.event("OFFERED", T0 + 10 * S, call="CA1", queue="billing", agent="alice")
    s.event("RINGNOANSWER", T0 + 25 * S, call="CA1", queue="billing", agent="alice")
    s.event("AGENTSTATUS", T0 + 25 * S, agent="alice", reason="available")
    s.event("OFFERED", T0 + 60 * S, call="CA1", queue="billing", agent="alice")
    s.event("CONNECT", T0 + 65 * S, call="CA1", queue="billing", agent="alice", wait_ms=65_000)
    s.event("AGENTSTATUS", T0 + 65 * S, agent="alice", reason="on_call")
    s.event("COMPLETECALLER", T0 + 125 * S, call="CA1", queue="billing", agent="alice")
    s.event("AGENTSTATUS", T0 + 125 * S, agent="alice", reason="wrap_up")
    s.event("AGENTSTATUS", T0 + 135 * S, agent="alice", reason="available")
    s.event("AGENTSTATUS", T0 + 200 * S, agent="alice", reason="break:lunch")
    s.event("AGENTSTATUS", T0 + 260 * S, agent="alice", reason="offline")
    s.fold()
    a = s.totals("a:alice").agent_figures()
    assert (a["available_s"], a["reserved_s"], a["on_call_s"], a["wrap_up_s"]) == (110, 20, 60, 10)
    assert a["break_s"] == 60
    assert a["occupancy"] == pytest.approx(70 / 200)
    assert (a["offers"], a["missed"], a["answered"]) == (2, 1, 1)


@pytest.mark.parametrize(
    ("reason", "rejected"),
    [
        pytest.param("reject", 1, id="agent-declined"),
        pytest.param("device_unreachable", 0, id="device-could-not-be-rung"),
        pytest.param("connect_lost", 0, id="service-lost-the-connection"),
    ],
)
def test_only_an_offer_the_agent_declined_counts_as_rejected(
    script: Script, reason: str, rejected: int
) -> None:
    """Every REJECTED is a missed offer; a device that could not be rung is not a rejection."""
    script.event("OFFERED", T0, call="CA1", queue="billing", agent="alice")
    script.event("REJECTED", T0 + 2 * S, call="CA1", queue="billing", agent="alice", reason=reason)
    script.fold()
    a = script.totals("a:alice").agent_figures()
    assert (a["missed"], a["rejected"]) == (1, rejected)


@pytest.mark.parametrize(
    ("gap_ms", "repeated"),
    [
        pytest.param(7 * DAY, True, id="repeat-exactly-7-days-later"),
        pytest.param(7 * DAY + 1, False, id="repeat-just-outside-window"),
        pytest.param(3 * DAY, True, id="repeat-inside-window"),
    ],
)
def test_fcr_repeat_contacts(script: Script, gap_ms: int, repeated: bool) -> None:
    """A second contact from the number within 7 days (start to start) fails the first's FCR."""
    script.session("CA1", "+60122222222", T0)
    script.answered("CA1", "billing", "alice", T0, 5 * S, 60 * S)
    script.session("CA2", "+60122222222", T0 + gap_ms)
    script.answered("CA2", "billing", "alice", T0 + gap_ms, 5 * S, 60 * S)
    script.fold()
    f = script.figures("q:billing")
    assert f["fcr"] == pytest.approx(0.5 if repeated else 1.0)
    assert (script.r.hget(KEYS.metrics_contact("CA1"), "fcr_failed") == "1") is repeated


@pytest.mark.parametrize(
    ("gap_ms", "repeated"),
    [
        pytest.param(3 * DAY, True, id="inside-window"),
        pytest.param(7 * DAY + 1, False, id="outside-window"),
    ],
)
def test_export_marks_the_repeat_not_the_original(
    script: Script, gap_ms: int, repeated: bool
) -> None:
    """In the export, `repeat_contact` is set on the second contact, the one that came back;
    the first (whose FCR it fails) is not a repeat of anything."""
    for sid, at in (("CA1", T0), ("CA2", T0 + gap_ms)):
        script.session(sid, "+60122222222", at)
        script.answered(sid, "billing", "alice", at, 5 * S, 60 * S)
    script.fold()
    rows = script.run(lambda c: contacts.records(c, KEYS, T0, T0 + 8 * DAY))
    assert [(row["call"], row["repeat_contact"]) for row in rows] == [
        ("CA1", False),
        ("CA2", repeated),
    ]


def test_disposition_sets_art_and_a_follow_up_fails_fcr(script: Script) -> None:
    """A `resolved` disposition 200 s after arrival gives ART 200 s; `follow_up` fails FCR."""
    for sid in ("CA1", "CA2"):
        script.session(sid, f"+6013{sid}", T0)
        script.answered(sid, "billing", "alice", T0, 10 * S, 100 * S)
    script.event("DISPOSITION", T0 + 200 * S, call="CA1", agent="alice", disposition="resolved")
    script.event("DISPOSITION", T0 + 200 * S, call="CA2", agent="alice", disposition="follow_up")
    script.fold()
    f = script.figures("q:billing")
    assert (f["art_s"], f["fcr"]) == (pytest.approx(200.0), pytest.approx(0.5))


def test_ces_mean_top_share_response_rate_and_late_replies(script: Script) -> None:
    """Scores 6 and 3 count (mean 4.5, 50 % top-box, 2 of 3 reply); a reply 24 h + 1 ms after
    its survey was sent not (the window runs from the send, not from the call's end)."""
    for i in (1, 2, 3):
        script.session(f"CA{i}", f"+601444444{i}", T0)
        script.answered(f"CA{i}", "billing", "alice", T0, 5 * S, 55 * S)
    sent = T0 + 60 * S + 7 * HOUR  # held back by quiet hours
    script.survey("CA1", 6, sent + 60 * S, sent)
    script.survey("CA2", 3, sent + DAY, sent)
    script.survey("CA3", 7, sent + DAY + 1, sent)
    script.survey("CA1", 1, sent + 120 * S, sent)  # a second reply for the same call is ignored
    script.fold()
    f = script.figures("q:billing")
    assert (f["ces_mean"], f["ces_top_share"]) == (pytest.approx(4.5), pytest.approx(0.5))
    assert f["ces_response_rate"] == pytest.approx(2 / 3)
    assert (f["ces_late"], f["ces_6"], f["ces_3"], f["ces_7"], f["ces_1"]) == (1, 1, 1, 0, 0)
    assert script.figures("a:alice")["ces_mean"] == pytest.approx(4.5)


def test_scopes_split_by_queue_agent_and_language(script: Script) -> None:
    """One call counts in its queue, agent, queue×agent, language and overall scopes only."""
    script.session("CA1", "+60155555555", T0, language="ms")
    script.event("ENTERQUEUE", T0, call="CA1", queue="sales", language="ms")
    script.event("CONNECT", T0 + S, call="CA1", queue="sales", agent="budi", wait_ms=1000)
    script.fold()
    for scope in ("all", "q:sales", "a:budi", "qa:sales:budi", "l:ms"):
        assert script.totals(scope)["answered"] == 1, scope
    assert script.totals("q:billing")["answered"] == 0


def test_minute_hour_and_total_rollups_agree(script: Script) -> None:
    """A call answered at 10:00:30 lands in that minute's, that hour's and the all-time rollup.

    Both are keyed by the epoch minute they start at (the hour's local start: 10:00).
    """
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing")
    script.event("CONNECT", T0 + 30 * S, call="CA1", queue="billing", agent="alice", wait_ms=30_000)
    script.fold()
    minute = script.r.hgetall(KEYS.metrics_rollup("m", "q:billing", (T0 + 30 * S) // 60_000))
    hour = script.r.hgetall(KEYS.metrics_rollup("h", "q:billing", T0 // 60_000))
    assert minute["answered"] == hour["answered"] == "1"
    assert script.r.ttl(KEYS.metrics_rollup("m", "q:billing", (T0 + 30 * S) // 60_000)) > 0
    assert script.r.ttl(KEYS.metrics_rollup("t", "q:billing", 0)) == -1


def test_unknown_event_types_are_skipped(script: Script) -> None:
    """Events the metrics do not use (a supervisor's action) are acknowledged and change nothing."""
    script.event("SUPERVISOR", T0, by="sam", call="CA1", action="priority")
    assert script.fold() == 1
    assert script.totals().counts == {}


def test_short_abandon_threshold_is_configurable(script: Script) -> None:
    """With a 10 s threshold an abandon after 8 s is short."""
    script.event("ENTERQUEUE", T0, call="CA1", queue="billing")
    script.event("ABANDON", T0 + 8 * S, call="CA1", queue="billing", wait_ms=8000)
    script.fold(FoldOptions(short_abandon_s=10))
    assert script.totals("q:billing")["abandoned_short"] == 1


def local_ms(at: datetime, minutes: float = 0) -> int:
    return int((at + timedelta(minutes=minutes)).timestamp() * 1000)


def kolkata_hours(script: Script, scope: str, first: int, n: int) -> list[rollups.Totals]:
    """The `n` Kolkata hour rollups of `scope` from `first` hours after 09:00 local."""
    start = local_ms(NINE_IN_KOLKATA) + first * HOUR
    series = script.run(
        lambda c: rollups.series(c, KEYS, scope, start, start + n * HOUR, zone=KOLKATA)
    )
    assert [at for at, _ in series] == [start + i * HOUR for i in range(n)]
    return [totals for _, totals in series]


def test_hours_follow_a_half_hour_zone(r: redis.Redis, redis_url: str) -> None:
    """In Kolkata, calls at 09:20 and 09:40 local land in the 09:00 local hour, 10:10 in 10:00.

    Waits 10 s and 30 s: 2 answered, 1 within 20 s (SL 50 %), ASA 20 s; the 10:10
    call waits 5 s. Keyed by UTC hour, 09:20 and 09:40 would split at 09:30.
    """
    script = Script(r, redis_url, in_zone(sample_config(), "Asia/Kolkata"))
    for sid, minute, wait_s in (("CK1", 20, 10), ("CK2", 40, 30), ("CK3", 70, 5)):
        at = local_ms(NINE_IN_KOLKATA, minute)
        script.answered(sid, "billing", "alice", at, wait_s * S, 60 * S)
    script.fold()
    nine, ten = kolkata_hours(script, "q:billing", 0, 2)
    assert (nine["entered"], nine["answered"], nine["answered_sl"]) == (2, 2, 1)
    assert (nine.service_level(), nine.figures()["asa_s"]) == (0.5, 20.0)
    assert (ten["entered"], ten["answered"], ten.figures()["asa_s"]) == (1, 1, 5.0)


def test_agent_time_splits_at_local_hours_in_a_half_hour_zone(
    r: redis.Redis, redis_url: str
) -> None:
    """Alice available 08:30–10:15 in Kolkata: 30 min in the 08:00 hour, 60 in 09:00, 15 in 10."""
    script = Script(r, redis_url, in_zone(sample_config(), "Asia/Kolkata"))
    script.event("AGENTSTATUS", local_ms(NINE_IN_KOLKATA, -30), agent="alice", reason="available")
    script.event("AGENTSTATUS", local_ms(NINE_IN_KOLKATA, 75), agent="alice", reason="offline")
    script.fold()
    hours = kolkata_hours(script, "a:alice", -1, 3)
    assert [h["state_ms:available"] for h in hours] == [30 * 60 * S, 60 * 60 * S, 15 * 60 * S]
