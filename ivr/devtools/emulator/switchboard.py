"""The emulator's runtime: legs, their lifecycle, bridges, queues and webhook delivery.

Everything here runs on the emulator's loop thread. The one exception is
`submit()`: REST handlers running on the app's threads only record a request
and hand the loop a closure to run after the current webhook returns.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from ivr.core.clock import Clock
from ivr.core.errors import EmulatorError, TwiMLError
from ivr.devtools.emulator.callbacks import Post, StatusNotifier
from ivr.devtools.emulator.calls import Bridge, Call, Controller, Notifier, Start
from ivr.devtools.emulator.conferences import Conferences
from ivr.devtools.emulator.devices import Device, Switch
from ivr.devtools.emulator.dial import run_child, run_dial
from ivr.devtools.emulator.enqueue import run_enqueue
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.interpreter import EmulatorBug, Interpreter, Verb
from ivr.devtools.emulator.pacing import Pacer
from ivr.devtools.emulator.process import Dequeued, HungUp, Redirected, Runner, Step
from ivr.devtools.emulator.queues import DEFAULT_MAX_SIZE, QUEUE_FULL, Dequeuer, Member, Queue
from ivr.devtools.emulator.resources import Alert
from ivr.devtools.emulator.rest_faults import RestFaults
from ivr.devtools.emulator.scheduler import Event, Scheduler
from ivr.devtools.emulator.webhooks import Reply, Webhooks, check_callback

SAY_SECONDS_PER_WORD = 0.4
PLAY_SECONDS = 10.0
RING_TIMEOUT_S = 60.0
"""REST calls.create rings for 60 s unless `timeout` says otherwise."""
VERBS: Mapping[str, Verb] = {"Dial": run_dial, "Enqueue": run_enqueue}
"""The verbs that live outside the interpreter, handed to every leg's Interpreter."""


@dataclass
class Number:
    """A phone number configured like Twilio's console."""

    number: str
    voice_url: str | None = None
    voice_method: str = "POST"
    voice_status_callback: str | None = None
    sms_url: str | None = None
    sms_method: str = "POST"
    voice_fallback_url: str | None = None
    """Kept and reported by the REST API; the emulator never fails over to it."""
    sid: str = field(default_factory=lambda: new_sid("PN"))


