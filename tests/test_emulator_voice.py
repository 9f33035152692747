"""Say, Play, Pause, Gather, Record, Redirect and Hangup as the emulator executes them."""

from __future__ import annotations

import pytest

from ivr.devtools.emulator import Emulator
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    PUBLIC,
    CannedApp,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)

MENU = twiml('<Gather numDigits="1"><Say>Press 1 for sales</Say></Gather><Say>No input</Say>')


def test_say_is_heard_with_voice_and_language(app: CannedApp, tw: Emulator) -> None:
    """A <Say> is heard with its text, voice and language, then the call ends."""
    voice = "Google.ms-MY-Standard-A"
    app.route("/voice", twiml(f'<Say voice="{voice}" language="ms-MY">Selamat datang</Say>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    heard = call.hears("selamat")
    assert (heard.voice, heard.language) == (voice, "ms-MY")
    tw.run_until_idle()
    assert call.status == "completed"


def test_first_webhook_is_signed_with_twilio_parameters(app: CannedApp, tw: Emulator) -> None:
    """The incoming-call webhook carries Twilio's parameters and a valid public-URL signature."""
    app.route("/voice", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS, caller_name="ALI")
    hit = app.hits_to("/voice")[0]
    assert hit.signed
    assert hit.params["CallSid"] == call.sid and len(call.sid) == 34
    assert hit.params["CallStatus"] == "ringing"
    assert hit.params["Direction"] == "inbound"
    assert hit.params["ApiVersion"] == "2010-04-01"
    assert (hit.params["From"], hit.params["To"]) == (CALLER, BUSINESS)
    assert (hit.params["Caller"], hit.params["Called"], hit.params["CallerName"]) == (
        CALLER,
        BUSINESS,
        "ALI",
    )


def test_gather_posts_digits_to_current_url_by_default(app: CannedApp, tw: Emulator) -> None:
    """Without an action, Gather posts Digits back to the document's own URL."""
    app.route("/voice", lambda hit: twiml("<Say>Thanks</Say>") if "Digits" in hit.params else MENU)
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("1")
    call.hears("Thanks")
    assert app.hits_to("/voice")[1].params["Digits"] == "1"
    assert app.hits_to("/voice")[1].params["CallStatus"] == "in-progress"


def test_gather_without_input_falls_through(app: CannedApp, tw: Emulator) -> None:
    """With no input and actionOnEmptyResult false, execution continues with the next verb."""
    app.route("/voice", MENU)
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hears("Press 1")
    call.hears("No input")
    assert len(app.hits_to("/voice")) == 1


def test_gather_timeout_starts_after_nested_prompts(app: CannedApp, tw: Emulator) -> None:
    """The 5 s timeout runs after the nested prompt has finished playing."""
    app.route("/voice", twiml('<Gather><Pause length="20"/></Gather><Say>Bye</Say>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.wait(24.9)
    assert "Bye" not in call.transcript()
    call.wait(0.2)
    assert call.transcript()[-1] == "Bye"


def test_gather_action_on_empty_result(app: CannedApp, tw: Emulator) -> None:
    """actionOnEmptyResult posts to the action even when nothing was entered."""
    app.route("/voice", twiml('<Gather action="/menu" actionOnEmptyResult="true"/>'))
    app.route("/menu", twiml("<Hangup/>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(5)
    assert app.hits_to("/menu")[0].params["Digits"] == ""


def test_finish_on_key_is_not_included(app: CannedApp, tw: Emulator) -> None:
    """The default finishOnKey # ends the input and is left out of Digits."""
    app.route("/voice", twiml('<Gather action="/menu"><Say>Account number</Say></Gather>'))
    app.route("/menu", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("1234#")
    assert app.hits_to("/menu")[0].params["Digits"] == "1234"


def test_num_digits_completes_gather(app: CannedApp, tw: Emulator) -> None:
    """numDigits ends the gather as soon as that many keys are pressed."""
    app.route("/voice", twiml('<Gather action="/menu" numDigits="3"/>'))
    app.route("/menu", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("987")
    assert app.hits_to("/menu")[0].params["Digits"] == "987"
    assert call.status == "completed"


def test_digits_are_submitted_on_timeout(app: CannedApp, tw: Emulator) -> None:
    """Keys pressed before the timeout are submitted when it expires."""
    app.route("/voice", twiml('<Gather action="/menu" timeout="3"/>'))
    app.route("/menu", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("42")
    assert not app.hits_to("/menu")
    call.wait(3)
    assert app.hits_to("/menu")[0].params["Digits"] == "42"


def test_barge_in_interrupts_prompt(app: CannedApp, tw: Emulator) -> None:
    """A key pressed while a nested prompt plays completes the gather at once."""
    app.route(
        "/voice", twiml('<Gather action="/menu" numDigits="1"><Play>/long.mp3</Play></Gather>')
    )
    app.route("/menu", twiml("<Say>Got it</Say>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    started = tw.clock.now()
    call.press("2")
    call.hears("Got it")
    assert tw.clock.now() - started < 1


def test_speech_gather_posts_result_and_confidence(app: CannedApp, tw: Emulator) -> None:
    """A speech gather posts SpeechResult and Confidence."""
    app.route("/voice", twiml('<Gather input="speech" action="/menu" hints="billing"/>'))
    app.route("/menu", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.say("billing please", confidence=0.92)
    params = app.hits_to("/menu")[0].params
    assert (params["SpeechResult"], params["Confidence"]) == ("billing please", "0.92")


def test_durations_follow_the_timing_model(app: CannedApp, tw: Emulator) -> None:
    """Say takes 0.4 s a word, Play 10 s a loop and Pause its length."""
    app.route("/voice", twiml('<Say>one two</Say><Play loop="2">/a.mp3</Play><Pause length="3"/>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.run_until_idle()
    assert [round(u.at - call.heard[0].at, 2) for u in call.heard] == [0.0, 0.8, 20.8]
    assert call.heard[1].url == PUBLIC + "/a.mp3"


def test_redirect_fetches_relative_url(app: CannedApp, tw: Emulator) -> None:
    """A relative Redirect resolves against the current document URL."""
    app.route("/voice", twiml("<Redirect>next?step=2</Redirect>"))
    app.route("/next", twiml("<Say>Second page</Say>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hears("Second page")
    hit = app.hits_to("/next")[0]
    assert hit.query == "step=2" and hit.signed


def test_redirect_get_puts_params_in_query(app: CannedApp, tw: Emulator) -> None:
    """A GET redirect sends the parameters in the signed query string."""
    app.route("/voice", twiml(f'<Redirect method="GET">{PUBLIC}/next</Redirect>'))
    app.route("/next", twiml("<Hangup/>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    hit = app.hits_to("/next")[0]
    assert hit.method == "GET" and hit.signed and hit.params["To"] == BUSINESS


def test_record_posts_recording(app: CannedApp, tw: Emulator) -> None:
    """Record posts RecordingUrl, RecordingDuration and the finishing key."""
    app.route("/voice", twiml('<Record action="/rec" maxLength="60"/>'))
    app.route("/rec", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.say("leaving a message")
    call.wait(4)
    call.press("#")
    params = app.hits_to("/rec")[0].params
    assert params["Digits"] == "#"
    assert params["RecordingDuration"] == "4"
    assert params["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/Accounts/")


def test_reject_busy_ends_call_busy(app: CannedApp, tw: Emulator) -> None:
    """<Reject reason="busy"> ends an unanswered call with status busy."""
    app.route("/voice", twiml('<Reject reason="busy"/>'))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    assert call.status == "busy"


def test_completed_status_callback_for_inbound_call(app: CannedApp, tw: Emulator) -> None:
    """The number's status callback gets completed with CallDuration when the call ends."""
    app.route("/voice", twiml('<Pause length="7"/>'))
    app.route("/status", "")
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(10)
    (hit,) = app.hits_to("/status")
    assert hit.signed
    assert (hit.params["CallStatus"], hit.params["CallDuration"]) == ("completed", "7")
    assert hit.params["SequenceNumber"] == "0"
    assert hit.params["CallbackSource"] == "call-progress-events"


def test_caller_hangup_ends_call(app: CannedApp, tw: Emulator) -> None:
    """call.hangup() during a prompt ends the call as completed."""
    app.route("/voice", twiml('<Pause length="60"/>'))
    app.route("/status", "")
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.wait(5)
    call.hangup()
    assert call.status == "completed" and call.duration == 5


def test_app_error_on_500(app: CannedApp, tw: Emulator) -> None:
    """A 500 from the app is heard as Twilio's application error and ends the call."""
    from starlette.responses import Response

    app.route("/voice", lambda hit: Response("boom", status_code=500))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hears("an application error has occurred")
    tw.run_until_idle()
    assert call.status == "completed"
    assert tw.errors and "500" in str(tw.errors[0])
    with pytest.raises(AssertionError):
        tw.assert_no_errors()


def test_non_twiml_reply_is_an_application_error(app: CannedApp, tw: Emulator) -> None:
    """A JSON reply is not TwiML: the caller hears the application error."""
    from starlette.responses import JSONResponse

    app.route("/voice", lambda hit: JSONResponse({"ok": True}))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hears("application error")


def test_replay_sends_each_webhook_twice(app: CannedApp, tw: Emulator) -> None:
    """With replay_webhooks every webhook arrives twice, identical."""
    tw.replay_webhooks = True
    app.route("/voice", twiml("<Hangup/>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    first, second = app.hits_to("/voice")
    assert first.params == second.params
