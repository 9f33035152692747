"""A whole call in a fourth language: every string the caller hears or reads is in it.

Indonesian is added to the sample config with every prompt and phrase marked `[id]`
(`tests.phrases_helpers`), so a phrase that fell back to English shows at once.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from callbacks.inprocess import JobRunner as SurveyJobs
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from tests.callbacks_helpers import JobRunner, callback_config
from tests.conftest import BUSINESS
from tests.phrases_helpers import LANGUAGE_KEY, MARK, SAY_LANGUAGE, VOICE, add_language, add_phrases
from tests.test_callbacks_e2e import busy_alice

CALLER = "+60176543210"


@pytest.fixture(name="config_dir")
def fixture_config_dir(tmp_path: Path) -> Path:
    """The sample config with callbacks on hold, and Indonesian with all its phrases."""
    config = callback_config(tmp_path / "config", calling_hours=None)
    add_language(config)
    add_phrases(config)
    return config


def indonesian_billing_caller(tw: Emulator) -> tuple[Call, int]:
    """A caller who picks Indonesian, then billing, and keys an account number; the call and
    the index of the first thing heard after the language was chosen."""
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hears("Untuk Bahasa Indonesia, tekan 4")
    start = len(call.heard)
    call.press(LANGUAGE_KEY)
    call.hears(MARK + "For billing, press 1")
    call.press("1")
    call.hears(MARK + "Please key in your 8 digit account number")
    call.press("20261124#")
    return call, start


def assert_all_indonesian(call: Call, start: int) -> None:
    """Every `<Say>` since `start` is marked Indonesian, in its TTS language and voice."""
    said = [u for u in call.heard[start:] if u.kind == "say"]
    assert said
    wrong = [(u.text, u.language, u.voice) for u in said if not u.text.startswith(MARK)]
    assert wrong == []
    assert {(u.language, u.voice) for u in said} == {(SAY_LANGUAGE, VOICE)}


def test_a_call_to_an_agent_and_its_survey_are_all_in_indonesian(
    tw: Emulator, server: LiveServer, job_runner: SurveyJobs
) -> None:
    """Menu, hold, the connect message and the survey SMS and its answers are Indonesian."""
    first = busy_alice(tw, server)
    call, start = indonesian_billing_caller(tw)
    call.hears(MARK + "You are next in line")
    call.hears(MARK + "To hang up and be called back")
    tw.advance(50)
    first.hangup()
    tw.advance(16)
    tw.device("client:alice").answer().press("1")
    call.hears(MARK + "Connecting you now")
    tw.advance(40)
    call.hangup()
    tw.advance(130)
    assert_all_indonesian(call, start)
    (question,) = tw.sms_to(CALLER)
    assert question.body.startswith(MARK + "Acme Telco made it easy")
    (again,) = tw.send_sms(CALLER, BUSINESS, "great")
    assert again.body.startswith(MARK + "Sorry, we didn't catch that")
    (helped,) = tw.send_sms(CALLER, BUSINESS, "IDHELP")
    assert helped.body.startswith(MARK + "Acme Telco surveys")
    (stopped,) = tw.send_sms(CALLER, BUSINESS, "idstop")
    assert stopped.body.startswith(MARK + "You will not receive any more surveys")
    tw.assert_no_errors()


def request_callback(tw: Emulator) -> Call:
    """An Indonesian billing caller on hold asks to be called back on their caller ID."""
    call, start = indonesian_billing_caller(tw)
    call.hears(MARK + "To hang up and be called back")
    call.press("1")
    call.hears(MARK + "We will call you back on")
    call.press("1")
    call.hears(MARK + "Thank you. We will call you back on")
    tw.advance(30)
    assert call.ended
    assert_all_indonesian(call, start)
    return call


def test_a_callback_request_is_all_in_indonesian(
    tw: Emulator, server: LiveServer, jobs: JobRunner
) -> None:
    """Asking to be called back from hold, its confirmation SMS and an SMS cancel word are
    Indonesian."""
    busy_alice(tw, server)
    request_callback(tw)
    (confirm,) = tw.sms_to(CALLER)
    assert confirm.body.startswith(MARK + "Acme Telco: we will call you back on")
    assert "Reply IDCANCEL to cancel" in confirm.body
    (cancelled,) = tw.send_sms(CALLER, BUSINESS, "IDCANCEL")
    assert cancelled.body == MARK + "Acme Telco: your callback has been cancelled."
    tw.assert_no_errors()


def test_the_returned_callback_greets_in_indonesian(
    tw: Emulator, server: LiveServer, jobs: JobRunner
) -> None:
    """When Alice is free and accepts the callback, the customer is greeted in Indonesian."""
    first = busy_alice(tw, server)
    request_callback(tw)
    first.hangup()
    tw.advance(17)
    tw.device("client:alice").answer().press("1")
    tw.advance(3)
    answered = tw.device(CALLER).answer()
    answered.hears(MARK + "Hello, this is Acme Telco calling you back about your Billing")
    assert_all_indonesian(answered, 0)
    tw.assert_no_errors()
