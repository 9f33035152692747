"""The Twilio-facing webhooks, end to end over HTTP with Twilio-signed requests."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis

from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.liveserver import LiveServer
from tests import streams
from tests.conftest import BUSINESS, PUBLIC_BASE, Twilio
from tests.twiml_helpers import action, gather, heard, verbs

UNKNOWN = "+60199999999"


def call_form(sid: str = "CA" + "1" * 32, caller: str = UNKNOWN, **extra: str) -> dict[str, str]:
    form = {
        "CallSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": caller,
        "To": BUSINESS,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def test_signed_incoming_call_gets_the_language_menu(twilio: Twilio) -> None:
    """A signed new call is answered with the trilingual language menu in a Gather."""
    response = twilio.post("/voice/incoming", call_form())
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    text = heard(response.text)
    assert "For English, press 1" in text
    assert "Untuk Bahasa Melayu, tekan 2" in text
    assert "สำหรับภาษาไทย กด 3" in text
    assert gather(response.text).attrib["input"] == "dtmf speech"
    assert action(response.text).startswith(f"{PUBLIC_BASE}/voice/menu?step=")


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="unsigned"),
        pytest.param({"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, id="forged"),
    ],
)
def test_unsigned_or_forged_webhook_is_refused_and_changes_nothing(
    twilio: Twilio, r: redis.Redis, headers: dict[str, str]
) -> None:
    """A webhook without a valid signature gets 403 and creates no call state."""
    form = call_form()
    response = twilio.http.post("/voice/incoming", data=form, headers=headers)
    assert response.status_code == 403
    assert r.exists(Keys().call(form["CallSid"])) == 0


def test_signature_is_checked_against_the_public_url(twilio: Twilio) -> None:
    """A signature made for the internal address (not PUBLIC_BASE_URL) is refused."""
    form = call_form()
    internal = str(twilio.http.base_url).rstrip("/") + "/voice/incoming"
    signature = twilio.validator.compute_signature(internal, form)
    response = twilio.http.post(
        "/voice/incoming", data=form, headers={"X-Twilio-Signature": signature}
    )
    assert response.status_code == 403


def test_retried_incoming_webhook_gets_the_same_answer_once(twilio: Twilio, r: redis.Redis) -> None:
    """Twilio retrying /voice/incoming gets identical TwiML and one call session."""
    first = twilio.post("/voice/incoming", call_form())
    second = twilio.post("/voice/incoming", call_form())
    assert first.text == second.text
    sid = call_form()["CallSid"]
    assert r.hlen(Keys().call_responses(sid)) == 1
    assert json.loads(r.get(Keys().call(sid)) or "{}")["step"] == 1


def press(twilio: Twilio, previous: str, digits: str, sid: str = "CA" + "1" * 32) -> str:
    response = twilio.post(action(previous), call_form(sid, Digits=digits))
    assert response.status_code == 200, response.text
    return response.text


def test_choosing_malay_plays_the_main_menu_in_malay(twilio: Twilio) -> None:
    """Pressing 2 at the language menu sets Malay, and the open-hours main menu follows in it."""
    menu = press(twilio, twilio.post("/voice/incoming", call_form()).text, "2")
    assert "Untuk bil, tekan 1" in heard(menu)
    say = gather(menu).find("Say")
    assert say is not None and say.attrib["language"] == "ms-MY"
    assert gather(menu).attrib["language"] == "ms-MY"


def test_known_caller_is_greeted_by_name_and_skips_language_choice(twilio: Twilio) -> None:
    """A recognised number hears its name and goes straight to the menu in its language."""
    text = twilio.post("/voice/incoming", call_form(caller="+60123456789")).text
    assert "Selamat kembali ke Acme Telco, Aisyah." in heard(text)
    assert "Untuk bil, tekan 1" in heard(text)
    assert "For English, press 1" not in heard(text)


def english_main_menu(twilio: Twilio, sid: str = "CA" + "1" * 32) -> str:
    return press(twilio, twilio.post("/voice/incoming", call_form(sid)).text, "1", sid)


def test_repeat_plays_the_long_greeting_again(twilio: Twilio) -> None:
    """The long prompt plays on first arrival, the short one after a wrong key, and the long
    one again when the caller presses 0 to hear it again."""
    first = english_main_menu(twilio)
    assert "For billing, press 1 or say billing" in heard(first)
    wrong = press(twilio, first, "7")
    assert heard(wrong).endswith("Billing 1, support 2, sales 3, message 4, language 9.")
    again = press(twilio, wrong, "0")
    assert heard(again) == heard(first)


def routing_queue(r: redis.Redis, sid: str) -> str:
    """The queue routing holds the call in."""
    raw = r.hget(Keys().routing_calls(), sid)
    assert raw is not None, f"{sid} is not in any queue"
    return str(json.loads(raw)["queue"])


def test_speech_keyword_in_malay_picks_the_option(twilio: Twilio, r: redis.Redis) -> None:
    """Saying 'sokongan' at the Malay main menu hands the call to the support queue."""
    menu = press(twilio, twilio.post("/voice/incoming", call_form()).text, "2")
    assert "sokongan" in gather(menu).attrib["hints"]
    form = call_form(SpeechResult="Saya perlukan sokongan", Confidence="0.91")
    queued = twilio.post(action(menu), form).text
    assert verbs(queued)[-1] == "Enqueue"
    assert routing_queue(r, form["CallSid"]) == "support"


def test_account_number_is_collected_and_the_call_queued_for_billing(
    twilio: Twilio, r: redis.Redis
) -> None:
    """A valid 8-digit account number is stored on the call and the caller joins billing."""
    ask = press(twilio, english_main_menu(twilio), "1")
    assert gather(ask).attrib["finishOnKey"] == "#"
    queued = press(twilio, ask, "12345678")
    assert verbs(queued)[-1] == "Enqueue"
    assert routing_queue(r, "CA" + "1" * 32) == "billing"
    session = r.get(Keys().call("CA" + "1" * 32)) or ""
    assert '"account_number":"12345678"' in session
    assert '"path":["language","opening_hours","main","account"]' in session


def test_malformed_account_number_is_re_prompted(twilio: Twilio) -> None:
    """Digits that fail the collect pattern get the invalid prompt and the question again."""
    ask = press(twilio, english_main_menu(twilio), "1")
    again = press(twilio, ask, "12*4")
    assert heard(again).startswith("That account number doesn't look right.")
    assert "8 digit account number" in heard(again)


def test_invalid_choices_run_out_into_a_person(twilio: Twilio, r: redis.Redis) -> None:
    """Three invalid choices at the main menu put the caller through to support."""
    menu = english_main_menu(twilio)
    first = press(twilio, menu, "7")
    assert heard(first).startswith("Sorry, that is not a valid choice.")
    second = press(twilio, first, "8")
    third = press(twilio, second, "5")
    assert heard(third).startswith("Let me put you through to someone who can help.")
    assert verbs(third)[-1] == "Enqueue"
    assert routing_queue(r, "CA" + "1" * 32) == "support"


@pytest.mark.parametrize(
    ("confidence", "queued"),
    [
        pytest.param("0.20", False, id="mumbled"),
        pytest.param("0.50", True, id="at-the-threshold"),
        pytest.param(None, True, id="no-confidence-sent"),
        pytest.param("not-a-number", True, id="garbled-confidence"),
    ],
)
def test_speech_below_the_confidence_threshold_is_no_match(
    twilio: Twilio, confidence: str | None, queued: bool
) -> None:
    """Speech scored below `menu.min_confidence` gets the invalid prompt; speech at it, or
    with no usable score (Twilio does not promise one), picks its option."""
    menu = english_main_menu(twilio)
    form = call_form(SpeechResult="support please")
    if confidence is not None:
        form["Confidence"] = confidence
    answer = twilio.post(action(menu), form).text
    assert (verbs(answer)[-1] == "Enqueue") is queued
    if not queued:
        assert heard(answer).startswith("Sorry, that is not a valid choice.")


def test_a_retried_invalid_choice_is_counted_once(twilio: Twilio) -> None:
    """Twilio retrying a step gets the same TwiML and does not use up a retry."""
    menu = english_main_menu(twilio)
    first = press(twilio, menu, "7")
    retried = press(twilio, menu, "7")
    assert retried == first
    second = press(twilio, first, "8")
    assert verbs(second) == ["Gather"], "two invalid inputs must not exhaust three retries"


def test_no_input_runs_the_node_action_when_retries_run_out(twilio: Twilio) -> None:
    """Silence at the main menu re-prompts, then sends the caller to support as configured."""
    menu = english_main_menu(twilio)
    first = press(twilio, menu, "")
    assert heard(first).startswith("Sorry, I didn't hear a choice.")
    third = press(twilio, press(twilio, first, ""), "")
    assert verbs(third)[-1] == "Enqueue"


def test_voicemail_is_recorded_and_stored_exactly_once(twilio: Twilio, r: redis.Redis) -> None:
    """Leaving a message stores it against the call once, even when the action is retried."""
    record_twiml = press(twilio, english_main_menu(twilio), "4")
    assert verbs(record_twiml) == ["Say", "Record"]
    form = call_form(RecordingUrl="https://api.twilio.com/rec/RE1", RecordingDuration="12")
    url = action(record_twiml, "Record")
    first = twilio.post(url, form).text
    again = twilio.post(url, form).text
    assert first == again
    assert "Thank you" in heard(first)
    entries = streams.entries(r, Keys().voicemails())
    assert len(entries) == 1
    assert entries[0][1]["url"] == "https://api.twilio.com/rec/RE1"
    assert entries[0][1]["from"] == UNKNOWN


KL = ZoneInfo("Asia/Kuala_Lumpur")


@pytest.mark.parametrize(
    ("moment", "is_open"),
    [
        pytest.param(datetime(2026, 11, 29, 10, 0, tzinfo=KL), False, id="sunday"),
        pytest.param(datetime(2026, 11, 29, 23, 30, tzinfo=UTC), False, id="utc-sunday-kl-0730"),
        pytest.param(datetime(2026, 11, 30, 0, 30, tzinfo=UTC), True, id="utc-monday-kl-0830"),
        pytest.param(datetime(2026, 12, 25, 10, 0, tzinfo=KL), False, id="holiday"),
        pytest.param(datetime(2026, 12, 24, 11, 0, tzinfo=KL), True, id="special-day-morning"),
        pytest.param(datetime(2026, 12, 24, 13, 0, tzinfo=KL), False, id="special-day-afternoon"),
        pytest.param(datetime(2026, 11, 28, 12, 59, tzinfo=KL), True, id="saturday-before-one"),
        pytest.param(datetime(2026, 11, 28, 13, 0, tzinfo=KL), False, id="saturday-at-one"),
    ],
)
def test_business_hours_follow_the_business_timezone(
    twilio: Twilio, clock: ManualClock, moment: datetime, is_open: bool
) -> None:
    """The hours branch uses Kuala Lumpur time, holidays and special days, not UTC."""
    clock.set(moment)
    text = english_main_menu(twilio)
    if is_open:
        assert "For billing, press 1" in heard(text)
    else:
        assert "Our office is closed" in heard(text)
        assert verbs(text)[-1] == "Record"


@pytest.mark.parametrize(
    ("path", "form", "status"),
    [
        pytest.param("/voice/incoming", {"From": UNKNOWN}, 400, id="missing-callsid"),
        pytest.param("/voice/menu?step=1", {"Digits": "1"}, 400, id="menu-missing-callsid"),
        pytest.param("/voice/status", {"CallStatus": "completed"}, 400, id="status-missing-sid"),
    ],
)
def test_requests_missing_fields_get_a_clear_400(
    twilio: Twilio, path: str, form: dict[str, str], status: int
) -> None:
    """A signed request without the fields Twilio always sends is refused with 400."""
    response = twilio.post(path, form)
    assert response.status_code == status
    assert "CallSid" in response.json()["error"]


def test_oversized_body_is_refused_with_413(twilio: Twilio) -> None:
    """A body far larger than any Twilio webhook is refused before it is parsed."""
    form = call_form(Padding="x" * 100_000)
    assert twilio.post("/voice/incoming", form).status_code == 413


def test_non_form_body_is_refused_with_415(twilio: Twilio) -> None:
    """A JSON body is not a Twilio webhook."""
    response = twilio.http.post("/voice/incoming", json={"CallSid": "CA1"})
    assert response.status_code == 415


def test_garbage_digits_get_a_polite_re_prompt(twilio: Twilio) -> None:
    """Digits that are not a menu key are treated as an invalid choice, never a 500."""
    again = press(twilio, english_main_menu(twilio), "<script>&")
    assert heard(again).startswith("Sorry, that is not a valid choice.")


@pytest.mark.parametrize("step", ["abc", "999", "-1", "", "%C2%B2", "%D9%A1"])
def test_stale_or_garbage_step_repeats_the_question(twilio: Twilio, step: str) -> None:
    """An action URL with a step the call is not at gets the current question, unchanged."""
    menu = english_main_menu(twilio)
    response = twilio.post(f"/voice/menu?step={step}", call_form(Digits="2"))
    assert response.status_code == 200
    assert action(response.text) == action(menu)
    assert "Billing 1, support 2" in heard(response.text)


def test_unknown_call_on_a_menu_url_starts_over_politely(twilio: Twilio) -> None:
    """A menu action for a call the service does not know apologises and starts the menu."""
    response = twilio.post("/voice/menu?step=3", call_form("CA" + "9" * 32, Digits="1"))
    assert response.status_code == 200
    assert heard(response.text).startswith("Sorry, something went wrong on our side.")
    assert "For English, press 1" in heard(response.text)


def test_status_callbacks_are_applied_once(twilio: Twilio, r: redis.Redis) -> None:
    """Duplicate status callbacks are accepted and recorded once."""
    sid = "CA" + "1" * 32
    twilio.post("/voice/incoming", call_form(sid))
    form = call_form(sid, CallStatus="completed", CallDuration="42", SequenceNumber="3")
    assert twilio.post("/voice/status", form).status_code == 204
    assert twilio.post("/voice/status", form).status_code == 204
    status = cast(dict[str, str], r.hgetall(Keys().call_status(sid)))  # a decoding client
    assert status["status"] == "completed"
    assert status["duration_s"] == "42"
    assert len([k for k in status if k.startswith("seen:")]) == 1


def test_healthz_reports_store_and_config_version(server: LiveServer) -> None:
    """/healthz says the store is reachable and which config version is live."""
    body = httpx.get(server.url + "/healthz").json()
    assert body["status"] == "ok"
    assert body["store"] == "ok"
    assert len(body["config_version"]) == 12


@pytest.mark.parametrize(
    "query",
    [
        pytest.param("tries=%C2%B2", id="superscript-tries"),
        pytest.param("tries=abc", id="word-tries"),
        pytest.param("tries=", id="empty-tries"),
    ],
)
def test_a_garbled_tries_count_asks_for_the_number_again(twilio: Twilio, query: str) -> None:
    """A callback number entry whose `tries` is not a number is refused politely, not a 500."""
    twilio.post("/voice/incoming", call_form())
    url = f"/voice/callback/entered?mode=menu&queue=billing&{query}"
    response = twilio.post(url, call_form(Digits="12"))
    assert response.status_code == 200, response.text
    assert "Please enter the number" in heard(response.text) or verbs(response.text)


@pytest.mark.parametrize(
    "path",
    [
        "/voice/callback/answered",
        "/voice/callback/dialed",
        "/voice/callback/customer",
        "/voice/callback/status",
    ],
)
@pytest.mark.parametrize("attempt", ["%C2%B2", "x", "-"])
def test_a_garbled_callback_attempt_is_a_stale_request(
    twilio: Twilio, path: str, attempt: str
) -> None:
    """A callback webhook whose `attempt` is not a number is treated as stale, not a 500."""
    response = twilio.post(f"{path}?cb=CBunknown&attempt={attempt}", call_form())
    assert response.status_code in (200, 204), response.text


def test_a_queue_removed_by_hot_reload_apologises_and_asks_again(
    server: LiveServer, twilio: Twilio, config_dir: Path
) -> None:
    """A caller in the menu whose chosen queue was removed meanwhile hears an apology and
    the menu of the live config again, never an application error."""
    menu = english_main_menu(twilio)
    before = server.app.state.services.registry.version
    remove_sales_queue(config_dir)
    svc = server.app.state.services
    deadline = time.monotonic() + 5
    while svc.registry.version == before:
        assert time.monotonic() < deadline, "the edit did not go live"
        time.sleep(0.02)
    svc.run(svc.sync_routing())  # what the background tick does within 100 ms
    response = twilio.post(action(menu), call_form(Digits="3"))
    assert response.status_code == 200, response.text
    assert heard(response.text).startswith("Sorry, something went wrong on our side.")
    assert "For billing, press 1" in heard(response.text)
    assert "sales" not in heard(response.text)
    again = press(twilio, response.text, "3")
    assert verbs(again)[-1] == "Record", "the live menu's option 3 leaves a message"


def remove_sales_queue(config_dir: Path) -> None:
    """The sales queue goes, and the menu's option 3 takes messages instead."""
    queues = config_dir / "queues.yaml"
    text = queues.read_text(encoding="utf-8")
    queues.write_text(text[: text.index("  sales:")], encoding="utf-8")
    callbacks = config_dir / "callbacks.yaml"
    callbacks.write_text(
        callbacks.read_text(encoding="utf-8").replace("[sales]", "[]"), encoding="utf-8"
    )
    menu = config_dir / "menu.yaml"
    text = menu.read_text(encoding="utf-8")
    text = text.replace("then: {queue: {name: sales}}", "then: {goto: leave_message}")
    text = text.replace("For sales, press 3.", "To leave a message, press 3.")
    text = text.replace("sales 3, message 4", "message 3 or 4")
    menu.write_text(text, encoding="utf-8")
