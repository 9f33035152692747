"""One INFO line per Twilio webhook (`ivr.voice.access`): the call's SID, the endpoint, the
step and the outcome, on the real app served for real, with no number and no secret."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ivr.devtools.liveserver import LiveServer
from ivr.voice.access import last_verb
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE, Twilio
from tests.test_sms import inbound
from tests.test_webhooks import call_form
from tests.twiml_helpers import action

SID = "CA" + "7" * 32
CALLER = "+60123456789"


class Lines:
    """The JSON lines the app writes, read from the log handler's own buffer."""

    def __init__(self) -> None:
        self.buffer = io.StringIO()

    @property
    def text(self) -> str:
        return self.buffer.getvalue()

    def webhooks(self, count: int) -> list[dict[str, Any]]:
        """The `webhook` lines, once there are `count` of them: each is written after its
        answer has gone, so a moment after the client has it."""
        deadline = time.monotonic() + 5
        while True:
            found = [e for e in map(json.loads, self.text.splitlines()) if e["event"] == "webhook"]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(name="lines")
def fixture_lines(configured: Callable[..., None], server: LiveServer) -> Lines:
    """The server's lines from now on, as `ivr` logs them (JSON), into a buffer; the
    logging set-up is put back once the server has stopped."""
    configured(True)
    lines = Lines()
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(lines.buffer)
    return lines


def fields(entry: dict[str, Any]) -> tuple[Any, ...]:
    return entry["endpoint"], entry.get("call"), entry["step"], entry["status"], entry["outcome"]


def test_a_call_through_the_menu_is_one_line_a_webhook(lines: Lines, twilio: Twilio) -> None:
    """A new call, a key press at step 1, and a status callback log three INFO lines with
    the SID, the endpoint, the step and what the call does next; no number anywhere."""
    greeting = twilio.post("/voice/incoming", call_form(SID, caller=CALLER)).text
    menu = twilio.post(action(greeting), call_form(SID, caller=CALLER, Digits="1")).text
    twilio.post("/voice/status", call_form(SID, caller=CALLER, CallStatus="completed"))
    found = lines.webhooks(3)
    assert [fields(e) for e in found] == [
        ("incoming", SID, None, 200, last_verb(greeting.encode())),
        ("menu", SID, 1, 200, last_verb(menu.encode())),
        ("status", SID, None, 204, "noted"),
    ]
    assert {e["level"] for e in found} == {"info"}
    assert all(e["ms"] >= 0 for e in found)
    assert "60123456789" not in lines.text and AUTH_TOKEN not in lines.text


def test_a_retried_step_is_logged_again(lines: Lines, twilio: Twilio) -> None:
    """Twilio retrying a step gets the first answer back, and its own line: two requests,
    two lines with the same step."""
    greeting = twilio.post("/voice/incoming", call_form(SID)).text
    for _ in range(2):
        twilio.post(action(greeting), call_form(SID, Digits="1"))
    found = lines.webhooks(3)
    assert [(e["endpoint"], e["step"]) for e in found] == [
        ("incoming", None),
        ("menu", 1),
        ("menu", 1),
    ]


def test_a_forged_webhook_is_one_refused_line_with_its_sid(lines: Lines, twilio: Twilio) -> None:
    """An unsigned request is one INFO line, refused, naming the SID it claimed."""
    assert twilio.post("/voice/incoming", call_form(SID), sign=False).status_code == 403
    (entry,) = lines.webhooks(1)
    assert fields(entry) == ("incoming", SID, None, 403, "refused: signature")


def test_junk_in_the_sid_field_is_not_logged(lines: Lines, twilio: Twilio) -> None:
    """A forged request whose SID field is not a SID is logged without it: an attacker's
    text never reaches the log."""
    form = {"CallSid": "<script>\nFAKE LINE", "From": CALLER}
    assert twilio.post("/voice/incoming", form, sign=False).status_code == 403
    (entry,) = lines.webhooks(1)
    assert "call" not in entry and entry["outcome"] == "refused: signature"
    assert "script" not in lines.text and "FAKE" not in lines.text
    assert "60123456789" not in lines.text


