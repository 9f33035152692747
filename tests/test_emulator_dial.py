"""Dial to Number and Client legs: ringing, timeouts, busy, bridging and whispers."""

from __future__ import annotations

from ivr.devtools.emulator import Emulator
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    CannedApp,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)

DIAL_ALICE = twiml('<Dial action="/dialed" timeout="20"><Client>alice</Client></Dial>')


def test_unanswered_dial_reports_no_answer(app: CannedApp, tw: Emulator) -> None:
    """A callee that never answers gives DialCallStatus=no-answer after the timeout."""
    app.route("/voice", DIAL_ALICE)
    app.route("/dialed", twiml("<Say>Nobody is available</Say>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    alice = tw.device("client:alice")
    assert alice.ringing is not None and alice.ringing.parent is call
    tw.advance(19.9)
    assert not app.hits_to("/dialed")
    tw.advance(0.1)
    params = app.hits_to("/dialed")[0].params
    assert params["DialCallStatus"] == "no-answer" and params["DialBridged"] == "false"
    call.hears("Nobody is available")
    assert alice.ringing is None


def test_busy_callee(app: CannedApp, tw: Emulator) -> None:
    """A busy device makes the Dial report busy at once."""
    app.route("/voice", DIAL_ALICE)
    app.route("/dialed", twiml("<Hangup/>"))
    tw.device("client:alice").auto = "busy"
    tw.dial(from_=CALLER, to=BUSINESS)
    assert app.hits_to("/dialed")[0].params["DialCallStatus"] == "busy"


def test_answered_dial_completes_with_duration(app: CannedApp, tw: Emulator) -> None:
    """An answered Dial bridges both legs and reports completed with the talk time."""
    app.route("/voice", DIAL_ALICE)
    app.route("/dialed", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(3)
    leg = tw.device("client:alice").answer()
    assert call.bridge is not None and call.bridge.other(call) is leg
    assert leg.direction == "outbound-dial" and leg.from_ == CALLER
    tw.advance(95)
    tw.device("client:alice").hangup()
    params = app.hits_to("/dialed")[0].params
    assert params["DialCallStatus"] == "completed" and params["DialCallSid"] == leg.sid
    assert (params["DialCallDuration"], params["DialBridged"]) == ("95", "true")
    assert call.status == "completed" and leg.status == "completed"


def test_dial_without_action_continues(app: CannedApp, tw: Emulator) -> None:
    """Without an action, the caller goes on to the next verb when the callee hangs up."""
    app.route("/voice", twiml("<Dial><Number>+60199999999</Number></Dial><Say>Call ended</Say>"))
    phone = tw.device("+60199999999")
    phone.auto = "answer"
    phone.answer_after = 2
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(10)
    phone.hangup()
    call.hears("Call ended")


def test_caller_hangup_ends_callee(app: CannedApp, tw: Emulator) -> None:
    """When the caller hangs up a bridged Dial, the callee leg ends too."""
    app.route("/voice", DIAL_ALICE)
    app.route("/dialed", "")
    call = tw.dial(from_=CALLER, to=BUSINESS)
    leg = tw.device("client:alice").answer()
    call.hangup()
    assert leg.status == "completed"
    assert app.hits_to("/dialed")[0].params["DialCallStatus"] == "completed"


def test_whisper_runs_on_callee_before_bridge(app: CannedApp, tw: Emulator) -> None:
    """The Client url whisper plays to the callee and the bridge waits for it."""
    app.route("/voice", twiml('<Dial><Client url="/whisper">alice</Client></Dial>'))
    app.route(
        "/whisper", twiml('<Gather numDigits="1" action="/accept"><Say>Press 1</Say></Gather>')
    )
    app.route("/accept", "<Response/>")
    call = tw.dial(from_=CALLER, to=BUSINESS)
    alice = tw.device("client:alice")
    leg = alice.answer()
    leg.hears("Press 1")
    assert call.bridge is None
    hit = app.hits_to("/whisper")[0]
    assert hit.params["ParentCallSid"] == call.sid and hit.params["Direction"] == "outbound-dial"
    leg.press("1")
    assert app.hits_to("/accept")[0].params["Digits"] == "1"
    assert call.bridge is not None


def test_whisper_hangup_prevents_bridge(app: CannedApp, tw: Emulator) -> None:
    """A whisper that hangs up ends the callee leg and the Dial is not bridged."""
    app.route(
        "/voice", twiml('<Dial action="/dialed"><Client url="/whisper">alice</Client></Dial>')
    )
    app.route("/whisper", twiml("<Say>Declining</Say><Hangup/>"))
    app.route("/dialed", twiml("<Hangup/>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.device("client:alice").answer()
    tw.advance(2)
    params = app.hits_to("/dialed")[0].params
    assert params["DialBridged"] == "false"
    assert call.status == "completed"


def test_a_dialled_leg_reports_only_completed_unless_asked(app: CannedApp, tw: Emulator) -> None:
    """A noun's statusCallback without statusCallbackEvent gets `completed` alone."""
    app.route("/voice", twiml('<Dial><Client statusCallback="/leg">alice</Client></Dial>'))
    app.route("/leg", "")
    tw.device("client:alice").auto = "answer"
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(5)
    call.hangup()
    tw.run_until_idle()
    hits = app.hits_to("/leg")
    assert [h.params["CallStatus"] for h in hits] == ["completed"]
    assert hits[0].params["SequenceNumber"] == "0" and hits[0].params["ParentCallSid"] == call.sid


def test_a_dialled_leg_reports_the_events_it_asks_for(app: CannedApp, tw: Emulator) -> None:
    """statusCallbackEvent="initiated ringing answered completed" brings all four, numbered."""
    events = "initiated ringing answered completed"
    app.route(
        "/voice",
        twiml(f'<Dial><Number statusCallback="/leg" statusCallbackEvent="{events}">'
              "+60188888888</Number></Dial>"),
    )  # fmt: skip
    app.route("/leg", "")
    tw.device("+60188888888").auto = "answer"
    tw.device("+60188888888").answer_after = 3
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(10)
    call.hangup()
    tw.run_until_idle()
    hits = app.hits_to("/leg")
    assert [h.params["CallStatus"] for h in hits] == [
        "initiated", "ringing", "in-progress", "completed",
    ]  # fmt: skip
    assert [h.params["SequenceNumber"] for h in hits] == ["0", "1", "2", "3"]
    assert all(h.params["Direction"] == "outbound-dial" for h in hits)
