"""<Dial><Conference> and the Conferences/Participants REST resources: who hears whom."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from ivr.core.errors import TwiMLError
from ivr.devtools.emulator import Call, Emulator
from ivr.devtools.emulator.conference import WAIT_MUSIC_URL
from tests.emulator_apps import (  # noqa: F401
    BUSINESS,
    CALLER,
    TOKEN,
    CannedApp,
    Hit,
    fixture_app,
    fixture_server,
    fixture_tw,
    twiml,
)

AGENT = "+60111111111"
SUPERVISOR = "+60122222222"
ROOM = "room-1"


@pytest.fixture(name="client")
def fixture_client(tw: Emulator) -> Iterator[Client]:
    """A real twilio Client whose transport is the emulator."""
    yield Client(tw.account_sid, TOKEN, http_client=tw.http_client(), environment={})


def by_caller(**documents: str) -> Callable[[Hit], str]:
    """A /voice responder answering each caller (CALLER, AGENT, SUPERVISOR) its own TwiML."""
    names = {CALLER: "caller", AGENT: "agent", SUPERVISOR: "supervisor"}

    def voice(hit: Hit) -> str:
        return twiml(documents[names[hit.params["From"]]])

    return voice


def room(attrs: str = "", action: str = "/after") -> str:
    return f'<Dial action="{action}"><Conference {attrs}>{ROOM}</Conference></Dial>'


def join_three(app: CannedApp, tw: Emulator, supervisor: str = "") -> tuple[Call, Call, Call]:
    """The caller, the agent and (with attributes `supervisor`) a third party, all talking."""
    app.route("/voice", by_caller(caller=room(), agent=room(), supervisor=room(supervisor)))
    app.route("/after", twiml("<Hangup/>"))
    calls = tuple(tw.dial(from_=n, to=BUSINESS) for n in (CALLER, AGENT, SUPERVISOR))
    return calls[0], calls[1], calls[2]


def test_alone_in_a_room_hears_hold_music_until_a_second_joins(
    app: CannedApp, tw: Emulator
) -> None:
    """The first participant waits to Twilio's music; the second one starts the conference."""
    app.route("/voice", by_caller(caller=room(), agent=room()))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    caller.hears(WAIT_MUSIC_URL)
    assert tw.conference(ROOM).status == "init"
    tw.dial(from_=AGENT, to=BUSINESS)
    conference = tw.conference(ROOM)
    assert conference.status == "in-progress" and conference.sid.startswith("CF")
    assert [p.call.from_ for p in conference.participants] == [CALLER, AGENT]


def test_participants_hear_each_other_but_not_themselves(app: CannedApp, tw: Emulator) -> None:
    """What one participant says is heard by the others and not echoed back."""
    caller, agent, supervisor = join_three(app, tw)
    caller.say("my card was charged twice")
    agent.hears("charged twice")
    supervisor.hears("charged twice")
    assert "my card was charged twice" not in caller.transcript()


def test_wait_url_document_is_fetched_for_the_waiting_participant(
    app: CannedApp, tw: Emulator
) -> None:
    """A waitUrl's TwiML is requested with the call's parameters and heard while waiting."""
    app.route("/voice", by_caller(caller=room('waitUrl="/wait"')))
    app.route("/wait", twiml("<Say>Your agent will join shortly</Say>"))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    caller.hears("agent will join shortly")
    hit = app.hits_to("/wait")[0]
    assert hit.signed and hit.params["CallSid"] == caller.sid


def test_start_conference_on_enter_false_waits_for_a_moderator(
    app: CannedApp, tw: Emulator
) -> None:
    """Participants who may not start it wait until one with startConferenceOnEnter joins."""
    guest = room('startConferenceOnEnter="false"')
    app.route("/voice", by_caller(caller=guest, agent=guest, supervisor=room()))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    assert tw.conference(ROOM).status == "init"
    caller.say("is anyone there")
    assert "is anyone there" not in agent.transcript()
    tw.dial(from_=SUPERVISOR, to=BUSINESS)
    assert tw.conference(ROOM).status == "in-progress"
    caller.say("hello")
    agent.hears("hello")


