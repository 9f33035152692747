"""Enqueue, the waitUrl loop, Leave, QueueResult and Dial Queue."""

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

AGENT_NUMBER = "+60399999999"
HOLD = twiml('<Say>Please hold</Say><Pause length="20"/>')


def enqueue(attrs: str = "") -> str:
    return twiml(f'<Enqueue waitUrl="/wait" action="/after" {attrs}>support</Enqueue>')


def test_wait_url_is_refetched_with_queue_parameters(app: CannedApp, tw: Emulator) -> None:
    """When the wait TwiML runs out it is fetched again, with fresh queue parameters."""
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    call = tw.dial(from_=CALLER, to=BUSINESS)
    assert call.queue == "support" and tw.queue("support").members == [call]
    tw.advance(21)
    first, second = app.hits_to("/wait")
    assert first.signed and second.signed
    assert first.params["QueuePosition"] == "1" and first.params["QueueTime"] == "0"
    assert second.params["QueueTime"] == "20"
    assert second.params["QueueSid"].startswith("QU")
    assert (second.params["CurrentQueueSize"], second.params["MaxQueueSize"]) == ("1", "100")
    assert second.params["AvgQueueTime"] == "20"


def test_half_hour_hold_is_fast(app: CannedApp, tw: Emulator) -> None:
    """A 30-minute hold runs in simulated time, re-fetching waitUrl every 20.8 s loop."""
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    call = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(30 * 60)
    assert len(app.hits_to("/wait")) == 1 + int(30 * 60 / 20.8)
    assert call.status == "in-progress"


def test_leave_posts_queue_result_leave(app: CannedApp, tw: Emulator) -> None:
    """<Leave> in the wait TwiML posts QueueResult=leave and runs the action's TwiML."""
    app.route("/voice", enqueue())
    app.route("/wait", twiml('<Gather numDigits="1"><Say>Press 1 to leave</Say></Gather>'))
    app.route("/wait", lambda hit: twiml("<Leave/>") if hit.params.get("Digits") else HOLD_MENU)
    app.route("/after", twiml("<Say>You left the queue</Say>"))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("1")
    call.hears("You left the queue")
    params = app.hits_to("/after")[0].params
    assert params["QueueResult"] == "leave" and "QueueTime" in params
    assert tw.queue("support").members == []


HOLD_MENU = twiml('<Gather numDigits="1"><Say>Press 1 to leave</Say></Gather>')


def test_hangup_while_queued_posts_hangup(app: CannedApp, tw: Emulator) -> None:
    """A caller hanging up in the queue is removed and the action gets QueueResult=hangup."""
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    app.route("/after", twiml(""))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.wait(42)
    call.hangup()
    params = app.hits_to("/after")[0].params
    assert (params["QueueResult"], params["QueueTime"]) == ("hangup", "42")
    assert tw.queue("support").members == []


