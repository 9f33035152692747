"""`<Dial>`: ring Number/Client legs (with whispers) or take the front caller of a `<Queue>`."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.devtools.emulator.callbacks import requested_events
from ivr.devtools.emulator.calls import Call, Notifier, Start
from ivr.devtools.emulator.conference import Participant
from ivr.devtools.emulator.conference_leg import attend
from ivr.devtools.emulator.interpreter import END, NEXT, Interpreter, Outcome, Target
from ivr.devtools.emulator.process import HungUp, Step, Wait, Wake
from ivr.devtools.emulator.queues import Queue
from ivr.devtools.emulator.twiml import Node

DIAL_TIMEOUT_S = 30
RING_WAKES = frozenset({"answered", "child_ended"})
UNBRIDGED = frozenset({"unbridged"})
STATUS_PRECEDENCE = ("completed", "busy", "no-answer", "failed", "canceled")
CONFERENCE_STATUS = "answered"
"""Twilio's DialCallStatus after a conference (it sends no DialCallSid or DialCallDuration)."""


@dataclass
class DialResult:
    """How a Dial ended, as its action request reports it."""

    status: str
    child: Call | None = None
    bridged: bool = False
    duration: int = 0
    extra: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        params = {"DialCallStatus": self.status, "DialBridged": str(self.bridged).lower()}
        if self.child is not None:
            params["DialCallSid"] = self.child.sid
            params["DialCallDuration"] = str(self.duration)
        return params | self.extra


def run_dial(it: Interpreter, node: Node) -> Step[Outcome]:
    """Dial, wait for the outcome, then go to the action URL or on to the next verb."""
    nouns = node.children or (Node("Number", {}, node.text),)
    try:
        if nouns[0].tag == "Queue":
            result = yield from _dial_queue(it, node, nouns[0])
        elif nouns[0].tag == "Conference":
            result = yield from _dial_conference(it, nouns[0])
        else:
            result = yield from _dial_legs(it, node, nouns)
    except _CallerGone as gone:
        it.notify("Dial", node.attr("action"), node.method(), gone.result.params())
        raise HungUp() from None
    if node.attr("action"):
        return it.target("Dial", node.attr("action"), node.method(), result.params())
    return NEXT


class _CallerGone(Exception):
    """The dialling caller hung up; carries what the action request should report."""

    def __init__(self, result: DialResult) -> None:
        self.result = result
        super().__init__(result.status)


def _dial_legs(it: Interpreter, node: Node, nouns: tuple[Node, ...]) -> Step[DialResult]:
    timeout = float(node.int_attr("timeout", DIAL_TIMEOUT_S))
    caller_id = node.attr("callerId") or it.call.from_
    children = [_ring(it, noun, caller_id, timeout) for noun in nouns]
    try:
        answered = yield from _wait_for_answer(it, children, timeout)
    except HungUp:
        for child in children:
            it.board.cancel(child, "canceled")
        raise _CallerGone(DialResult("canceled")) from None
    if answered is None:
        return DialResult(_overall_status(children))
    for child in children:
        if child is not answered:
            it.board.cancel(child, "canceled")
    return (yield from _talk(it, answered, connect=True))


def _ring(it: Interpreter, noun: Node, caller_id: str, timeout: float) -> Call:
    url = it.target(noun.tag, noun.attr("url"), noun.method()).url if noun.attr("url") else None
    identity = noun.text or next(c.text for c in noun.children if c.tag == "Identity")
    address = f"client:{identity}" if noun.tag == "Client" else identity
    start = Start(url, noun.method())
    return it.board.dial_child(it.call, address, caller_id, timeout, start, _notifier(it, noun))


def _notifier(it: Interpreter, noun: Node) -> Notifier | None:
    """The noun's statusCallback, with the events it asks for (only `completed` unless
    `statusCallbackEvent` lists others, as on Twilio)."""
    if not noun.attr("statusCallback"):
        return None
    method = noun.method("statusCallbackMethod")
    url = it.target(noun.tag, noun.attr("statusCallback"), method).url or ""
    return it.board.notifier(url, requested_events(noun.attr("statusCallbackEvent")), method)