def test_end_conference_on_exit_sends_the_others_on_with_answered(
    app: CannedApp, tw: Emulator
) -> None:
    """When the participant with endConferenceOnExit leaves, the others go to their Dial action."""
    app.route("/voice", by_caller(caller=room(), agent=room('endConferenceOnExit="true"')))
    app.route("/after", twiml("<Say>Thanks for calling</Say>"))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    tw.advance(30)
    agent.hangup()
    caller.hears("Thanks for calling")
    params = next(h.params for h in app.hits_to("/after") if h.params["CallSid"] == caller.sid)
    assert params["DialCallStatus"] == "answered" and params["DialBridged"] == "true"
    assert "DialCallSid" not in params and "DialCallDuration" not in params
    conference = tw.conference(ROOM)
    assert conference.status == "completed"
    assert conference.reason_ended == "participant-with-end-conference-on-exit-left"


def test_muted_participant_is_not_heard(app: CannedApp, tw: Emulator) -> None:
    """A participant who joined muted hears the room but nobody hears it."""
    caller, agent, supervisor = join_three(app, tw, 'muted="true"')
    supervisor.say("just listening in")
    caller.say("hello")
    supervisor.hears("hello")
    assert "just listening in" not in caller.transcript() + agent.transcript()


def test_coach_is_heard_only_by_the_coached_participant(app: CannedApp, tw: Emulator) -> None:
    """A coach's words reach the participant it coaches and nobody else."""
    app.route("/voice", by_caller(caller=room(), agent=room()))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    app.route("/voice", by_caller(supervisor=room(f'coach="{agent.sid}"')))
    supervisor = tw.dial(from_=SUPERVISOR, to=BUSINESS)
    supervisor.say("offer the refund")
    agent.hears("offer the refund")
    caller.say("are you there")
    supervisor.hears("are you there")
    assert "offer the refund" not in caller.transcript()


def test_status_callbacks_report_the_conference_life(app: CannedApp, tw: Emulator) -> None:
    """Only the creator's statusCallback receives the chosen events, numbered from 1."""
    events = 'statusCallback="/conf" statusCallbackEvent="start end join leave"'
    app.route("/voice", by_caller(caller=room(events), agent=room('statusCallback="/other"')))
    app.route("/conf", "")
    app.route("/after", twiml("<Hangup/>"))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    caller.hangup()
    agent.hangup()
    tw.run_until_idle()
    hits = app.hits_to("/conf")
    assert [h.params["StatusCallbackEvent"] for h in hits] == [
        "participant-join", "participant-join", "conference-start",
        "participant-leave", "participant-leave", "conference-end",
    ]  # fmt: skip
    assert [h.params["SequenceNumber"] for h in hits] == ["1", "2", "3", "4", "5", "6"]
    join = hits[0].params
    assert (join["CallSid"], join["FriendlyName"], join["Muted"]) == (caller.sid, ROOM, "false")
    assert join["ConferenceSid"] == tw.conference(ROOM).sid and join["Hold"] == "false"
    assert {"Coaching", "EndConferenceOnExit", "StartConferenceOnEnter", "Timestamp"} <= set(join)
    assert hits[-1].params["ReasonConferenceEnded"] == "last-participant-left"
    assert all(h.signed for h in hits) and not app.hits_to("/other")


def test_a_full_conference_fails_the_dial(app: CannedApp, tw: Emulator) -> None:
    """Beyond maxParticipants (set by the first participant) a Dial reports failed."""
    small = room('maxParticipants="2"')
    app.route("/voice", by_caller(caller=small, agent=small, supervisor=small))
    app.route("/after", twiml("<Say>The room is full</Say>"))
    tw.dial(from_=CALLER, to=BUSINESS)
    tw.dial(from_=AGENT, to=BUSINESS)
    supervisor = tw.dial(from_=SUPERVISOR, to=BUSINESS)
    supervisor.hears("The room is full")
    assert app.hits_to("/after")[0].params["DialCallStatus"] == "failed"


