"""Fuzzing every signed webhook: any form body and any query string, signed as Twilio signs,
never gets a 5xx. A caller's leg gets valid TwiML; a request that is not a call's gets a 4xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from ivr.core.errors import TwiMLError
from ivr.devtools.emulator import twiml as twiml_rules
from ivr.devtools.liveserver import LiveServer
from ivr.voice.fallback import LEGS, WEBHOOK_PREFIXES
from tests.conftest import PUBLIC_BASE, Twilio
from tests.test_webhooks import call_form, english_main_menu, press

EXAMPLES = 60
"""Requests per webhook: enough to reach every early exit, and about a second per webhook."""
IN_MENU = "CA" + "1" * 32
QUEUED = "CA" + "2" * 32
CONTEXT = {
    "waiting": "wait",
    "bridging": "dequeue",
    "music": "conference",
    "sms": "messaging",
}
"""The TwiML rules each kind of leg is held to (`ivr.devtools.emulator.twiml`); the rest: "call"."""
WHISPERS: dict[str, str] = {}
"""Paths whose answer is a <Number url> whisper document (none since agent-first callbacks
join the customer to a conference)."""
FIELDS = [
    "Digits",
    "SpeechResult",
    "Confidence",
    "CallStatus",
    "DialCallStatus",
    "QueueResult",
    "RecordingUrl",
    "RecordingDuration",
    "AnsweredBy",
    "From",
    "To",
    "Body",
    "MessageSid",
    "MessageStatus",
    "SequenceNumber",
    "CallDuration",
    "ErrorCode",
]
"""Form fields the service reads."""
PARAMS = ["step", "attempt", "tries", "res", "call", "cb", "mode", "queue", "number", "priority"]
PARAMS += ["survey", "degraded"]
"""Query values in the service's own action URLs."""
ODD = [
    "",
    "0",
    "1",
    "2",
    "9",
    "-1",
    "²",
    "١",
    "1e3",
    "99999999999999999999",
    "keep",
    "menu",
    "closing",
    "existing",
    "billing",
    "support",
    "completed",
    "busy",
    "failed",
    "bridged",
    "leave",
    "hangup",
    "machine_start",
    "+60123456789",
    "client:alice",
    "<Say>&",
    "null",
]
"""Values that mean something somewhere, or look as if they should."""

text = st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
numberish = st.one_of(
    st.sampled_from(["²", "½", "①", "١", "፫"]),
    st.text(st.characters(categories=("Nd", "No")), min_size=1, max_size=3),
)
"""Digits of any script: `"²".isdigit()` is True, and `int("²")` raises."""
value = st.one_of(st.sampled_from(ODD), numberish, text)
# `bodySHA256` in the query makes Twilio's validator check a JSON body hash instead.
param = st.one_of(st.sampled_from(PARAMS), text).filter(lambda n: n != "bodySHA256")


@st.composite
def queries(draw: st.DrawFn) -> dict[str, str]:
    query = draw(st.fixed_dictionaries({}, optional=dict.fromkeys(PARAMS, value)))
    return query | draw(st.dictionaries(param, value, max_size=2))


@st.composite
def forms(draw: st.DrawFn) -> dict[str, str]:
    sid = draw(st.sampled_from([IN_MENU, IN_MENU, QUEUED, QUEUED, "CA" + "9" * 32, "", None]))
    sid = draw(text) if sid is None else sid
    fields = draw(st.fixed_dictionaries({}, optional=dict.fromkeys(FIELDS, value)))
    form = call_form(sid, **fields, **draw(st.dictionaries(text, value, max_size=2)))
    for field in draw(st.lists(st.sampled_from(sorted(form)), max_size=2)):
        form.pop(field, None)
    return form


def webhook_paths(server: LiveServer) -> list[str]:
    """Every POST route Twilio may request, read from the app's own route table."""
    return sorted(
        r.path
        for r in server.app.routes
        if isinstance(r, Route)
        and r.path.startswith(WEBHOOK_PREFIXES)
        and "POST" in (r.methods or ())
    )


@pytest.fixture(name="callers")
def fixture_callers(twilio: Twilio) -> Iterator[Twilio]:
    """One caller at the main menu, one waiting in the support queue."""
    english_main_menu(twilio, IN_MENU)
    press(twilio, english_main_menu(twilio, QUEUED), "2", QUEUED)
    yield twilio


def test_every_webhook_has_a_degraded_answer(server: LiveServer) -> None:
    """Each webhook the app serves says who hears it, so a store outage answers each right."""
    assert set(webhook_paths(server)) == set(LEGS)


def context_of(path: str) -> str:
    """Which TwiML rules the answer to `path` must follow (see `ivr.devtools.emulator.twiml`)."""
    return WHISPERS.get(path) or CONTEXT.get(LEGS[path], "call")


def check(path: str, response: httpx.Response) -> None:
    """The answer is not a 5xx, is TwiML for the leg, or is a 4xx that says what is wrong."""
    status = response.status_code
    assert status < 500, f"{path}: {status} {response.text[:300]}"
    assert status != 403, f"{path}: the signature was refused"
    if status >= 400:
        assert json.loads(response.text)["error"]
    elif status == 200:
        assert response.headers["content-type"].startswith("application/xml"), path
        try:
            twiml_rules.parse(response.text, context_of(path))
        except TwiMLError as exc:
            raise AssertionError(f"{path}: {exc}\n{response.text}") from None


def test_fuzzing_every_signed_webhook_finds_no_server_errors(
    server: LiveServer, callers: Twilio
) -> None:
    """Signed requests with any form and any query string never get a 5xx or bad TwiML."""
    failures: list[str] = []
    for path in webhook_paths(server):

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(form=forms(), query=queries())
        def run(form: dict[str, str], query: dict[str, str]) -> None:
            url = path + ("?" + urlencode(query, quote_via=quote) if query else "")  # noqa: B023
            signature = callers.validator.compute_signature(PUBLIC_BASE + url, form)
            response = callers.http.post(url, data=form, headers={"X-Twilio-Signature": signature})
            check(path, response)  # noqa: B023

        try:
            run()
        except Exception as exc:  # one line per webhook; its shrunk example is printed above
            failures.append(f"{path}: {exc!r}"[:400])
    assert not failures, "\n".join(failures)
