"""`<Dial><Conference>` on one leg: join the room, hear what the participant hears, leave.

While in the room the leg waits for two kinds of wake: `speech` (the test's
`call.say()`, spoken to the room) and `conference` (something changed: it looks
at its participant's state again). Waiting, it hears the waitUrl; held, the
holdUrl; talking, the other participants and any announcement. Those documents
may hold only Play, Say, Pause and Redirect, and are not looped: when one runs
out the participant hears silence.
"""

from __future__ import annotations

from ivr.core.errors import TwiMLError
from ivr.devtools.emulator.conference import HELD, LEFT, TALKING, WAIT_MUSIC_URL, Participant
from ivr.devtools.emulator.conference_events import parse_events
from ivr.devtools.emulator.conferences import CONFERENCE_WAKE, JoinSpec
from ivr.devtools.emulator.interpreter import Interpreter
from ivr.devtools.emulator.process import Step, Wait
from ivr.devtools.emulator.twiml import Node
from ivr.devtools.emulator.webhooks import WebhookFailure

WAKES = frozenset({CONFERENCE_WAKE, "speech"})
REFETCH_GAP_S = 1.0
"""A Redirect from a document that took no time is followed after this gap, not at once."""
ANNOUNCING = "announcing"
"""Talking while an announcement plays: only a new state interrupts it, not the next one."""
DEFAULT_MUSIC = Node("Response", {}, "", (Node("Play", {"loop": "0"}, WAIT_MUSIC_URL),))


def attend(
    it: Interpreter, noun: Node, joined: list[Participant] | None = None
) -> Step[bool | None]:
    """Be in the conference until leaving it; whether it ever talked (None: it was full).
    `joined` gets the participant, so a leg that hangs up can still tell if it talked."""
    conferences = it.board.conferences
    participant = conferences.join(it.call, join_spec(it, noun))
    if participant is None:
        return None
    if joined is not None:
        joined.append(participant)
    doc_url = it.doc_url
    try:
        while participant.state != LEFT:
            yield from _stay(it, participant)
    finally:
        it.doc_url = doc_url  # the Dial action resolves against the caller's document
        conferences.leave(participant)
    return participant.talked


def join_spec(it: Interpreter, noun: Node) -> JoinSpec:
    """The noun's attributes, with its URLs made absolute against the current document."""
    wait_url = noun.attrs.get("waitUrl")
    callback = noun.attr("statusCallback") or None
    return JoinSpec(
        name=noun.text,
        label=noun.attr("participantLabel") or None,
        muted=noun.bool_attr("muted", False),
        beep=noun.attr("beep", "true"),
        start_on_enter=noun.bool_attr("startConferenceOnEnter", True),
        end_on_exit=noun.bool_attr("endConferenceOnExit", False),
        wait_url=it.target("Conference", wait_url, "GET").url if wait_url else wait_url,
        wait_method=noun.method("waitMethod"),
        max_participants=noun.int_attr("maxParticipants", 250),
        coach=noun.attr("coach") or None,
        status_callback=it.target("Conference", callback, "POST").url if callback else None,
        status_callback_method=noun.method("statusCallbackMethod"),
        events=parse_events(noun.attrs.get("statusCallbackEvent")),
    )


def _stay(it: Interpreter, participant: Participant) -> Step[None]:
    """Hear what the current state brings, until the state changes."""
    state = participant.state
    if state == TALKING and participant.announcements:
        yield from _announce(it, participant)
        return
    changed = False
    if state != TALKING:
        held = state == HELD
        url = participant.hold_url if held else participant.wait_url
        method = participant.hold_method if held else participant.wait_method
        changed = yield from _music(it, participant, url, method, state)
    if not changed:
        yield from _wait(it, participant, None, state)


def _announce(it: Interpreter, participant: Participant) -> Step[None]:
    announcement = participant.announcements.pop(0)
    try:
        yield from _play(it, participant, announcement.document, announcement.url, ANNOUNCING)
    finally:
        it.board.conferences.announcement_heard(participant, announcement)


def _music(
    it: Interpreter, participant: Participant, url: str | None, method: str, state: str
) -> Step[bool]:
    """Play the wait or hold document (Twilio's music when None, silence when empty)."""
    if url == "":
        return False
    if url is None:
        return (yield from _play(it, participant, DEFAULT_MUSIC, None, state))
    document = _fetch(it, url, method)
    if document is None:
        return False
    return (yield from _play(it, participant, document, url, state))


def _play(
    it: Interpreter, participant: Participant, document: Node, url: str | None, state: str
) -> Step[bool]:
    """Run a Play/Say/Pause/Redirect document; True if the state changed meanwhile."""
    while True:
        started, redirect = it.board.now(), None
        for verb in document.children:
            if verb.tag == "Redirect":
                redirect = it.board.webhooks.resolve(verb.text, url), verb.method()
                break
            it.doc_url = url
            utterance, seconds = it.render(verb)
            it.call.heard.append(utterance)
            if (yield from _wait(it, participant, seconds, state)):
                return True
        if redirect is None:
            return False
        if it.board.now() == started and (yield from _wait(it, participant, REFETCH_GAP_S, state)):
            return True
        url = redirect[0]
        fetched = _fetch(it, *redirect)
        if fetched is None:
            return False
        document = fetched


def _fetch(it: Interpreter, url: str, method: str) -> Node | None:
    """A wait, hold or redirected document; a failure is recorded and heard as silence."""
    try:
        return it.fetch(url, method, {}, "conference")
    except (TwiMLError, WebhookFailure) as exc:
        it.board.record_error(exc)
        return None


def _wait(
    it: Interpreter, participant: Participant, seconds: float | None, state: str
) -> Step[bool]:
    """Wait `seconds` (None: until woken), speaking what the test says; True if state changed."""
    deadline = None if seconds is None else it.board.now() + seconds
    while not _changed(participant, state):
        remaining = None if deadline is None else deadline - it.board.now()
        if remaining is not None and remaining <= 0:
            return False
        wake = yield Wait(remaining, WAKES)
        if wake is None:
            return False
        if wake.kind == "speech":
            it.board.conferences.speak(participant, wake.value[0])
    return True


def _changed(participant: Participant, state: str) -> bool:
    """Whether there is something new to hear: another state, or an announcement.

    Checked after every wake, speech included: a `conference` wake that arrives
    while the leg is resuming from another wake is dropped by the runner.
    """
    if state == ANNOUNCING:
        return participant.state != TALKING
    return participant.state != state or (state == TALKING and bool(participant.announcements))
