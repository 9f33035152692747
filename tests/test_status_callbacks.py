"""Status callbacks of the legs the service watches: the events it asks for, and events
that come twice or out of order (Twilio numbers them but does not promise their order)."""

from __future__ import annotations

from typing import Any

import pytest
from twilio.rest import Client

from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from tests.agents import go_available, services_of
from tests.conftest import AUTH_TOKEN
from tests.test_connect_e2e import billing_caller

LEG = "CA" + "1" * 32


def taken(server: LiveServer, events: list[tuple[str, int | str | None]]) -> list[bool]:
    """Which of a leg's events (status, SequenceNumber) the store takes as news, in order."""
    svc = services_of(server)
    out = []
    for status, seq in events:
        form = {"CallStatus": status} | ({"SequenceNumber": str(seq)} if seq is not None else {})
        out.append(svc.run(svc.calls.leg_event(LEG, form)))
    return out


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        pytest.param(
            [("initiated", 0), ("ringing", 1), ("in-progress", 2), ("completed", 3)],
            [True, True, True, True],
            id="in-order",
        ),
        pytest.param(
            [("completed", 3), ("in-progress", 2), ("ringing", 1), ("initiated", 0)],
            [True, False, False, False],
            id="reversed",
        ),
        pytest.param(
            [
                ("ringing", 1),
                ("in-progress", 2),
                ("ringing", 1),
                ("completed", 3),
                ("completed", 3),
            ],
            [True, True, False, True, False],
            id="repeats",
        ),
        pytest.param(
            [("in-progress", 2), ("initiated", 0), ("ringing", 1), ("no-answer", 3)],
            [True, False, False, True],
            id="crossed",
        ),
        pytest.param(
            [("ringing", None), ("completed", None), ("ringing", None)],
            [True, True, False],
            id="unnumbered",
        ),
        pytest.param(
            [("ringing", "²"), ("completed", "x"), ("ringing", "1")],
            [True, True, False],
            id="not-a-number",  # the fuzzer's "²" is a digit to Python (isdigit), not to Lua
        ),
    ],
)
def test_a_legs_event_is_taken_once_and_never_after_its_end(
    server: LiveServer, events: list[tuple[str, int | str | None]], expected: list[bool]
) -> None:
    """An event is news unless it repeats, follows the leg's end, or is older than one taken."""
    assert taken(server, events) == expected


def test_agent_legs_ask_for_ringing_answered_and_completed(
    tw: Emulator, server: LiveServer
) -> None:
    """The REST request that rings an agent lists the events the service relies on."""
    go_available(server, "alice")
    billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").ringing
    assert leg is not None and leg.notifier is not None
    assert {"ringing", "answered", "completed"} <= getattr(leg.notifier, "events", set())


def counting_client(tw: Emulator, server: LiveServer) -> list[tuple[str, str, dict[str, Any]]]:
    """Have the app's REST requests recorded (method, uri, form) on their way to the emulator."""
    transport = tw.http_client()
    inner = transport.request
    sent: list[tuple[str, str, dict[str, Any]]] = []

    def request(method: str, uri: str, *args: Any, **kwargs: Any) -> Any:
        sent.append((method, uri, dict(kwargs.get("data") or {})))
        return inner(method, uri, *args, **kwargs)

    transport.request = request  # type: ignore[method-assign]
    svc = services_of(server)
    sid = svc.settings.twilio_account_sid or tw.account_sid
    svc.use_rest(Client(sid, AUTH_TOKEN, http_client=transport, environment={}))
    return sent


def test_late_ringing_after_the_end_does_not_touch_the_leg_again(
    tw: Emulator, server: LiveServer
) -> None:
    """An agent leg's events arriving reversed after it rang out: the stale `ringing` and
    `initiated` after `completed` change nothing (no second hang-up, one missed ring)."""
    sent = counting_client(tw, server)
    tw.status_callbacks_out_of_order = True
    go_available(server, "alice")
    call = billing_caller(tw)
    tw.advance(1)
    leg = tw.device("client:alice").ringing
    assert leg is not None
    tw.advance(40)
    assert leg.ended and not call.ended
    hang_ups = [
        uri for method, uri, form in sent
        if method == "POST" and uri.endswith(f"/Calls/{leg.sid}.json")
        and form.get("Status") == "completed"
    ]  # fmt: skip
    assert len(hang_ups) <= 1, hang_ups
    tw.assert_no_errors()