class Switchboard:
    """Holds every leg, queue and device and moves them through their lives."""

    def __init__(self, clock: Clock, webhooks: Webhooks, account_sid: str) -> None:
        self.clock = clock
        self.scheduler = Scheduler(clock)
        self.webhooks = webhooks
        self.account_sid = account_sid
        self.controller: Controller | None = None
        self.switch: Switch | None = None
        self.numbers: dict[str, Number] = {}
        self.calls: dict[str, Call] = {}
        self.queues: dict[str, Queue] = {}
        self.devices: dict[str, Device] = {}
        self.errors: list[EmulatorError] = []
        self.pending: list[EmulatorError] = []
        self.alerts: list[Alert] = []
        """Warnings Twilio's Debugger would show (the call itself goes on), oldest first."""
        self.default_queue_size = DEFAULT_MAX_SIZE
        self.replay_webhooks = False
        self.status_callbacks_out_of_order = False
        self.status_callback_jitter_s = 0.0
        """Each status callback is delayed by up to this long (uniform), so they can cross."""
        self.rng = random.Random(0)
        self.faults = RestFaults(clock)
        self.say_seconds_per_word = SAY_SECONDS_PER_WORD
        self.default_play_seconds = PLAY_SECONDS
        self.play_durations: dict[str, float] = {}
        self.lock = threading.Lock()
        self._inbox: deque[Callable[[], None]] = deque()
        self._ring_timers: dict[str, Event] = {}
        self.conferences = Conferences(self)
        self.pacer = Pacer()
        self._pacing: Event | None = None

    # -- time, errors, cross-thread requests --------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def say_seconds(self, text: str, loop: int) -> float:
        return max(1, len(text.split())) * self.say_seconds_per_word * loop

    def play_seconds(self, url: str) -> float:
        return self.play_durations.get(url, self.default_play_seconds)

    def record_error(self, exc: EmulatorError) -> None:
        """Keep a failure for tw.errors; TwiML errors are also raised from the next API call."""
        self.errors.append(exc)
        if isinstance(exc, TwiMLError | EmulatorBug):
            self.pending.append(exc)

    def submit(self, job: Callable[[], None]) -> None:
        """Run `job` on the loop thread soon; safe to call from any thread."""
        with self.lock:
            self._inbox.append(job)

    def drain(self) -> int:
        """Run the jobs other threads submitted; return how many ran."""
        count = 0
        while True:
            with self.lock:
                if not self._inbox:
                    return count
                job = self._inbox.popleft()
            job()
            count += 1

    # -- webhooks --------------------------------------------------------------------------

    def send(self, url: str, method: str, params: dict[str, str], call: Call | None) -> Reply:
        """Request a TwiML document (twice, if replay is on) and return the first reply."""
        replay = self.replay_webhooks if call is None or call.replay is None else call.replay
        return self.webhooks.send(url, method, params, 2 if replay else 1)

    def post_later(self, url: str, method: str, params: dict[str, str]) -> None:
        """Send a webhook whose answer does not matter (status callbacks, spent actions)."""
        self.scheduler.after(0, lambda: self._post_now(url, method, params))

    def _post_now(self, url: str, method: str, params: dict[str, str]) -> None:
        try:
            check_callback(
                self.send(url, method, params, self.calls.get(params.get("CallSid", "")))
            )
        except EmulatorError as exc:
            self.record_error(exc)

    def notifier(self, url: str, events: frozenset[str], method: str = "POST") -> StatusNotifier:
        post: Post = self.post_later  # bound now: a fault plan may have replaced it
        jitter = self.status_callback_jitter_s
        if jitter > 0:
            post = self._jittered(post, jitter)
        return StatusNotifier(
            url=self.webhooks.resolve(url),
            post=post,
            clock=self.clock,
            events=events,
            method=method,
            out_of_order=self.status_callbacks_out_of_order,
        )

    def _jittered(self, post: Post, jitter: float) -> Post:
        """`post`, each call of it delayed by a random 0..`jitter` seconds."""

        def later(url: str, method: str, params: dict[str, str]) -> None:
            delay = self.rng.uniform(0, jitter)
            self.scheduler.after(delay, lambda: post(url, method, params))

        return later

    # -- legs ------------------------------------------------------------------------------

    def new_call(self, from_: str, to: str, direction: str, **fields: object) -> Call:
        if self.controller is None:
            raise EmulatorError("the switchboard has no controller")
        call = Call(self.controller, from_, to, direction, self.account_sid, self.now())
        for name, value in fields.items():
            setattr(call, name, value)
        with self.lock:
            self.calls[call.sid] = call
        return call

    def start_inbound(self, from_: str, to: str, caller_name: str = "") -> Call:
        number = self.numbers.get(to)
        if number is None or not number.voice_url:
            raise EmulatorError(f"{to} is not a number with a voice_url (tw.add_number)")
        start = Start(self.webhooks.resolve(number.voice_url), number.voice_method)
        call = self.new_call(from_, to, "inbound", start=start, caller_name=caller_name)
        call.status = "ringing"
        if number.voice_status_callback:
            call.notifier = self.notifier(number.voice_status_callback, frozenset({"completed"}))
        self.run(call, Interpreter(self, call, VERBS))
        return call

    def run(self, call: Call, it: Interpreter, gen: Step[None] | None = None) -> None:
        """Start executing a leg; it ends (with its status) when its generator does."""
        runner = Runner(
            self.scheduler,
            gen if gen is not None else it.run(),
            lambda exc: self._leg_done(call, it, exc),
            background=lambda: call.queue is not None,
        )
        call.runner = runner
        runner.start()

    def _leg_done(self, call: Call, it: Interpreter, exc: BaseException | None) -> None:
        status = it.end_status
        if isinstance(exc, HungUp):
            status = exc.status
        elif isinstance(exc, EmulatorError):
            self.record_error(exc)
        elif exc is not None:
            self.record_error(EmulatorBug(exc))
        self.finish(call, status)

    def mark_answered(self, call: Call) -> None:
        """The first verb answers an inbound call."""
        if call.status == "ringing":
            call.status = "in-progress"
            call.answered_at = self.now()
            if call.notifier:
                call.notifier.notify(call, "answered")

    def finish(self, call: Call, status: str) -> None:
        """Mark a leg over: unbridge, stop ringing, report `completed`, tell its parent."""
        if call.ended:
            return
        call.status, call.ended_at = status, self.now()
        timer = self._ring_timers.pop(call.sid, None)
        if timer is not None:
            timer.cancel()
        self._unbridge(call)
        if call.notifier:
            call.notifier.notify(call, "completed")
        parent = call.parent
        if parent is not None and parent.runner is not None:
            parent.runner.wake("child_ended", call)

    def hangup(self, call: Call, status: str = "completed") -> None:
        """End a leg from outside: interrupt its TwiML, or cancel it if never answered."""
        if call.ended:
            return
        if call.runner is not None and call.runner.alive:
            call.runner.interrupt(HungUp(status))
        else:
            self.finish(call, "canceled" if call.status in ("queued", "ringing") else status)

    def cancel(self, call: Call, status: str) -> None:
        """Stop a dialled leg: a ringing one ends with `status`, an answered one hangs up."""
        if call.status == "ringing":
            self.finish(call, status)
        else:
            self.hangup(call)

    def redirect(self, call: Call, start: Start) -> None:
        """REST update(url=|twiml=): a live leg moves; a leg not yet answered changes its URL."""
        if call.runner is not None and call.runner.alive:
            call.runner.interrupt(Redirected(start.url, start.method, start.twiml))
        elif not call.ended:
            call.start = start

    # -- outbound pacing ---------------------------------------------------------------------

    def queue_outbound(self, call: Call) -> None:
        """Queue a REST-created call, to be placed at the account's CPS (safe from any
        thread); raises `pacing.QueueFull` past 24 hours of queued calls."""
        with self.lock:
            wait = self.pacer.admit(call, self.now())
        call.queue_time_ms = int(round(wait * 1000))
        self.submit(self.pace)

    def pace(self) -> None:
        """Place the queued call whose turn has come, and look again at the next turn."""
        if self._pacing is not None:
            self._pacing.cancel()
        with self.lock:
            call, next_at = self.pacer.take_due(self.now())
        if call is not None:
            self.place(call)
        self._pacing = None if next_at is None else self.scheduler.at(next_at, self.pace)

    def place(self, call: Call) -> None:
        """A queued call's turn came: Twilio starts dialling it (`initiated`), then it rings."""
        if call.ended:
            return
        if call.notifier:
            call.notifier.notify(call, "initiated")
        self.ring(call)

    # -- ringing devices -------------------------------------------------------------------

    def device(self, address: str) -> Device:
        if address not in self.devices:
            self.devices[address] = Device(address, self.switch or self)
        return self.devices[address]

    def ring(self, call: Call) -> None:
        """Offer a leg to its device until answered, refused or `timeout_s` passes."""
        if call.ended:
            return
        call.status = "ringing"
        if call.notifier:
            call.notifier.notify(call, "ringing")
        device = self.device(call.to)
        device.calls.append(call)
        self._ring_timers[call.sid] = self.scheduler.after(
            call.timeout_s, lambda: self.refuse(call, "no-answer")
        )
        if device.auto not in (None, "no-answer"):
            self.scheduler.after(device.answer_after, lambda: device.apply_auto(call))

    def answer(self, call: Call, answered_by: str = "human") -> None:
        """The device picked up: run the leg's TwiML (or whisper, for a dialled leg)."""
        if call.status != "ringing":
            raise EmulatorError(f"{call.sid} is not ringing")
        timer = self._ring_timers.pop(call.sid, None)
        if timer is not None:
            timer.cancel()
        call.status, call.answered_at = "in-progress", self.now()
        call.answered_by = answered_by if call.machine_detection else ""
        if call.notifier:
            call.notifier.notify(call, "answered")
        it = Interpreter(self, call, VERBS)
        parent = call.parent
        self.run(call, it, run_child(it, parent) if parent is not None else None)

    def refuse(self, call: Call, status: str) -> None:
        if call.status == "ringing":
            self.finish(call, status)

    def settle(self) -> None:
        if self.controller is not None:
            self.controller.advance(0)

    def dial_child(
        self,
        parent: Call,
        to: str,
        from_: str,
        timeout: float,
        start: Start,
        notifier: Notifier | None = None,
    ) -> Call:
        """Create and ring the outbound-dial leg of a `<Dial>` (`initiated`, then ringing)."""
        child = self.new_call(from_, to, "outbound-dial", parent=parent, timeout_s=timeout)
        child.start, child.notifier = start, notifier
        if notifier is not None:
            notifier.notify(child, "initiated")
        self.ring(child)
        return child

    # -- bridges and queues ------------------------------------------------------------------

    def connect(self, a: Call, b: Call) -> None:
        """Bridge two legs (at once unbridged again if one has already ended)."""
        bridge = Bridge(a, b, self.now())
        a.bridge = b.bridge = bridge
        if a.ended or b.ended:
            self._unbridge(a if a.ended else b)

    def _unbridge(self, call: Call) -> None:
        bridge = call.bridge
        if bridge is None:
            return
        other = bridge.other(call)
        call.bridge = other.bridge = None
        if other.runner is not None:
            other.runner.wake("unbridged", call)

    def queue(self, name: str, max_size: int = 0) -> Queue:
        """The account's queue called `name`, created (as `<Enqueue>` does) if it has none."""
        with self.lock:
            return self._queue(name, max_size)

    def _queue(self, name: str, max_size: int) -> Queue:
        if name not in self.queues:
            size, now = self.default_queue_size, self.now()
            self.queues[name] = Queue(name, max_size=size, created_at=now, updated_at=now)
        queue = self.queues[name]
        if max_size:
            queue.max_size = max_size
        return queue

    def join_queue(self, name: str, max_size: int, call: Call) -> tuple[Queue, Member | None]:
        """Put `call` in queue `name`, in one step a REST delete on another thread cannot
        split; no Member when the queue is full (Twilio's warning 14207 is recorded)."""
        with self.lock:
            queue = self._queue(name, max_size)
            if not queue.full:
                return queue, queue.join(call, self.now())
        self.alerts.append(
            Alert(QUEUE_FULL, f"queue {name} is at its maxSize", call.sid, self.now())
        )
        return queue, None

    def queue_by_sid(self, sid: str) -> Queue | None:
        return next((q for q in list(self.queues.values()) if q.sid == sid), None)

    def delete_queue(self, queue: Queue) -> bool:
        """Remove an empty queue (a REST delete); False if someone is in it."""
        with self.lock:
            if not queue.empty:
                return False
            if self.queues.get(queue.name) is queue:
                del self.queues[queue.name]
            return True

    def await_caller(self, queue: Queue, agent: Call, url: str | None, method: str) -> None:
        queue.dequeuers.append(Dequeuer(agent, url, method))
        self.match_queue(queue)

    def stop_awaiting(self, queue: Queue, agent: Call) -> None:
        queue.dequeuers = [d for d in queue.dequeuers if d.call is not agent]

    def match_queue(self, queue: Queue) -> None:
        """Hand the front caller to the first agent waiting in `<Dial><Queue>`, if both exist."""
        while queue.dequeuers and queue.members_:
            dequeuer, member = queue.dequeuers.pop(0), queue.members_[0]
            queue.leave(member, self.now())
            if member.call.runner is not None:
                member.call.runner.interrupt(Dequeued(dequeuer.call, dequeuer.url, dequeuer.method))

    def wake(self, call: Call, kind: str, value: object = None) -> bool:
        """Wake a leg waiting for `kind`; say whether it was waiting for it."""
        return call.runner is not None and call.runner.wake(kind, value)