def test_queue_full(app: CannedApp, tw: Emulator) -> None:
    """maxQueueSize turns the next caller away with QueueResult=queue-full."""
    app.route("/voice", enqueue('maxQueueSize="1"'))
    app.route("/wait", HOLD)
    app.route("/after", twiml("<Say>Too busy</Say>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    second = tw.dial(from_="+60111111111", to=BUSINESS)
    second.hears("Too busy")
    params = app.hits_to("/after")[0].params
    assert params["QueueResult"] == "queue-full" and "QueueSid" not in params
    assert [(a.code, a.call_sid) for a in tw.alerts] == [(14207, second.sid)]


def test_a_new_queue_holds_100_callers_and_turns_the_101st_away(
    app: CannedApp, tw: Emulator
) -> None:
    """A queue `<Enqueue>` creates has maxSize 100: the 101st caller gets queue-full (14207)."""
    tw.default_queue_size = 3  # as 100, three times quicker to fill
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    app.route("/after", twiml("<Say>Too busy</Say>"))
    for n in range(3):
        tw.dial(from_=f"+6011111111{n}", to=BUSINESS)
    fourth = tw.dial(from_=CALLER, to=BUSINESS)
    fourth.hears("Too busy")
    assert tw.queue("support").size == 3 and tw.alerts[0].code == 14207


def test_queue_resource_outlives_its_last_caller(app: CannedApp, tw: Emulator) -> None:
    """The queue `<Enqueue>` created stays in the account after its caller hangs up."""
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    app.route("/after", twiml(""))
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.hangup()
    assert [q.name for q in tw.queues] == ["support"] and tw.queue("support").size == 0


def test_fifo_dial_queue_bridges_front_and_posts_bridged(app: CannedApp, tw: Emulator) -> None:
    """Dial Queue takes the front caller, runs its url on them, and both results are posted."""
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    app.route("/after", twiml("<Say>Thanks for calling</Say>"))
    app.route(
        "/agent", twiml('<Dial action="/dialed"><Queue url="/connecting">support</Queue></Dial>')
    )
    app.route("/connecting", twiml("<Say>Connecting you to an agent</Say>"))
    app.route("/dialed", twiml("<Hangup/>"))
    tw.add_number(AGENT_NUMBER, voice_url="/agent")
    first = tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(5)
    second = tw.dial(from_="+60111111111", to=BUSINESS)
    agent = tw.dial(from_="+60122222222", to=AGENT_NUMBER)
    first.hears("Connecting you")
    assert first.bridge is None
    tw.advance(2)
    assert first.bridge is not None and first.bridge.other(first) is agent
    assert tw.queue("support").members == [second]
    connect = app.hits_to("/connecting")[0].params
    assert connect["DequeingCallSid"] == agent.sid and connect["QueueTime"] == "5"
    tw.advance(60)
    agent.hangup()
    first.hears("Thanks for calling")
    after = app.hits_to("/after")[0].params
    assert (after["QueueResult"], after["QueueTime"]) == ("bridged", "5")
    dialed = app.hits_to("/dialed")[0].params
    assert dialed["DialCallStatus"] == "completed" and dialed["DialCallSid"] == first.sid
    assert dialed["DialBridged"] == "true" and int(dialed["DialCallDuration"]) >= 60


def test_dial_empty_queue_times_out(app: CannedApp, tw: Emulator) -> None:
    """Dialing an empty queue waits for the Dial timeout, then reports no-answer."""
    app.route("/voice", twiml('<Dial timeout="10" action="/dialed"><Queue>support</Queue></Dial>'))
    app.route("/dialed", twiml("<Hangup/>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(9)
    assert not app.hits_to("/dialed")
    tw.advance(1)
    assert app.hits_to("/dialed")[0].params["DialCallStatus"] == "no-answer"


def test_agent_waiting_on_empty_queue_gets_next_caller(app: CannedApp, tw: Emulator) -> None:
    """An agent already dialling an empty queue is bridged as soon as a caller enqueues."""
    app.route("/agent", twiml("<Dial><Queue>support</Queue></Dial>"))
    app.route("/voice", enqueue())
    app.route("/wait", HOLD)
    tw.add_number(AGENT_NUMBER, voice_url="/agent")
    agent = tw.dial(from_="+60122222222", to=AGENT_NUMBER)
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    assert caller.bridge is not None and caller.bridge.other(caller) is agent
    assert not app.hits_to("/wait")


def test_a_dial_queue_action_names_the_queue_whatever_the_outcome(
    app: CannedApp, tw: Emulator
) -> None:
    """`<Dial><Queue>` that times out on an empty queue still names it (QueueSid): it made it."""
    app.route("/voice", twiml('<Dial timeout="10" action="/dialed"><Queue>support</Queue></Dial>'))
    app.route("/dialed", twiml("<Hangup/>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.advance(10)
    params = app.hits_to("/dialed")[0].params
    assert params["DialCallStatus"] == "no-answer"
    assert params["QueueSid"] == tw.queue("support").sid
