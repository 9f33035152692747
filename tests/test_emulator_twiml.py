"""TwiML validation: what Twilio rejects fails loudly with the verb and the rule."""

from __future__ import annotations

import pytest

from ivr.core.errors import TwiMLError
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.twiml import parse
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    CannedApp,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)


@pytest.mark.parametrize(
    ("document", "context", "verb", "rule"),
    [
        pytest.param("<Reply/>", "call", "Reply", "root", id="bad-root"),
        pytest.param(twiml("<say>hi</say>"), "call", "say", "not a TwiML verb", id="lowercase"),
        pytest.param(twiml("<Gather><Gather/></Gather>"), "call", "Gather", "nested", id="nest"),
        pytest.param(twiml("<Gather><Dial>1</Dial></Gather>"), "call", "Gather", "nested",
                     id="dial-in-gather"),
        pytest.param(twiml('<Gather numDigits="one"/>'), "call", "Gather", "numDigits",
                     id="num-digits"),
        pytest.param(twiml("<Dial>+601</Dial>"), "whisper", "Dial", "whisper", id="whisper"),
        pytest.param(twiml("<Enqueue>q</Enqueue>"), "wait", "Enqueue", "waitUrl", id="wait"),
        pytest.param(twiml("<Pause length='0'/>"), "call", "Pause", "positive", id="pause"),
        pytest.param(twiml("<Redirect/>"), "call", "Redirect", "URL", id="redirect"),
        pytest.param(twiml("<Say>hi</Say>oops"), "call", "Response", "text", id="stray-text"),
        pytest.param("<Response><Say>", "call", "Response", "well-formed", id="xml"),
        pytest.param(twiml('<Say voice="Polly.Joanna" language="ms-MY">Hai</Say>'), "call",
                     "Say", "no voice Polly.Joanna for language ms-MY", id="no-malay-polly"),
    ],
)  # fmt: skip
def test_invalid_twiml_names_verb_and_rule(
    document: str, context: str, verb: str, rule: str
) -> None:
    """Each invalid document raises TwiMLError naming the verb and the broken rule."""
    with pytest.raises(TwiMLError) as caught:
        parse(document, context)
    assert caught.value.verb == verb and rule in caught.value.rule


def test_valid_document_parses() -> None:
    """A typical IVR document parses into verbs with their nested prompts."""
    doc = parse(twiml('<Gather numDigits="1"><Say>Press 1</Say><Pause/></Gather><Hangup/>'))
    assert [v.tag for v in doc.children] == ["Gather", "Hangup"]
    assert [c.tag for c in doc.children[0].children] == ["Say", "Pause"]


def test_invalid_twiml_from_app_raises_on_next_call(app: CannedApp, tw: Emulator) -> None:
    """Invalid TwiML from the app is recorded and raised from the next public API call."""
    app.route("/voice", twiml('<Gather action="/menu"><Gather/></Gather>'))
    with pytest.raises(TwiMLError) as caught:
        tw.dial(from_=CALLER, to=BUSINESS)
    assert caught.value.verb == "Gather"
    assert tw.errors == [caught.value]
    call = tw.calls[0]
    call.hears("application error")


def test_dial_in_whisper_fails_loudly(app: CannedApp, tw: Emulator) -> None:
    """A whisper containing <Dial> raises TwiMLError from the next API call."""
    app.route("/voice", twiml('<Dial><Client url="/whisper">alice</Client></Dial>'))
    app.route("/whisper", twiml("<Dial>+60111</Dial>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.device("client:alice").auto = "answer"
    with pytest.raises(TwiMLError, match="whisper"):
        tw.device("client:alice").answer()