@pytest.mark.parametrize(
    "attrs",
    [
        pytest.param('beep="loud"', id="beep"),
        pytest.param('maxParticipants="251"', id="max-participants"),
        pytest.param('coach="alice"', id="coach"),
        pytest.param('statusCallbackEvent="start finish"', id="event"),
    ],
)
def test_invalid_conference_attributes_are_twiml_errors(
    app: CannedApp, tw: Emulator, attrs: str
) -> None:
    """A <Conference> attribute Twilio would reject fails loudly."""
    app.route("/voice", twiml(room(attrs)))
    with pytest.raises(TwiMLError):
        tw.dial(from_=CALLER, to=BUSINESS)


def test_conference_cannot_share_a_dial(app: CannedApp, tw: Emulator) -> None:
    """<Conference> is the only noun of its <Dial>."""
    app.route(
        "/voice", twiml(f"<Dial><Conference>{ROOM}</Conference><Number>+6011</Number></Dial>")
    )
    with pytest.raises(TwiMLError):
        tw.dial(from_=CALLER, to=BUSINESS)


# -- REST ------------------------------------------------------------------------------------


def test_participants_create_dials_out_into_the_room(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """participants.create rings `to` and, once answered, puts it in the named conference."""
    app.route("/voice", by_caller(caller=room()))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    conference = tw.conference(ROOM)
    tw.device("client:alice").answer_after = 3
    tw.device("client:alice").auto = "answer"
    created = client.conferences(ROOM).participants.create(
        to="client:alice", from_=BUSINESS, label="agent", end_conference_on_exit=True
    )
    assert created.status == "queued" and created.label == "agent"
    assert created.conference_sid == conference.sid and created.end_conference_on_exit
    tw.advance(3)
    fetched = client.conferences(conference.sid).participants("agent").fetch()
    assert fetched.status == "connected" and fetched.call_sid == created.call_sid
    assert conference.status == "in-progress"
    tw.device("client:alice").say("how can I help")
    caller.hears("how can I help")


def test_hold_plays_hold_music_and_silences_the_held(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A held participant hears the holdUrl, is not heard, and rejoins when unheld."""
    caller, agent, _ = join_three(app, tw)
    app.route("/hold", twiml("<Say>Please hold</Say>"))
    sid = tw.conference(ROOM).sid
    held = client.conferences(sid).participants(caller.sid).update(hold=True, hold_url="/hold")
    assert held.hold is True
    caller.hears("Please hold")
    assert app.hits_to("/hold")[0].method == "GET"
    caller.say("hello?")
    agent.say("let me check")
    assert "hello?" not in agent.transcript() and "let me check" not in caller.transcript()
    client.conferences(sid).participants(caller.sid).update(hold=False)
    agent.say("thanks for holding")
    caller.hears("thanks for holding")
    assert tw.conference(ROOM).participants[0].hold is False


def test_mute_by_label_and_list_filters(app: CannedApp, tw: Emulator, client: Client) -> None:
    """A participant addressed by label can be muted, and list(muted=True) finds it."""
    app.route("/voice", by_caller(caller=room(), agent=room('participantLabel="agent"')))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    sid = tw.conference(ROOM).sid
    client.conferences(sid).participants("agent").update(muted=True)
    tw.advance(0)
    agent.say("muted words")
    assert "muted words" not in caller.transcript()
    muted = client.conferences(sid).participants.list(muted=True)
    assert [p.call_sid for p in muted] == [agent.sid]


def test_deleting_a_participant_sends_it_on_with_its_twiml(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A kicked participant leaves the room and continues after its <Dial>."""
    app.route("/voice", by_caller(caller=room(), agent=room(action="/agent-after")))
    app.route("/agent-after", twiml("<Say>You left the call</Say>"))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    sid = tw.conference(ROOM).sid
    assert client.conferences(sid).participants(agent.sid).delete() is True
    agent.hears("You left the call")
    with pytest.raises(TwilioRestException) as caught:
        client.conferences(sid).participants(agent.sid).fetch()
    assert caught.value.status == 404
    assert caller.status == "in-progress" and tw.conference(ROOM).status == "in-progress"


def test_conference_update_completed_ends_it_for_everyone(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """update(status="completed") ends the conference: each participant goes to its action."""
    caller, agent, supervisor = join_three(app, tw)
    listed = client.conferences.list(friendly_name=ROOM, status="in-progress")
    assert [c.sid for c in listed] == [tw.conference(ROOM).sid]
    client.conferences(listed[0].sid).update(status="completed")
    tw.run_until_idle()
    assert {c.status for c in (caller, agent, supervisor)} == {"completed"}
    fetched = client.conferences(listed[0].sid).fetch()
    assert (fetched.status, fetched.reason_conference_ended) == (
        "completed", "conference-ended-via-api",
    )  # fmt: skip
    assert len(app.hits_to("/after")) == 3


def test_announce_url_is_heard_by_every_talking_participant(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A conference announcement is fetched once and heard by all who are not on hold."""
    caller, agent, supervisor = join_three(app, tw)
    app.route("/announce", twiml("<Say>This call is recorded</Say>"))
    sid = tw.conference(ROOM).sid
    client.conferences(sid).participants(supervisor.sid).update(hold=True)
    client.conferences(sid).update(announce_url="/announce")
    caller.hears("This call is recorded")
    agent.hears("This call is recorded")
    assert "This call is recorded" not in supervisor.transcript()
    assert len(app.hits_to("/announce")) == 1


def test_rest_coaching_whispers_to_one_participant(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A participant created with coaching and call_sid_to_coach is heard only by that call."""
    app.route("/voice", by_caller(caller=room(), agent=room()))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    agent = tw.dial(from_=AGENT, to=BUSINESS)
    tw.device("client:boss").auto = "answer"
    sid = tw.conference(ROOM).sid
    coach = client.conferences(sid).participants.create(
        to="client:boss", from_=BUSINESS, coaching=True, call_sid_to_coach=agent.sid
    )
    assert coach.coaching is True and coach.call_sid_to_coach == agent.sid
    tw.advance(1)
    tw.device("client:boss").say("ask for the order number")
    agent.hears("order number")
    assert "ask for the order number" not in caller.transcript()


def test_unknown_conference_is_404(tw: Emulator, client: Client) -> None:
    """Fetching a conference that does not exist raises TwilioRestException 20404."""
    with pytest.raises(TwilioRestException) as caught:
        client.conferences("CF" + "0" * 32).fetch()
    assert (caught.value.status, caught.value.code) == (404, 20404)


def test_joining_beeps_to_the_others_unless_beep_is_false(app: CannedApp, tw: Emulator) -> None:
    """A participant entering a started conference beeps for the others, not for itself."""
    caller, agent, supervisor = join_three(app, tw, 'beep="false"')
    assert [u.kind for u in caller.heard].count("beep") == 1  # the agent's entry only
    assert "beep" not in [u.kind for u in agent.heard]
    assert "beep" not in [u.kind for u in supervisor.heard]


def test_participant_events_for_mute_and_hold(app: CannedApp, tw: Emulator, client: Client) -> None:
    """Mute and hold changes are reported as participant-mute/unmute and -hold/unhold."""
    events = 'statusCallback="/conf" statusCallbackEvent="mute hold"'
    app.route("/voice", by_caller(caller=room(events), agent=room()))
    app.route("/conf", "")
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    tw.dial(from_=AGENT, to=BUSINESS)
    participant = client.conferences(tw.conference(ROOM).sid).participants(caller.sid)
    participant.update(muted=True)
    participant.update(hold=True)
    participant.update(hold=False, muted=False)
    tw.run_until_idle()
    hits = app.hits_to("/conf")
    assert [
        (h.params["StatusCallbackEvent"], h.params["Muted"], h.params["Hold"]) for h in hits
    ] == [
        ("participant-mute", "true", "false"),
        ("participant-hold", "true", "true"),
        ("participant-unmute", "false", "true"),
        ("participant-unhold", "false", "false"),
    ]


def test_participant_announcement_is_heard_by_that_participant_only(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """announce_url on a participant plays to it alone."""
    caller, agent, _ = join_three(app, tw)
    app.route("/whisper", twiml("<Say>Customer is a gold member</Say>"))
    sid = tw.conference(ROOM).sid
    client.conferences(sid).participants(agent.sid).update(announce_url="/whisper")
    agent.hears("gold member")
    assert "Customer is a gold member" not in caller.transcript()


def test_rest_participant_that_never_answers_leaves_the_list(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A dialled participant shows as ringing, and is gone once its call fails."""
    app.route("/voice", by_caller(caller=room()))
    tw.dial(from_=CALLER, to=BUSINESS)
    sid = tw.conference(ROOM).sid
    client.conferences(sid).participants.create(to="client:bob", from_=BUSINESS, timeout=15)
    tw.advance(1)
    assert [p.status for p in client.conferences(sid).participants.list()] == [
        "connected", "ringing",
    ]  # fmt: skip
    tw.advance(15)
    assert [p.status for p in client.conferences(sid).participants.list()] == ["connected"]


def test_rest_participant_hangs_up_when_the_conference_ends(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A participant the API dialled has no TwiML after its conference, so its call ends."""
    app.route("/voice", by_caller(caller=room('endConferenceOnExit="true"')))
    caller = tw.dial(from_=CALLER, to=BUSINESS)
    tw.device("client:alice").auto = "answer"
    created = client.conferences(ROOM).participants.create(to="client:alice", from_=BUSINESS)
    tw.advance(1)
    caller.hangup()
    assert tw.call(created.call_sid).status == "completed"


def test_announcements_made_together_are_heard_one_after_the_other(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """A second announcement waits for the first to finish instead of cutting it off."""
    _, agent, _ = join_three(app, tw)
    app.route("/first", twiml("<Say>This call is recorded for quality purposes</Say>"))
    app.route("/second", twiml("<Say>Customer is a gold member</Say>"))
    sid, start = tw.conference(ROOM).sid, tw.clock.now()
    client.conferences(sid).update(announce_url="/first")
    client.conferences(sid).participants(agent.sid).update(announce_url="/second")
    assert agent.hears("recorded for quality").at == start
    second = agent.hears("gold member")
    assert second.at - start == pytest.approx(7 * tw.say_seconds_per_word)


def test_unreachable_device_cannot_be_dialled_into_a_conference(
    tw: Emulator, client: Client
) -> None:
    """participants.create to a device marked unreachable fails with 400 / 21214."""
    tw.device("client:alice").unreachable = True
    with pytest.raises(TwilioRestException) as caught:
        client.conferences(ROOM).participants.create(to="client:alice", from_=BUSINESS)
    assert (caught.value.status, caught.value.code) == (400, 21214)
    tw.advance(1)
    assert tw.conferences == [] and tw.calls == []


def test_redirecting_a_participant_takes_it_out_of_the_room(
    app: CannedApp, tw: Emulator, client: Client
) -> None:
    """calls(sid).update(url=) moves a participant to new TwiML and out of the conference."""
    caller, agent, supervisor = join_three(app, tw)
    app.route("/survey", twiml("<Say>Please rate your call</Say>"))
    client.calls(caller.sid).update(url="/survey")
    caller.hears("rate your call")
    assert [p.call for p in tw.conference(ROOM).participants] == [agent, supervisor]
    agent.say("still here")
    supervisor.hears("still here")
    assert "still here" not in caller.transcript()
