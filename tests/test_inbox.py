"""The agent's voicemail inbox: scoped to the agent's queues, taken by one agent, called back
exactly once through the callback machinery, and counted per queue in `/metrics`."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import redis

from callbacks import callback
from callbacks.callback import Callback
from ivr.core.keys import Keys
from ivr.devtools.emulator import Emulator
from ivr.devtools.liveserver import LiveServer
from ivr.web import inbox
from tests.agents import services_of, state
from tests.conftest import BUSINESS, scrape
from tests.consoles import Console
from tests.test_connect_e2e import billing_caller, events

CALLER = "+60199999999"
NO_AGENTS_S = 61
"""Just over the queues' `no_agents_after_s` (60): an unstaffed queue's caller is moved on."""


def leave_billing_voicemail(tw: Emulator, number: str = CALLER) -> None:
    """A billing caller keys their account number; nobody is logged in, so after a minute
    they are asked for a message and leave one."""
    call = billing_caller(tw, number)
    tw.advance(NO_AGENTS_S)
    call.hears("Please leave a message after the tone")
    call.wait(4)
    call.press("#")
    tw.run_until_idle()
    assert call.ended


def the_voicemail(agent: Console) -> dict[str, object]:
    listed = agent.get("/api/agent/voicemails")
    assert listed.status_code == 200, listed.text
    (voicemail,) = listed.json()["voicemails"]
    assert isinstance(voicemail, dict)
    return voicemail


def test_agents_see_only_the_voicemails_of_their_queues(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Alice (billing) sees the billing caller's message with their account number, masked
    number and a player link; Chai (support and sales only) sees nothing and cannot act on it."""
    leave_billing_voicemail(tw)
    voicemail = the_voicemail(alice)
    assert voicemail["queue"] == "billing" and voicemail["language"] == "en"
    assert voicemail["data"] == {"account_number": "20261124"}
    assert voicemail["caller"] == "+601•••••999"
    assert str(voicemail["recording"]).startswith("https://api.twilio.com/")
    chai = Console(server, "agent", "chai")
    assert chai.get("/api/agent/voicemails").json() == {"voicemails": []}
    for action in ("assign", "callback", "done"):
        answer = chai.post(f"/api/agent/voicemails/{voicemail['id']}/{action}")
        assert answer.status_code == 404, (action, answer.text)
    chai.close()


