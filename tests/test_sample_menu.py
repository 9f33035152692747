"""A confused caller cannot fall out of the sample menu: wrong keys, silence, mumbling and
bad account numbers all end with a person (or, after hours, a message), never a hang-up."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import redis
from twilio.twiml.voice_response import VoiceResponse

from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import ManualClock
from ivr.core.keys import Keys
from ivr.core.session import CallSession
from ivr.core.urls import Urls
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.voice import attendant
from ivr.voice.attendant import Turn
from tests.conftest import BUSINESS, OPEN_TIME, PUBLIC_BASE, SAMPLE_CONFIG

KL = ZoneInfo("Asia/Kuala_Lumpur")
SUNDAY = datetime(2026, 11, 29, 11, 0, tzinfo=KL)
"""The sample business is closed all Sunday."""
STRANGER = "+60199999999"
SOMCHAI = "+66812345678"
"""A known caller: greeted in Thai, straight to the main menu."""
PUT_THROUGH = {
    "en": "Let me put you through to someone who can help.",
    "th": "จะโอนสายให้เจ้าหน้าที่",
}
MAIN_LONG = "For billing, press 1 or say billing."
MAIN_SHORT = "Billing 1, support 2"


def press_three_wrong_keys(call: Call, keys: tuple[str, str, str] = ("7", "8", "5")) -> None:
    for key in keys:
        call.press(key)


def queued_in(r: redis.Redis, call: Call) -> str | None:
    """The queue the service handed the call to (its session, as the agent will see it)."""
    session = json.loads(r.get(Keys().call(call.sid)) or "{}")
    return session.get("queue") if session.get("outcome") == "queued" else None


def at_the_main_menu(tw: Emulator) -> Call:
    call = tw.dial(from_=STRANGER, to=BUSINESS)
    call.press("1")
    call.hears(MAIN_LONG)
    return call


def test_three_wrong_keys_at_the_language_menu_reach_a_person(tw: Emulator, r: redis.Redis) -> None:
    """A caller who presses three keys that pick no language is put through to support."""
    call = tw.dial(from_=STRANGER, to=BUSINESS)
    call.hears("For English, press 1")
    press_three_wrong_keys(call)
    call.hears(PUT_THROUGH["en"])
    call.wait(5)
    assert queued_in(r, call) == "support" and not call.ended
    assert not any("could not help" in u.text for u in call.heard)
    tw.assert_no_errors()


@pytest.mark.parametrize(
    ("caller", "language"),
    [
        pytest.param(STRANGER, "en", id="english"),
        pytest.param(SOMCHAI, "th", id="thai-known-caller"),
    ],
)
def test_three_wrong_keys_at_the_main_menu_reach_a_person(
    tw: Emulator, r: redis.Redis, caller: str, language: str
) -> None:
    """Three wrong keys at the main menu put the caller through to support, in their language."""
    call = tw.dial(from_=caller, to=BUSINESS)
    if caller == STRANGER:
        call.press("1")
    press_three_wrong_keys(call)
    call.hears(PUT_THROUGH[language])
    call.wait(5)
    assert queued_in(r, call) == "support" and not call.ended
    tw.assert_no_errors()


def test_three_bad_account_numbers_explain_and_reach_billing(tw: Emulator, r: redis.Redis) -> None:
    """A caller whose account number fails three times is told that billing will find their
    account, and is put through to billing."""
    call = at_the_main_menu(tw)
    call.press("1")
    call.hears("8 digit account number")
    for entry in ("123#", "4567#", "99#"):
        call.press(entry)
    call.hears("our billing team, who will find your account with you")
    call.wait(5)
    assert queued_in(r, call) == "billing" and not call.ended
    tw.assert_no_errors()


def test_no_account_number_explains_and_reaches_billing(tw: Emulator, r: redis.Redis) -> None:
    """A caller who keys no account number is told what happens next before joining billing."""
    call = at_the_main_menu(tw)
    call.press("1")
    call.hears("8 digit account number")
    call.wait(120)
    call.hears("our billing team, who will find your account with you")
    call.wait(5)
    assert queued_in(r, call) == "billing"


def test_wrong_keys_after_hours_end_in_a_message_not_a_hang_up(
    tw: Emulator, clock: ManualClock
) -> None:
    """On a Sunday, three wrong keys at the language menu lead to the closed message and a
    voicemail, not to a goodbye."""
    clock.set(SUNDAY)
    call = tw.dial(from_=STRANGER, to=BUSINESS)
    press_three_wrong_keys(call)
    call.hears("Our office is closed.")
    call.hears("Please leave your message after the tone")
    assert not any("could not help" in u.text for u in call.heard)


def test_zero_replays_the_long_prompt(tw: Emulator) -> None:
    """After a wrong key (short prompt), "press 0 to hear this again" plays the whole menu."""
    call = at_the_main_menu(tw)
    call.press("7")
    call.hears("Sorry, that is not a valid choice.")
    call.hears(MAIN_SHORT)
    call.press("0")
    assert call.hears(MAIN_LONG).text.endswith("To hear this again, press 0.")
    tw.assert_no_errors()


def test_low_confidence_speech_counts_as_no_match(tw: Emulator, r: redis.Redis) -> None:
    """'support' heard with confidence 0.2 is answered as an invalid choice; said clearly,
    it reaches the support queue."""
    call = at_the_main_menu(tw)
    call.say("support", confidence=0.2)
    call.hears("Sorry, that is not a valid choice.")
    assert queued_in(r, call) is None
    call.say("support", confidence=0.8)
    call.wait(5)
    assert queued_in(r, call) == "support"
    tw.assert_no_errors()


# -- every node of the sample, walked by the attendant itself --------------------


@pytest.fixture(name="sample", scope="module")
def fixture_sample() -> Config:
    return load(SAMPLE_CONFIG)


def asking_nodes(config: Config) -> list[str]:
    return [name for name, node in config.nodes.items() if node.kind in ("menu", "collect")]


def wrong_key(config: Config, name: str) -> str:
    """A key that no option of node `name` takes, or a non-digit for a collect node."""
    node = config.nodes[name]
    taken = {o.key for o in node.options}
    return next(k for k in "0123456789*#" if k not in taken) if node.options else "*"


def turn_at(config: Config, name: str, language: str, now: datetime) -> Turn:
    call = CallSession("CA1", STRANGER, BUSINESS, now.timestamp(), config.version, language)
    call.node = call.home = name
    return Turn(config, call, now, Urls(PUBLIC_BASE), VoiceResponse())


def walk(config: Config, name: str, language: str, digits: str, now: datetime) -> Turn:
    """Answer `digits` at node `name` until the call leaves it (at most 10 times)."""
    turn = turn_at(config, name, language, now)
    for _ in range(10):
        turn.response = VoiceResponse()
        attendant.answer(turn, digits, "")
        if turn.call.node != name or turn.handoff or turn.call.outcome:
            break
    return turn


def test_the_sample_has_the_menus_these_walks_cover(sample: Config) -> None:
    """The walks below cover the language menu, the main menu and the account entry."""
    assert {"language", "main", "account"} <= set(asking_nodes(sample))


@pytest.mark.parametrize("language", ["en", "ms", "th"])
@pytest.mark.parametrize("silent", [False, True], ids=["wrong-keys", "silence"])
def test_every_asking_node_ends_with_a_person_in_office_hours(
    sample: Config, language: str, silent: bool
) -> None:
    """At every menu and collect node of the sample, running out of retries (wrong keys or
    silence) in office hours hands the caller to a queue or a callback, never a hang-up."""
    for name in asking_nodes(sample):
        digits = "" if silent else wrong_key(sample, name)
        turn = walk(sample, name, language, digits, OPEN_TIME)
        if turn.call.node != name and turn.handoff is None:
            continue  # silence at the language menu: on to the main menu, walked in its turn
        assert turn.handoff is not None or turn.call.outcome == "callback", name
        assert "Hangup" not in str(turn.response), name


@pytest.mark.parametrize("language", ["en", "ms", "th"])
def test_every_asking_node_ends_without_a_hang_up_after_hours(
    sample: Config, language: str
) -> None:
    """After hours the same wrong keys end with a voicemail, never a goodbye."""
    for name in asking_nodes(sample):
        turn = walk(sample, name, language, wrong_key(sample, name), SUNDAY)
        assert turn.call.outcome in ("queued", "voicemail", "callback"), name
        assert "Hangup" not in str(turn.response), name


def test_a_node_may_set_its_own_confidence_threshold(sample: Config) -> None:
    """`input.min_confidence` on a node overrides `menu.min_confidence` for that node."""
    main = sample.nodes["main"]
    lenient = main.model_copy(
        update={"input": main.input.model_copy(update={"min_confidence": 0.1})}
    )
    turn = turn_at(sample, "main", "en", OPEN_TIME)
    assert sample.menu.min_confidence == 0.5
    assert not attendant.heard_clearly(turn, main, 0.2)
    assert attendant.heard_clearly(turn, lenient, 0.2)
    assert attendant.heard_clearly(turn, main, None)
