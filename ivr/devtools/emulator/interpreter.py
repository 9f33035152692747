"""Execute TwiML on one call leg: documents, prompts and the simple verbs.

`<Enqueue>` and `<Dial>` live in their own modules, which build on this one;
the switchboard hands each Interpreter a table of them (`Verb`s). This module
fetches documents, runs verbs top to bottom and implements Say, Play, Pause,
Gather, Record, Redirect, Hangup, Reject and Leave. What it and those verbs
need of the switchboard is the `Board` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ivr.core.errors import EmulatorError, TwiMLError
from ivr.devtools.emulator import twiml
from ivr.devtools.emulator.calls import Call, Notifier, Start, Utterance
from ivr.devtools.emulator.conferences import Conferences
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.process import HungUp, Redirected, Step, Wait, Wake
from ivr.devtools.emulator.queues import Member, Queue
from ivr.devtools.emulator.twiml import Node
from ivr.devtools.emulator.webhooks import Reply, WebhookFailure, Webhooks, require_twiml

APP_ERROR_TEXT = "We are sorry, an application error has occurred. Goodbye."
GATHER_TIMEOUT_S = 5
RECORD_TIMEOUT_S = 5
RECORD_MAX_LENGTH_S = 3600
RECORD_FINISH_KEYS = "1234567890*#"
DIGIT_TONE_S = 0.5
NO_INPUT: frozenset[str] = frozenset()

Flow = Literal["next", "end", "done"]
NEXT: Flow = "next"
END: Flow = "end"
DONE: Flow = "done"


@dataclass(frozen=True)
class Target:
    """A document to fetch next: public URL, method and extra parameters."""

    url: str | None
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None


Outcome = Target | Flow
Verb = Callable[["Interpreter", Node], Step[Outcome]]
"""Runs one verb that lives outside this module (`<Dial>`, `<Enqueue>`) on a leg."""


class Board(Protocol):
    """What a leg's TwiML needs of the switchboard: for this module, then for Dial and Enqueue."""

    @property
    def webhooks(self) -> Webhooks: ...

    @property
    def conferences(self) -> Conferences: ...

    def now(self) -> float: ...

    def say_seconds(self, text: str, loop: int) -> float: ...

    def play_seconds(self, url: str) -> float: ...

    def record_error(self, exc: EmulatorError) -> None: ...

    def send(self, url: str, method: str, params: dict[str, str], call: Call | None) -> Reply: ...

    def post_later(self, url: str, method: str, params: dict[str, str]) -> None: ...

    def mark_answered(self, call: Call) -> None: ...

    def dial_child(
        self,
        parent: Call,
        to: str,
        from_: str,
        timeout: float,
        start: Start,
        notifier: Notifier | None = None,
    ) -> Call: ...

    def notifier(self, url: str, events: frozenset[str], method: str = "POST") -> Notifier: ...

    def cancel(self, call: Call, status: str) -> None: ...

    def connect(self, a: Call, b: Call) -> None: ...

    def wake(self, call: Call, kind: str, value: object = None) -> bool: ...

    def queue(self, name: str, max_size: int = 0) -> Queue: ...

    def join_queue(self, name: str, max_size: int, call: Call) -> tuple[Queue, Member | None]: ...

    def match_queue(self, queue: Queue) -> None: ...

    def await_caller(self, queue: Queue, agent: Call, url: str | None, method: str) -> None: ...

    def stop_awaiting(self, queue: Queue, agent: Call) -> None: ...


class LeaveQueue(Exception):
    """`<Leave>` ran in waitUrl TwiML."""