def test_two_agents_taking_one_voicemail_at_once_one_wins(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Alice and Budi (both billing) click Take together: exactly one owns it, the other
    gets 409, and both inboxes show the same owner."""
    leave_billing_voicemail(tw)
    voicemail_id = the_voicemail(alice)["id"]
    budi = Console(server, "agent", "budi")
    path = f"/api/agent/voicemails/{voicemail_id}/assign"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda who: who.post(path), [alice, budi]))
    assert sorted(a.status_code for a in answers) == [200, 409], [a.text for a in answers]
    winner = next(a.json()["owner"] for a in answers if a.status_code == 200)
    assert the_voicemail(alice)["owner"] == the_voicemail(budi)["owner"] == winner
    loser = budi if winner == "alice" else alice
    assert loser.post(f"/api/agent/voicemails/{voicemail_id}/done").status_code == 409
    budi.close()


def test_calling_back_twice_makes_one_callback_and_one_contact(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """A double click (two requests at once) makes one callback; Alice, available, is rung
    straight into the dial, the customer answers, and the wrap-up files one contact in the
    customer's history, which the next screen pop shows."""
    leave_billing_voicemail(tw)
    voicemail_id = the_voicemail(alice)["id"]
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    path = f"/api/agent/voicemails/{voicemail_id}/callback"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: alice.post(path), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    (made,) = [a.json() for a in answers if a.status_code == 201]
    assert (made["routed"], made["device"]) == ("you", "client:alice")
    assert {a.json()["callback"] for a in answers} == {made["callback"]}
    assert alice.post(path).status_code == 200, "a retried request finds the same callback"
    assert len(events(r, "CALLBACKREQUEST")) == 1

    customer = tw.device(CALLER)
    tw.advance(1)
    tw.device("client:alice").answer()
    tw.advance(3)
    assert customer.ringing is not None
    answered = customer.answer()
    answered.hears("calling you back about your Billing request")
    tw.advance(20)
    answered.hangup()
    tw.advance(1)
    assert state(server, "alice").state == "wrap_up"
    call = alice.view()["call"]
    assert call["call"] == made["callback"] and call["data"] == {"account_number": "20261124"}
    filed = alice.post(f"/api/agent/calls/{made['callback']}/wrapup", {"disposition": "resolved"})
    assert filed.status_code == 200, filed.text
    history = r.lrange(Keys().contact_history(CALLER), 0, -1)
    assert [json.loads(c)["call"] for c in history] == [made["callback"]]
    assert len(events(r, "DISPOSITION")) == 1
    assert alice.post(f"/api/agent/voicemails/{voicemail_id}/done").status_code == 204
    assert alice.get("/api/agent/voicemails").json() == {"voicemails": []}
    tw.assert_no_errors()


def test_a_retry_routes_the_callback_a_dead_request_left_behind(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """A request that died after creating the callback, before routing it: the retry, a
    while later, makes no second callback and puts the one made through to Alice."""
    leave_billing_voicemail(tw)
    voicemail_id = the_voicemail(alice)["id"]
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    svc = services_of(server)
    now_ms = int(svc.clock.now() * 1000)
    left = Callback(
        id=callback.new_id(),
        number=CALLER,
        queue="billing",
        state="queued",
        kind="voicemail",
        created_ms=now_ms,
        orig_ms=now_ms,
        started_ms=now_ms,
        data=json.dumps({"caller": CALLER, "data": {"account_number": "20261124"}}),
    )
    assert svc.run(callback.create(svc, left)).status == "created"
    tw.advance(inbox.RESUME_AFTER_S + 1)
    retried = alice.post(f"/api/agent/voicemails/{voicemail_id}/callback")
    assert retried.status_code == 200, retried.text
    assert (retried.json()["callback"], retried.json()["routed"]) == (left.id, "you")
    assert len(events(r, "CALLBACKREQUEST")) == 1
    tw.advance(1)
    assert tw.device("client:alice").ringing is not None


def test_a_busy_agent_leaves_the_call_back_to_the_queue(
    tw: Emulator, server: LiveServer, alice: Console
) -> None:
    """Alice on a break asks for the call back: it waits in billing for its next agent."""
    leave_billing_voicemail(tw)
    voicemail_id = the_voicemail(alice)["id"]
    assert alice.post("/api/agent/status", {"status": "break"}).status_code == 204
    made = alice.post(f"/api/agent/voicemails/{voicemail_id}/callback")
    assert made.status_code == 201, made.text
    assert made.json()["routed"] == "queue"
    svc = services_of(server)
    assert svc.run(svc.router.has_call(made.json()["callback"]))


def test_metrics_count_unhandled_voicemails_per_queue_with_their_age(
    tw: Emulator, server: LiveServer, alice: Console, sam: Console
) -> None:
    """`/metrics` and the floor count billing's unhandled message and how long it waited;
    done, the count drops to 0."""
    leave_billing_voicemail(tw)
    tw.advance(100)
    text = scrape(server)
    assert 'ivr_queue_voicemails_unhandled{queue="billing"} 1.0' in text
    assert 'ivr_queue_voicemails_unhandled{queue="support"} 0.0' in text
    (age,) = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('ivr_queue_voicemail_oldest_unhandled_age_seconds{queue="billing"}')
    ]
    assert 100 <= age <= 110
    floor = sam.get("/api/supervisor/floor").json()["voicemails_by_queue"]
    assert floor["billing"]["unhandled"] == 1
    voicemail_id = the_voicemail(alice)["id"]
    assert alice.post(f"/api/agent/voicemails/{voicemail_id}/done").status_code == 204
    assert 'ivr_queue_voicemails_unhandled{queue="billing"} 0.0' in scrape(server)


def test_the_inbox_needs_an_agent(server: LiveServer, sam: Console) -> None:
    """A supervisor gets 403 on the agent's inbox, and nobody logged in 401."""
    assert sam.get("/api/agent/voicemails").status_code == 403
    assert httpx.get(f"{server.url}/api/agent/voicemails").status_code == 401


def test_a_missed_caller_is_called_back_once(
    tw: Emulator, server: LiveServer, alice: Console, r: redis.Redis
) -> None:
    """A billing caller who hangs up after 20 s on hold is listed as missed for Alice (not
    for Chai); two requests at once make one callback, put through to Alice's device."""
    call = billing_caller(tw)
    tw.advance(20)
    call.hangup()
    tw.advance(2)
    listed = alice.get("/api/agent/missed")
    assert listed.status_code == 200, listed.text
    (missed,) = listed.json()["missed"]
    assert (missed["queue"], missed["caller"]) == ("billing", "+601•••••999")
    assert missed["data"] == {"account_number": "20261124"}
    chai = Console(server, "agent", "chai")
    assert chai.get("/api/agent/missed").json() == {"missed": []}
    assert chai.post(f"/api/agent/missed/{missed['id']}/callback").status_code == 404
    chai.close()
    assert alice.post("/api/agent/status", {"status": "available"}).status_code == 204
    path = f"/api/agent/missed/{missed['id']}/callback"
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: alice.post(path), range(2)))
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert len({a.json()["callback"] for a in answers}) == 1
    assert len(events(r, "CALLBACKREQUEST")) == 1
    tw.advance(1)
    assert tw.device("client:alice").ringing is not None
    assert alice.post(path).status_code == 200, "a retried request finds the same callback"


def test_a_menu_message_is_called_back_through_a_queue_that_rings_the_agent_at_once(
    tw: Emulator, server: LiveServer
) -> None:
    """Chai (support, and sales, whose callbacks ring the customer first), available, calls
    back a message left in the menu: it goes through support, so his own phone rings at once."""
    call = tw.dial(from_=CALLER, to=BUSINESS)
    call.press("1")
    call.hears("To leave a message, press 4")
    call.press("4")
    call.wait(4)
    call.press("#")
    tw.run_until_idle()
    chai = Console(server, "agent", "chai")
    voicemail = the_voicemail(chai)
    assert voicemail["queue"] == ""
    assert chai.post("/api/agent/status", {"status": "available"}).status_code == 204
    made = chai.post(f"/api/agent/voicemails/{voicemail['id']}/callback")
    assert made.status_code == 201, made.text
    svc = services_of(server)
    device = svc.registry.current.agents["chai"].device
    assert (made.json()["routed"], made.json()["device"]) == ("you", device)
    cb = svc.run(callback.get(svc, made.json()["callback"]))
    assert cb is not None and cb.queue == "support"
    chai.close()