def test_an_oversized_body_is_refused_and_logged(lines: Lines, server: LiveServer) -> None:
    """A body over the size cap is refused with 413, and that is its line."""
    big = {"CallSid": SID, "Junk": "x" * 70_000}
    assert httpx.post(f"{server.url}/voice/incoming", data=big).status_code == 413
    (entry,) = lines.webhooks(1)
    assert (entry["endpoint"], entry["status"], entry["outcome"]) == (
        "incoming",
        413,
        "refused: too large",
    )


def test_an_sms_is_logged_by_its_message_sid(lines: Lines, twilio: Twilio) -> None:
    """An inbound SMS has no call: its line carries the message's SID."""
    form = inbound("HELP", sid="SM" + "b" * 32)
    twilio.post(f"{PUBLIC_BASE}/sms/incoming", form)
    (entry,) = lines.webhooks(1)
    assert (entry["endpoint"], entry["message"], entry.get("call")) == (
        "sms_incoming",
        "SM" + "b" * 32,
        None,
    )


def test_console_and_health_requests_are_not_webhooks(lines: Lines, server: LiveServer) -> None:
    """Only Twilio's routes get a webhook line: /healthz and the console do not."""
    httpx.get(f"{server.url}/healthz")
    httpx.get(f"{server.url}/api/me")
    assert lines.webhooks(1) == []


@pytest.mark.parametrize(
    ("twiml", "verb"),
    [
        pytest.param(b"<Response><Say>Hi</Say><Gather/></Response>", "gather", id="gather"),
        pytest.param(b"<Response><Say>Bye</Say><Hangup/></Response>", "hangup", id="hangup"),
        pytest.param(b"<Response/>", "nothing", id="empty"),
        pytest.param(b'{"ok": true}', "answered", id="not-twiml"),
    ],
)
def test_the_outcome_is_the_last_verb(twiml: bytes, verb: str) -> None:
    """What a call does next is its answer's last top-level verb."""
    assert last_verb(twiml) == verb


def test_an_agent_leg_names_the_call_and_reservation_it_serves(
    lines: Lines, twilio: Twilio
) -> None:
    """An agent leg's webhook names its own SID, and the caller's call and the reservation
    from our URL, so one grep for the caller's SID finds the agent's side too; a query
    value not of an id's form is left out."""
    leg = "CA" + "8" * 32
    url = f"/voice/agent/done?call={SID}&res=r1a2b3"
    twilio.post(url, call_form(leg, caller="client:alice", DialCallStatus="completed"))
    twilio.post("/voice/agent/done?call=<x>&res=a%20b", call_form(leg), sign=False)
    first, junk = lines.webhooks(2)
    assert (first["endpoint"], first["call"], first["for_call"], first["reservation"]) == (
        "agent_done",
        leg,
        SID,
        "r1a2b3",
    )
    assert "for_call" not in junk and "reservation" not in junk


def test_a_flood_of_fields_is_refused_and_logged_like_any_forgery(
    lines: Lines, server: LiveServer
) -> None:
    """An unsigned body of a thousand fields is one refused line; the logging copes."""
    form = {f"f{i}": "x" for i in range(1000)} | {"CallSid": SID}
    assert httpx.post(f"{server.url}/voice/incoming", data=form).status_code == 403
    (entry,) = lines.webhooks(1)
    assert (entry["call"], entry["outcome"]) == (SID, "refused: signature")


def test_lines_logged_while_a_webhook_runs_carry_its_sid(lines: Lines, twilio: Twilio) -> None:
    """The app's own warning about a forged request names no call itself, yet carries
    the SID; the next request on the same connection (an SMS) does not inherit it."""
    twilio.post("/voice/incoming", call_form(SID), sign=False)
    twilio.post(f"{PUBLIC_BASE}/sms/incoming", inbound("HELP", sid="SM" + "c" * 32))
    _, sms = lines.webhooks(2)
    found = [json.loads(line) for line in lines.text.splitlines()]
    (warning,) = [e for e in found if e["event"] == "rejected unsigned or forged webhook"]
    assert warning["call"] == SID
    assert sms["message"] == "SM" + "c" * 32 and "call" not in sms
