"""`<Enqueue>`: hold a caller in a named queue, looping its waitUrl, until it leaves or is bridged.

Twilio posts the Enqueue `action` with a `QueueResult`: at once for `leave`,
`queue-full`, `redirected` (REST) and `hangup`; after the bridge ends for
`bridged`. When the caller is gone, the action's TwiML is not executed. A queue
at its maxSize refuses the caller: Twilio logs warning 14207 and posts the action
with `QueueResult=queue-full` (no QueueSid: the call was never enqueued).
"""

from __future__ import annotations

from ivr.core.errors import TwiMLError
from ivr.devtools.emulator.interpreter import END, NEXT, Interpreter, LeaveQueue, Outcome, Target
from ivr.devtools.emulator.process import Dequeued, HungUp, Redirected, Step, Wait
from ivr.devtools.emulator.queues import Member, Queue
from ivr.devtools.emulator.twiml import Node
from ivr.devtools.emulator.webhooks import WebhookFailure

HOLD_MUSIC_URL = "http://com.twilio.sounds.music.s3.amazonaws.com/ClockworkWaltz.mp3"
"""Stands in for Twilio's default classical playlist when Enqueue has no waitUrl."""
MIN_REFETCH_S = 1.0
"""A waitUrl document that takes no time is re-fetched after this gap, not in a tight loop."""


def run_enqueue(it: Interpreter, node: Node) -> Step[Outcome]:
    """Put the caller in the queue and wait until Leave, a dequeue, a redirect or hang-up."""
    queue, member = it.board.join_queue(node.text, node.int_attr("maxQueueSize", 0), it.call)
    if member is None:  # warning 14207: the call goes on at the action, or the next verb
        return _result(it, node, "queue-full", None, None)
    it.call.queue = queue.name
    it.board.match_queue(queue)
    try:
        if member.left_at is not None:
            yield Wait(None)  # an agent was already waiting: its Dequeued arrives next
        ended = yield from _wait_loop(it, node, queue, member)
    except LeaveQueue:
        return _result(it, node, "leave", queue, member)
    except Dequeued as dequeued:
        _leave(it, queue, member)
        return (yield from _bridged(it, node, queue, member, dequeued))
    except (TwiMLError, WebhookFailure) as exc:
        it.board.record_error(exc)
        return _result(it, node, "error", queue, member)
    except HungUp:
        _notify(it, node, "hangup", queue, member)
        raise
    except Redirected:
        _notify(it, node, "redirected", queue, member)
        raise
    finally:
        _leave(it, queue, member)
    _notify(it, node, ended, queue, member)
    return END


def _leave(it: Interpreter, queue: Queue, member: Member) -> None:
    queue.leave(member, it.board.now())
    it.call.queue = None


def _wait_loop(it: Interpreter, node: Node, queue: Queue, member: Member) -> Step[str]:
    """Fetch and run waitUrl over and over; return 'hangup' if its TwiML hangs up."""
    wait_url = node.attrs.get("waitUrl")
    if wait_url is None:
        music = Node("Play", {"loop": "0"}, HOLD_MUSIC_URL)
        yield from it.prompt(music, frozenset())
    if not wait_url:
        yield Wait(None)
    method = node.method("waitUrlMethod")
    home = it.target("Enqueue", wait_url or "", method)
    target = home
    while True:
        started = it.board.now()
        params = queue.wait_params(member, started) | target.params
        document = it.fetch(target.url or "", target.method, params, "wait")
        outcome = yield from it.execute(document, "wait")
        if outcome == END:
            return "hangup"
        target = outcome if isinstance(outcome, Target) else home
        if it.board.now() == started:
            yield Wait(MIN_REFETCH_S)


def _bridged(
    it: Interpreter, node: Node, queue: Queue, member: Member, dequeued: Dequeued
) -> Step[Outcome]:
    """Run the dequeuer's Queue url TwiML on this caller, then talk until the bridge ends."""
    if dequeued.url:
        params = {
            "QueueSid": queue.sid,
            "QueueTime": str(member.wait_time(it.board.now())),
            "DequeingCallSid": dequeued.agent.sid,
        }
        document = it.fetch(dequeued.url, dequeued.method, params, "dequeue")
        outcome = yield from it.execute(document, "dequeue")
        if isinstance(outcome, Target):
            it.board.wake(dequeued.agent, "child_ended", it.call)
            return outcome
    it.board.connect(it.call, dequeued.agent)
    it.board.wake(dequeued.agent, "answered", it.call)
    try:
        if it.call.bridge is not None:
            yield Wait(None, frozenset({"unbridged"}))
    except HungUp:
        _notify(it, node, "bridged", queue, member)
        raise
    return _result(it, node, "bridged", queue, member)


def _params(
    it: Interpreter, result: str, queue: Queue | None, member: Member | None
) -> dict[str, str]:
    params = {"QueueResult": result}
    if queue is not None and member is not None:
        params["QueueSid"] = queue.sid
        params["QueueTime"] = str(member.wait_time(it.board.now()))
    return params


def _result(
    it: Interpreter, node: Node, result: str, queue: Queue | None, member: Member | None
) -> Outcome:
    """Continue at the action URL with the QueueResult, or with the next verb."""
    action = node.attr("action")
    if not action:
        return NEXT
    return it.target("Enqueue", action, node.method(), _params(it, result, queue, member))


def _notify(it: Interpreter, node: Node, result: str, queue: Queue, member: Member) -> None:
    it.notify("Enqueue", node.attr("action"), node.method(), _params(it, result, queue, member))