def _wait_for_answer(it: Interpreter, children: list[Call], timeout: float) -> Step[Call | None]:
    """The first child whose whisper finished (answered), or None on timeout / all failing."""
    deadline = it.board.now() + timeout
    while not all(child.ended for child in children):
        wake: Wake | None = yield Wait(max(0.0, deadline - it.board.now()), RING_WAKES)
        if wake is None:
            for child in children:
                it.board.cancel(child, "no-answer")
            return None
        if wake.kind == "answered":
            answered: Call = wake.value
            return answered
    return None


def _overall_status(children: list[Call]) -> str:
    statuses = {child.status for child in children}
    return next((s for s in STATUS_PRECEDENCE if s in statuses), "no-answer")


def _talk(it: Interpreter, other: Call, connect: bool) -> Step[DialResult]:
    """Stay bridged to `other` until either side hangs up."""
    if connect:
        it.board.connect(it.call, other)
    started = it.board.now()
    try:
        if it.call.bridge is not None:
            yield Wait(None, UNBRIDGED)
    except HungUp:
        duration = int(it.board.now() - started)
        raise _CallerGone(DialResult("completed", other, True, duration)) from None
    return DialResult("completed", other, True, int(it.board.now() - started))


def _dial_queue(it: Interpreter, node: Node, noun: Node) -> Step[DialResult]:
    """Take the front caller of the queue; the action names the queue (QueueSid) whatever
    the outcome, so the app knows which queue it touched (`<Dial><Queue>` creates one)."""
    queue = it.board.queue(noun.text, 0)
    named = {"QueueSid": queue.sid}
    try:
        result = yield from _take_caller(it, node, noun, queue)
    except _CallerGone as gone:
        gone.result.extra = named
        raise
    result.extra = named
    return result


def _take_caller(it: Interpreter, node: Node, noun: Node, queue: Queue) -> Step[DialResult]:
    url = it.target("Queue", noun.attr("url"), noun.method()).url if noun.attr("url") else None
    it.board.await_caller(queue, it.call, url, noun.method())
    try:
        wake = yield Wait(float(node.int_attr("timeout", DIAL_TIMEOUT_S)), RING_WAKES)
    except HungUp:
        it.board.stop_awaiting(queue, it.call)
        raise _CallerGone(DialResult("canceled")) from None
    if wake is None:
        it.board.stop_awaiting(queue, it.call)
        return DialResult("no-answer")
    caller: Call = wake.value
    if wake.kind == "child_ended":
        return DialResult("failed", caller)
    return (yield from _talk(it, caller, connect=False))


def _dial_conference(it: Interpreter, noun: Node) -> Step[DialResult]:
    """Stay in the conference until leaving it (a full one fails the Dial)."""
    joined: list[Participant] = []
    try:
        talked = yield from attend(it, noun, joined)
    except HungUp:
        talked = any(p.talked for p in joined)  # hung up while alone in it: never bridged
        raise _CallerGone(DialResult(CONFERENCE_STATUS, bridged=talked)) from None
    if talked is None:
        return DialResult("failed")
    return DialResult(CONFERENCE_STATUS, bridged=talked)


def run_child(it: Interpreter, parent: Call) -> Step[None]:
    """A dialled leg once answered: run its whisper, then offer it to the parent to bridge."""
    target = Target(it.call.start.url, it.call.start.method) if it.call.start.url else None
    while target is not None:
        outcome = yield from it.execute(
            it.fetch(target.url or "", target.method, target.params, "whisper"), "whisper"
        )
        if outcome == END:
            return
        target = outcome if isinstance(outcome, Target) else None
    if parent.runner is None or not parent.runner.wake("answered", it.call):
        return
    yield Wait(None, UNBRIDGED)
