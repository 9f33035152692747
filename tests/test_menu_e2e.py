"""Callers walking the sample menu through the Twilio emulator, in all three languages."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis

from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from tests.conftest import BUSINESS
from tests.streams import entries

KL = ZoneInfo("Asia/Kuala_Lumpur")


@pytest.mark.parametrize(
    ("key", "menu", "queue_word", "queue"),
    [
        pytest.param("1", "For billing, press 1", "support", "support", id="english"),
        pytest.param("2", "Untuk bil, tekan 1", "sokongan", "support", id="malay"),
        pytest.param("3", "ฝ่ายบิล กด 1", "เทคนิค", "support", id="thai"),
    ],
)
def test_caller_chooses_a_language_and_reaches_a_queue_by_voice(
    tw: Emulator, key: str, menu: str, queue_word: str, queue: str
) -> None:
    """A caller picks a language by key, hears the menu in it, and says their way to a queue."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.hears("For English, press 1")
    call.press(key)
    call.hears(menu)
    call.say(f"... {queue_word} ...")
    assert call.queue is not None
    tw.assert_no_errors()


def test_known_caller_goes_straight_to_the_menu_in_their_language(tw: Emulator) -> None:
    """Somchai is greeted by name in Thai and never hears the language menu."""
    call = tw.dial(from_="+66812345678", to=BUSINESS)
    call.hears("ยินดีต้อนรับกลับสู่ Acme Telco คุณSomchai")
    call.hears("ฝ่ายบิล กด 1")
    assert not any("For English" in u.text for u in call.heard)
    assert call.heard[0].language == "th-TH"


def test_account_number_is_collected_before_queueing(tw: Emulator, r: redis.Redis) -> None:
    """The caller keys an account number once, and it is kept on the call for the agent."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("1")
    call.hears("8 digit account number")
    call.press("20261124#")
    call.wait(5)
    assert call.queue is not None
    session = r.get(Keys().call(call.sid)) or ""
    assert '"account_number":"20261124"' in session


def test_silence_at_the_language_menu_defaults_to_english(tw: Emulator) -> None:
    """A caller who presses nothing hears the re-prompts, then continues in English."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.hears("For English, press 1")
    call.wait(30)
    call.hears("Sorry, we did not hear anything.")
    call.wait(60)
    call.hears("For billing, press 1")


def test_closed_office_takes_a_voicemail(tw: Emulator, clock: ManualClock, r: redis.Redis) -> None:
    """On Sunday the caller hears the closed message and can leave a voicemail that is stored."""
    clock.set(datetime(2026, 11, 29, 11, 0, tzinfo=KL))
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("2")
    call.hears("Pejabat kami telah ditutup")
    call.hears("Sila tinggalkan pesanan anda")
    call.wait(3)
    call.press("#")
    call.hears("Terima kasih")
    tw.run_until_idle()
    assert call.status == "completed"
    (entry,) = entries(r, Keys().voicemails())
    assert entry[1]["language"] == "ms"
    tw.assert_no_errors()


def test_retried_webhooks_change_nothing(tw: Emulator) -> None:
    """With every webhook sent twice, the caller's path is the same and counted once."""
    call = tw.dial(from_="+60199999999", to=BUSINESS, replay=True)
    call.press("1")
    call.press("7")
    call.hears("Sorry, that is not a valid choice.")
    call.press("8")
    call.hears("Sorry, that is not a valid choice.")
    call.press("3")
    call.wait(5)
    assert call.queue is not None, "two invalid choices, each sent twice, must not use up three"
    assert not any("could not help" in u.text for u in call.heard)
    tw.assert_no_errors()


def test_hanging_up_is_recorded_from_the_status_callback(tw: Emulator, r: redis.Redis) -> None:
    """When the caller hangs up, Twilio's completed status callback is recorded for the call."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.hears("For English, press 1")
    call.wait(2)
    call.hangup()
    tw.run_until_idle()
    assert r.hget(Keys().call_status(call.sid), "status") == "completed"


def back_at_the_language_menu_in_thai(tw: Emulator) -> Call:
    """A caller who chose Thai, then pressed 9 to change language."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    call.press("3")
    call.hears("ฝ่ายบิล กด 1")
    call.press("9")
    call.hears("สำหรับภาษาไทย กด 3")
    return call


def test_thai_callers_invalid_key_reprompt_is_thai(tw: Emulator) -> None:
    """A wrong key at the language menu is answered in Thai, by the Thai voice."""
    call = back_at_the_language_menu_in_thai(tw)
    call.press("7")
    sorry = call.hears("ขออภัย")
    assert (sorry.language, sorry.voice) == ("th-TH", "Google.th-TH-Standard-A")
    english = [u.text for u in call.heard if "not one of the choices" in u.text]
    assert english == []
    tw.assert_no_errors()


@pytest.mark.parametrize(
    "words",
    [
        pytest.param("ภาษาไทย", id="thai-name"),
        pytest.param("Bahasa Melayu", id="malay-name"),
        pytest.param("english", id="english-keyword"),
    ],
)
def test_language_menu_understands_every_language_once_the_call_is_thai(
    tw: Emulator, words: str
) -> None:
    """Once the call is in Thai, a language is still picked by saying its name or keyword."""
    call = back_at_the_language_menu_in_thai(tw)
    call.say(words)
    short_menu = {"ภาษาไทย": "บิล 1 เทคนิค 2", "Bahasa Melayu": "Bil 1, sokongan 2"}
    call.hears(short_menu.get(words, "Billing 1, support 2"))
    tw.assert_no_errors()