class Interpreter:
    """Runs TwiML documents for one leg; `verbs` runs the verbs other modules implement."""

    def __init__(self, board: Board, call: Call, verbs: Mapping[str, Verb]) -> None:
        self.board = board
        self.call = call
        self.verbs = verbs
        self.doc_url: str | None = None
        self.end_status = "completed"

    # -- documents -------------------------------------------------------------------------

    def run(self) -> Step[None]:
        """The whole life of a leg answered with TwiML: fetch, execute, follow, end."""
        start: Start = self.call.start
        target: Target | None = Target(start.url, start.method, twiml=start.twiml)
        while target is not None:
            try:
                outcome = yield from self.execute(self.load(target, "call"), "call")
                target = outcome if isinstance(outcome, Target) else None
            except Redirected as moved:
                target = self.redirect_target(moved)
            except (TwiMLError, WebhookFailure) as exc:
                self.board.record_error(exc)
                yield from self.app_error()
                target = None

    def redirect_target(self, moved: Redirected) -> Target:
        if moved.twiml is not None:
            return Target(None, twiml=moved.twiml)
        return Target(self.board.webhooks.resolve(moved.url or "", self.doc_url), moved.method)

    def load(self, target: Target, context: str) -> Node:
        """Fetch (or take inline) the next document and validate it for `context`."""
        if target.twiml is not None:
            self.doc_url = None
            return twiml.parse(target.twiml, context)
        return self.fetch(target.url or "", target.method, target.params, context)

    def fetch(self, url: str, method: str, extra: dict[str, str], context: str) -> Node:
        public = self.board.webhooks.resolve(url, self.doc_url)
        reply = self.board.send(public, method, self.call.params() | extra, self.call)
        document = twiml.parse(require_twiml(reply), context)
        self.doc_url = public
        return document

    def execute(self, document: Node, context: str) -> Step[Outcome]:
        """Run the verbs top to bottom; DONE when they run out."""
        for verb in document.children:
            if verb.tag != "Reject":
                self.board.mark_answered(self.call)
            outcome = yield from self.run_verb(verb, context)
            if outcome != NEXT:
                return outcome
        return DONE

    def run_verb(self, verb: Node, context: str) -> Step[Outcome]:
        handler = self.verbs.get(verb.tag)
        if handler is not None:
            return (yield from handler(self, verb))
        if verb.tag == "Gather":
            return (yield from self.gather(verb))
        if verb.tag == "Record":
            return (yield from self.record(verb))
        if verb.tag in ("Say", "Play", "Pause"):
            yield from self.prompt(verb, NO_INPUT)
            return NEXT
        return self.flow_verb(verb, context)

    def flow_verb(self, verb: Node, context: str) -> Outcome:
        if verb.tag == "Redirect":
            return self.target("Redirect", verb.text, verb.method())
        if verb.tag == "Reject":
            self.end_status = "busy" if verb.attr("reason") == "busy" else "no-answer"
            return END
        if verb.tag == "Leave":
            if context == "wait":
                raise LeaveQueue
            return NEXT
        return END  # <Hangup>

    def target(
        self, verb: str, url: str, method: str, params: dict[str, str] | None = None
    ) -> Target:
        """Resolve a verb's URL against the current document, as Twilio does."""
        if not url:
            if self.doc_url is None:
                raise TwiMLError(verb, "an action URL is required in TwiML given inline")
            url = self.doc_url
        elif self.doc_url is None and "://" not in url:
            raise TwiMLError(verb, "URLs must be absolute in TwiML given inline")
        return Target(self.board.webhooks.resolve(url, self.doc_url), method, params or {})

    def notify(self, verb: str, url: str, method: str, params: dict[str, str]) -> None:
        """Request an action URL whose TwiML will not run (the leg is over or moving on)."""
        if url:
            target = self.target(verb, url, method, params)
            self.board.post_later(target.url or "", method, self.call.params() | params)

    def app_error(self) -> Step[None]:
        self.call.heard.append(Utterance("say", APP_ERROR_TEXT, at=self.board.now()))
        yield Wait(self.board.say_seconds(APP_ERROR_TEXT, 1))

    # -- prompts ---------------------------------------------------------------------------

    def prompt(self, node: Node, listen: frozenset[str]) -> Step[Wake | None]:
        """Play a Say/Play/Pause; input of a kind in `listen` cuts it short (barge-in)."""
        utterance, seconds = self.render(node)
        self.call.heard.append(utterance)
        if seconds == 0 and not listen:
            return None
        return (yield Wait(seconds, listen))

    def render(self, node: Node) -> tuple[Utterance, float | None]:
        """What the caller hears and for how long (None: until interrupted)."""
        now = self.board.now()
        loop = node.int_attr("loop", 1)
        if node.tag == "Pause":
            return Utterance("pause", at=now), float(node.int_attr("length", 1))
        if node.tag == "Say":
            said = Utterance(
                "say", node.text, "", node.attr("language", "en-US"), node.attr("voice", "man"), now
            )
            return said, self.board.say_seconds(node.text, loop) if loop else None
        if not node.text:
            return Utterance("digits", node.attr("digits"), at=now), DIGIT_TONE_S * len(
                node.attr("digits")
            )
        url = self.board.webhooks.resolve(node.text, self.doc_url)
        return Utterance("play", url=url, at=now), self.board.play_seconds(url) * loop or None

    # -- Gather ----------------------------------------------------------------------------

    def gather(self, node: Node) -> Step[Outcome]:
        kinds = frozenset(node.attr("input", "dtmf").split())
        wake: Wake | None = None
        for child in node.children:
            wake = yield from self.prompt(child, kinds)
            if wake is not None:
                break
        result = yield from self.collect(node, kinds, wake)
        if result is None and not node.bool_attr("actionOnEmptyResult", False):
            return NEXT
        return self.target("Gather", node.attr("action"), node.method(), result or {"Digits": ""})

    def collect(
        self, node: Node, kinds: frozenset[str], wake: Wake | None
    ) -> Step[dict[str, str] | None]:
        """Collect keys until finishOnKey, numDigits or the timeout; or take one utterance."""
        timeout = float(node.int_attr("timeout", GATHER_TIMEOUT_S))
        finish = node.attr("finishOnKey", "#")
        wanted = node.int_attr("numDigits", 0)
        digits = ""
        while True:
            if wake is None:
                wake = yield Wait(timeout, kinds)
            if wake is None:
                return {"Digits": digits} if digits else None
            if wake.kind == "speech":
                text, confidence = wake.value
                return {"SpeechResult": text, "Confidence": f"{confidence:.2f}"}
            for key in str(wake.value):
                if finish and key == finish:
                    return {"Digits": digits} if digits else None
                digits += key
                if wanted and len(digits) >= wanted:
                    return {"Digits": digits}
            wake = None

    # -- Record ----------------------------------------------------------------------------

    def record(self, node: Node) -> Step[Outcome]:
        if node.bool_attr("playBeep", True):
            self.call.heard.append(Utterance("beep", "beep", at=self.board.now()))
        action, method = node.attr("action"), node.method()
        self.target("Record", action, method)  # fail before recording, not after
        started = self.board.now()
        try:
            digits, silent = yield from self.listen_to_recording(node, started)
        except HungUp:
            self.notify(
                "Record",
                action or self.doc_url or "",
                method,
                self.recording(started, 0.0, "hangup"),
            )
            raise
        params = self.recording(started, silent, digits)
        return self.target("Record", action, method, params)

    def listen_to_recording(self, node: Node, started: float) -> Step[tuple[str, float]]:
        """Wait for a finish key, the silence timeout or maxLength; return (key, silence)."""
        timeout = float(node.int_attr("timeout", RECORD_TIMEOUT_S))
        ends = started + node.int_attr("maxLength", RECORD_MAX_LENGTH_S)
        finish = node.attr("finishOnKey", RECORD_FINISH_KEYS)
        while True:
            remaining = max(0.0, ends - self.board.now())
            limit = min(timeout, remaining) if timeout > 0 else remaining
            wake = yield Wait(limit, frozenset({"dtmf", "speech"}))
            if wake is None:
                return "", limit if limit == timeout else 0.0
            pressed = [k for k in str(wake.value) if k in finish] if wake.kind == "dtmf" else []
            if pressed:
                return pressed[0], 0.0

    def recording(self, started: float, silence: float, digits: str) -> dict[str, str]:
        sid = new_sid("RE")
        base = "https://api.twilio.com/2010-04-01/Accounts"
        seconds = max(0, int(self.board.now() - started - silence))
        params = {
            "RecordingUrl": f"{base}/{self.call.account_sid}/Recordings/{sid}",
            "RecordingSid": sid,
            "RecordingDuration": str(seconds),
        }
        if digits:
            params["Digits"] = digits
        return params


class EmulatorBug(EmulatorError):
    """An unexpected exception inside the emulator, raised from the next API call."""

    def __init__(self, cause: BaseException) -> None:
        self.cause = cause
        super().__init__(f"emulator bug: {cause!r}")
