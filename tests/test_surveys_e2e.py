"""Post-call surveys end to end: a handled call, the emulator's SMS, the controlled clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from callbacks import surveys
from callbacks.inprocess import JobRunner
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.web import supervisor
from queues.metrics import rollups
from tests.agents import go_available
from tests.conftest import BUSINESS, scrape
from tests.streams import entries
from tests.test_connect_e2e import billing_caller

CALLER = "+60199999999"


def handled_call(tw: Emulator, server: LiveServer, number: str = CALLER, talk_s: float = 35) -> str:
    """A billing call Alice answers and talks on for `talk_s`; the caller hangs up."""
    go_available(server, "alice")
    call = billing_caller(tw, number)
    tw.advance(1)
    tw.device("client:alice").answer().press("1")
    tw.advance(2)
    assert call.bridge is not None
    tw.advance(talk_s)
    call.hangup()
    tw.advance(1)
    return call.sid


def test_handled_call_gets_one_survey_after_the_delay(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """Two minutes after the call the caller gets the CES question, once."""
    sid = handled_call(tw, server)
    tw.advance(110)
    assert tw.sms_to(CALLER) == []
    tw.advance(15)
    (sms,) = tw.sms_to(CALLER)
    assert sms.body.startswith("Acme Telco made it easy for me to handle my issue.")
    assert sms.from_ == BUSINESS
    tw.advance(60)
    assert len(tw.sms_to(CALLER)) == 1
    survey = r.hgetall(Keys().survey(sid))
    assert survey["state"] == "sent" and survey["agent"] == "alice"
    assert survey["queue"] == "billing" and survey["delivered"] == "1"
    tw.assert_no_errors()


def surveyed(tw: Emulator, server: LiveServer, number: str = CALLER) -> str:
    """A handled call whose survey has gone out; the call sid."""
    sid = handled_call(tw, server, number)
    tw.advance(125)
    assert len(tw.sms_to(number)) == 1
    return sid


def responses(r: redis.Redis) -> list[dict[str, str]]:
    return [fields for _, fields in entries(r, Keys().survey_responses())]


def test_duplicate_and_out_of_order_callbacks_still_send_one_survey(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """Every webhook twice and status callbacks reversed: still exactly one SMS."""
    tw.replay_webhooks = True
    tw.status_callbacks_out_of_order = True
    handled_call(tw, server)
    tw.advance(130)
    assert len(tw.sms_to(CALLER)) == 1
    assert r.hget(Keys().survey_stats(), "sent") == "1"


def test_abandoned_call_gets_no_survey(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """A caller who hangs up in the queue is not surveyed."""
    call = billing_caller(tw)
    tw.advance(20)
    call.hangup()
    tw.advance(130)
    assert tw.sms_to(CALLER) == []
    assert not r.exists(Keys().survey(call.sid))


def test_short_call_gets_no_survey(tw: Emulator, server: LiveServer, job_runner: JobRunner) -> None:
    """A call with less talk time than the minimum is not surveyed."""
    handled_call(tw, server, talk_s=5)
    tw.advance(130)
    assert tw.sms_to(CALLER) == []


def test_frequency_cap_allows_one_survey_per_number(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """A second handled call from the same number within the cap gets no second survey."""
    surveyed(tw, server)
    tw.advance(20)  # Alice's wrap-up ends
    handled_call(tw, server)
    tw.advance(130)
    assert len(tw.sms_to(CALLER)) == 1
    assert r.hget(Keys().survey_stats(), "skipped:capped") == "1"


def test_good_score_is_thanked_and_linked_to_the_call(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """'6 thanks' scores 6 for the call, agent and queue, with its FRT; the reply thanks."""
    sid = surveyed(tw, server)
    (answer,) = tw.send_sms(CALLER, BUSINESS, "6 thanks")
    assert answer.body == "Thank you for your feedback. - Acme Telco"
    assert r.hget(Keys().survey_scores(), sid) == "6"
    (response,) = responses(r)
    assert response["kind"] == "score" and response["score"] == "6"
    assert (response["call"], response["agent"], response["queue"]) == (sid, "alice", "billing")
    assert response["language"] == "en" and int(response["frt_ms"]) >= 0
    assert r.xlen(Keys().survey_alerts()) == 0
    assert tw.send_sms(CALLER, BUSINESS, "7") == []


def test_metrics_count_the_texts_sent_and_their_segments(
    tw: Emulator, server: LiveServer, job_runner: JobRunner
) -> None:
    """The survey question and the thank-you reply are counted in /metrics as sent, with
    the segments the emulator (as a carrier) counted for each."""
    surveyed(tw, server)
    (question,) = tw.sms_to(CALLER)
    (answer,) = tw.send_sms(CALLER, BUSINESS, "6 thanks")
    text = scrape(server)
    for kind, message in (("survey_question", question), ("reply", answer)):
        labels = f'encoding="{message.segments.encoding}",kind="{kind}"'
        assert f"ivr_sms_sent_total{{{labels}}} 1.0" in text
        assert f"ivr_sms_segments_total{{{labels}}} {message.segments.count}.0" in text


def test_unclear_reply_is_reprompted_once_then_stored_raw(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """'great' gets one polite re-prompt; a second unclear reply is kept as said and closed."""
    sid = surveyed(tw, server)
    (again,) = tw.send_sms(CALLER, BUSINESS, "great")
    assert "reply with one number from 1 to 7" in again.body
    (thanks,) = tw.send_sms(CALLER, BUSINESS, "10/10 would call again")
    assert thanks.body.startswith("Thank you")
    assert r.hget(Keys().survey_scores(), sid) is None
    (response,) = responses(r)
    assert (response["kind"], response["text"]) == ("unclear", "10/10 would call again")


def test_low_score_asks_why_and_alerts_supervisors(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """A 2 brings the follow-up question and an alert; the comment is stored and alerted.

    Supervisors see one alert for the call, with the score and the comment."""
    sid = surveyed(tw, server)
    (question,) = tw.send_sms(CALLER, BUSINESS, " 2 ")
    assert question.body == "What made it hard? Reply in your own words."
    comment = "<script>alert(1)</script>'; DROP TABLE calls; -- waited too long"
    (thanks,) = tw.send_sms(CALLER, BUSINESS, comment)
    assert thanks.body == "Thank you. Someone from Acme Telco will look into it."
    alerts = [fields for _, fields in entries(r, Keys().survey_alerts())]
    assert [(a["call"], a["agent"], a["queue"], a["ces"]) for a in alerts] == [
        (sid, "alice", "billing", "2")
    ] * 2
    assert alerts[1]["comment"] == comment
    (shown,) = server.app.state.services.run(supervisor.alerts(server.app.state.services))
    assert (shown["call"], shown["ces"], shown["comment"]) == (sid, "2", comment)
    assert [x["kind"] for x in responses(r)] == ["score"]
    assert r.hget(Keys().survey(sid), "comment") == comment


def test_reply_after_the_window_is_late_and_not_scored(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner, clock: ManualClock
) -> None:
    """A reply 25 hours later is stored as late and not scored."""
    sid = surveyed(tw, server)
    clock.advance(25 * 3600)
    (answer,) = tw.send_sms(CALLER, BUSINESS, "5")
    assert "closed" in answer.body
    assert r.hget(Keys().survey_scores(), sid) is None
    (response,) = responses(r)
    assert (response["kind"], response["score"], response["text"]) == ("late", "", "5")


def test_stop_opts_out_and_start_opts_back_in(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """After STOP no survey is sent; START allows them again; HELP explains."""
    (stopped,) = tw.send_sms(CALLER, BUSINESS, "STOP")
    assert "not receive any more surveys" in stopped.body
    handled_call(tw, server)
    tw.advance(130)
    assert tw.sms_to(CALLER) == [stopped]
    (helped,) = tw.send_sms(CALLER, BUSINESS, "help")
    assert "reply 1-7" in helped.body
    (started,) = tw.send_sms(CALLER, BUSINESS, "Start")
    assert "again" in started.body
    assert not r.sismember(Keys().survey_optouts(), CALLER)


def test_malay_stop_word_from_config_opts_out(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """BERHENTI (configured for Malay) opts the number out."""
    tw.send_sms(CALLER, BUSINESS, "berhenti")
    assert r.sismember(Keys().survey_optouts(), CALLER)


def test_advanced_opt_out_type_is_honoured_without_a_reply(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """OptOutType=STOP from Twilio opts the number out; Twilio already answered."""
    assert tw.send_sms(CALLER, BUSINESS, "arrêt", OptOutType="STOP") == []
    assert r.sismember(Keys().survey_optouts(), CALLER)
    assert tw.send_sms(CALLER, BUSINESS, "commencer", OptOutType="START") == []
    assert not r.sismember(Keys().survey_optouts(), CALLER)


def test_send_refused_as_unsubscribed_marks_the_number_opted_out(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner
) -> None:
    """Twilio error 21610 on the send: no SMS, the survey failed, the number opted out."""
    tw.opted_out.add(CALLER)
    sid = handled_call(tw, server)
    tw.advance(130)
    assert tw.sms_to(CALLER) == []
    assert r.hget(Keys().survey(sid), "state") == "failed"
    assert r.sismember(Keys().survey_optouts(), CALLER)


def test_uk_caller_in_quiet_hours_is_surveyed_at_nine_london_time(
    tw: Emulator, server: LiveServer, r: redis.Redis, job_runner: JobRunner, clock: ManualClock
) -> None:
    """10:00 in Kuala Lumpur is 02:00 in London: the survey waits until 09:00 there."""
    uk = "+447911123456"
    sid = handled_call(tw, server, uk)
    tw.advance(125)
    assert tw.sms_to(uk) == []
    due = r.zscore(Keys().jobs_due(), f"survey-{sid}")
    assert due is not None
    local = datetime.fromtimestamp(due, ZoneInfo("Europe/London"))
    assert (local.hour, local.minute, local.date()) == (9, 0, date(2026, 11, 23))
    clock.set(due - 1)
    tw.advance(2)
    assert len(tw.sms_to(uk)) == 1


@pytest.mark.parametrize(
    ("after_sent_h", "scored"),
    [
        pytest.param(20, True, id="inside-the-window-from-the-send"),
        pytest.param(25, False, id="after-the-window-from-the-send"),
    ],
)
def test_a_survey_held_by_quiet_hours_has_one_response_window(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    job_runner: JobRunner,
    clock: ManualClock,
    after_sent_h: float,
    scored: bool,
) -> None:
    """A survey held seven hours by quiet hours (02:00 in London): a reply 20 h after it
    was sent (27 h after the call) is thanked and counts in CES; 25 h after, it is late in
    both the reply and the metrics. One window, from the send."""
    uk = "+447911123456"
    sid = handled_call(tw, server, uk)
    tw.advance(125)
    due = r.zscore(Keys().jobs_due(), f"survey-{sid}")
    assert due is not None
    clock.set(due - 1)
    tw.advance(2)
    assert len(tw.sms_to(uk)) == 1
    clock.advance(after_sent_h * 3600)
    (answer,) = tw.send_sms(uk, BUSINESS, "6")
    assert answer.body.startswith("Thank you for your feedback" if scored else "Thank you. This")
    tw.advance(1)
    svc = server.app.state.services
    totals = svc.run(rollups.all_time(svc.redis, svc.keys, "all"))
    assert (totals["ces_n"], totals["ces_late"]) == ((1, 0) if scored else (0, 1))


def test_job_crashing_after_the_send_is_retried_without_a_second_sms(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The job dies after Twilio took the SMS: the retry finds it sent (by its callback)."""
    real = surveys.mark_sent
    crashes = iter([True])

    async def crash_once(*args: Any) -> bool:
        if next(crashes, False):
            raise ConnectionError("worker lost its store connection")
        return await real(*args)

    monkeypatch.setattr(surveys, "mark_sent", crash_once)
    sid = handled_call(tw, server)
    tw.advance(125)
    assert job_runner.retry_now() == 1
    job_runner.run()
    tw.advance(5)
    assert len(tw.sms_to(CALLER)) == 1
    assert r.hget(Keys().survey(sid), "state") == "sent"
    (answer,) = tw.send_sms(CALLER, BUSINESS, "7")
    assert answer.body.startswith("Thank you")


def test_job_crashing_before_the_send_is_retried_and_sends_once(
    tw: Emulator,
    server: LiveServer,
    r: redis.Redis,
    job_runner: JobRunner,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The REST call never reached Twilio: the retry sends the survey, once."""
    real = surveys._message_args
    crashes = iter([True])

    def crash_once(*args: Any) -> dict[str, str]:
        if next(crashes, False):
            raise ConnectionError("api.twilio.com unreachable")
        return real(*args)

    monkeypatch.setattr(surveys, "_message_args", crash_once)
    sid = handled_call(tw, server)
    tw.advance(125)
    assert tw.sms_to(CALLER) == []
    assert r.hget(Keys().survey(sid), "state") == "scheduled"
    assert job_runner.retry_now() == 1
    job_runner.run()
    job_runner.run()
    assert len(tw.sms_to(CALLER)) == 1
