"""The `Emulator` facade: a local Twilio that calls your app like a phone network would.

    tw = Emulator(server.url, public_base_url="https://ivr.example.com", auth_token="secret")
    tw.add_number("+60312345678", voice_url="/voice/incoming")
    call = tw.dial(from_="+60123456789", to="+60312345678")
    call.hears("Welcome"); call.press("1"); call.wait(30); call.hangup()

Time only moves when the test moves it (with the default ManualClock), so a
30-minute hold takes milliseconds. Every public method first runs whatever is
due, then raises any TwiML error the app caused since the last call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from types import TracebackType

from ivr.core.clock import Clock, ManualClock
from ivr.core.errors import EmulatorError
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.conference import Conference
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.queues import Queue
from ivr.devtools.emulator.resources import Alert, Message
from ivr.devtools.emulator.rest import EmulatorHttpClient
from ivr.devtools.emulator.sms import Messaging
from ivr.devtools.emulator.switchboard import Number, Switchboard
from ivr.devtools.emulator.webhooks import Webhooks

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
TICK_S = 0.25
"""With on_tick hooks, the clock moves at most this far between hook calls."""
MAX_EVENTS_PER_INSTANT = 10_000
"""More events than this without the clock moving means a redirect loop."""
IDLE_MAX_S = 3600.0
REALTIME_POLL_S = 0.05


class Emulator:
    """A local Twilio: numbers, calls, queues, devices, SMS and the REST API, on one clock."""

    def __init__(
        self,
        base_url: str,
        *,
        public_base_url: str,
        auth_token: str,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        clock: Clock | None = None,
        tick_s: float = TICK_S,
    ) -> None:
        self.clock: Clock = clock if clock is not None else ManualClock()
        self.tick_s = tick_s
        """With on_tick hooks, the clock moves at most this far between hook calls."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self._webhooks = Webhooks(base_url, public_base_url, auth_token)
        self._board = Switchboard(self.clock, self._webhooks, account_sid)
        self._board.controller = self
        self._board.switch = self
        self._sms = Messaging(self._board)
        self._hooks: list[Callable[[float], None]] = []
        self._settle_hooks: list[Callable[[], bool]] = []
        self._loop_lock = threading.RLock()

    # -- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        self._webhooks.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- configuration ---------------------------------------------------------------------

    def add_number(
        self,
        number: str,
        *,
        voice_url: str | None = None,
        voice_method: str = "POST",
        voice_status_callback: str | None = None,
        sms_url: str | None = None,
        sms_method: str = "POST",
    ) -> None:
        """Configure a phone number's webhooks, as in Twilio's console."""
        self._board.numbers[number] = Number(
            number, voice_url, voice_method.upper(), voice_status_callback, sms_url, sms_method
        )

    def number(self, number: str) -> Number:
        """A phone number's configuration, as the REST API or `add_number` last set it."""
        return self._board.numbers[number]

    @property
    def replay_webhooks(self) -> bool:
        """Send every webhook twice (identical, like a retry) and use the first reply."""
        return self._board.replay_webhooks

    @replay_webhooks.setter
    def replay_webhooks(self, value: bool) -> None:
        self._board.replay_webhooks = value

    @property
    def status_callbacks_out_of_order(self) -> bool:
        """Hold each new call's status callbacks and deliver them in reverse when it ends."""
        return self._board.status_callbacks_out_of_order

    @status_callbacks_out_of_order.setter
    def status_callbacks_out_of_order(self, value: bool) -> None:
        self._board.status_callbacks_out_of_order = value

    @property
    def status_callback_jitter_s(self) -> float:
        """Delay each status callback of new legs by a random 0..this many seconds (seeded),
        so a leg's events can arrive out of order, interleaved with other calls' (0: none)."""
        return self._board.status_callback_jitter_s

    @status_callback_jitter_s.setter
    def status_callback_jitter_s(self, value: float) -> None:
        self._board.status_callback_jitter_s = value

    def fail_rest(
        self,
        status: int = 503,
        code: int | None = None,
        *,
        seconds: float | None = None,
        count: int | None = None,
        applied: bool = False,
    ) -> None:
        """Answer REST requests with HTTP `status` (Twilio `code`) for the next `seconds`
        of simulated time and/or the next `count` requests; they have no effect, unless
        `applied`: then they are carried out and only their answer is the error."""
        self._board.faults.add(status, code, seconds, count, applied)

    @property
    def rest_failures(self) -> int:
        """How many REST requests were answered with an injected error so far."""
        return self._board.faults.failed

    @property
    def cps(self) -> float:
        """The account's calls per second: REST-created calls wait `queued` for their turn
        (Twilio's default is 1; a create past 24 hours of queued calls fails with 22005)."""
        return self._board.pacer.cps

    @cps.setter
    def cps(self, value: float) -> None:
        if value <= 0:
            raise ValueError("calls per second must be positive")
        self._board.pacer.cps = value
        self._board.submit(self._board.pace)  # the next turn comes at the new rate

    @property
    def outbound_backlog(self) -> list[Call]:
        """The REST-created calls still queued for their turn, oldest first."""
        with self._board.lock:
            return self._board.pacer.backlog()

    @property
    def say_seconds_per_word(self) -> float:
        return self._board.say_seconds_per_word

    @say_seconds_per_word.setter
    def say_seconds_per_word(self, value: float) -> None:
        self._board.say_seconds_per_word = value

    @property
    def play_seconds(self) -> float:
        """How long one loop of a `<Play>` lasts unless `play_durations` names the URL."""
        return self._board.default_play_seconds

    @play_seconds.setter
    def play_seconds(self, value: float) -> None:
        self._board.default_play_seconds = value

    @property
    def play_durations(self) -> dict[str, float]:
        """Seconds per loop for given (absolute) media URLs."""
        return self._board.play_durations

    # -- what tests look at ----------------------------------------------------------------

    @property
    def errors(self) -> list[EmulatorError]:
        """Webhook failures and TwiML errors, oldest first."""
        return self._board.errors

    def assert_no_errors(self) -> None:
        if self._board.errors:
            raise AssertionError(f"emulator errors: {self._board.errors!r}")

    @property
    def calls(self) -> list[Call]:
        return list(self._board.calls.values())

    def call(self, sid: str) -> Call:
        return self._board.calls[sid]

    def queue(self, name: str) -> Queue:
        """The account's queue called `name` (KeyError if it has none: looking creates none)."""
        return self._board.queues[name]

    @property
    def queues(self) -> list[Queue]:
        """The account's Queue resources: every queue made and not deleted through REST."""
        return list(self._board.queues.values())

    @property
    def alerts(self) -> list[Alert]:
        """Warnings Twilio's Debugger would log (14207, a full queue), oldest first."""
        return self._board.alerts

    @property
    def default_queue_size(self) -> int:
        """The maxSize of a queue `<Enqueue>` creates (100; Twilio allows up to 5000)."""
        return self._board.default_queue_size

    @default_queue_size.setter
    def default_queue_size(self, value: int) -> None:
        self._board.default_queue_size = value

    @property
    def conferences(self) -> list[Conference]:
        """Every conference so far, current and completed, oldest first."""
        return list(self._board.conferences.all)

    def conference(self, name: str) -> Conference:
        """The latest conference of that name (`participants`, `status`, `sid`...)."""
        found = [c for c in self._board.conferences.all if c.name == name]
        if not found:
            raise EmulatorError(f"there has been no conference named {name!r}")
        return found[-1]

    def device(self, address: str) -> Device:
        """The phone (`+60...`) or client (`client:alice`) that calls to `address` ring."""
        return self._board.device(address)

    @property
    def outbox(self) -> list[Message]:
        return self._sms.outbox

    @property
    def opted_out(self) -> set[str]:
        """Numbers that replied STOP: messages.create to them fails with 21610."""
        return self._sms.opted_out

    def sms_to(self, number: str) -> list[Message]:
        return [m for m in self._sms.outbox if m.to == number]

    def http_client(self) -> EmulatorHttpClient:
        """A transport for `twilio.rest.Client(..., http_client=tw.http_client())`."""
        return EmulatorHttpClient(self._board, self._sms, self.auth_token)

    # -- acting like the outside world -----------------------------------------------------

    def dial(
        self, *, from_: str, to: str, caller_name: str = "", replay: bool | None = None
    ) -> Call:
        """Place an inbound call to one of the app's numbers; run it until it waits."""
        with self._loop_lock:
            call = self._board.start_inbound(from_, to, caller_name)
            call.replay = replay
            self._settle()
            return call

    def send_sms(self, from_: str, to: str, body: str, **extra: str) -> list[Message]:
        """Text one of the app's numbers; return the replies its messaging TwiML sent."""
        with self._loop_lock:
            replies = self._sms.receive(from_, to, body, {k: str(v) for k, v in extra.items()})
            self._settle()
            return replies

    def hangup(self, call: Call) -> None:
        with self._loop_lock:
            self._board.hangup(call)
            self._settle()

    def deliver(self, call: Call, kind: str, value: object) -> None:
        with self._loop_lock:
            if call.runner is not None:
                call.runner.wake(kind, value)
            self._settle()

    def answer(self, call: Call, answered_by: str = "human") -> None:
        with self._loop_lock:
            self._board.answer(call, answered_by)

    def refuse(self, call: Call, status: str) -> None:
        with self._loop_lock:
            self._board.refuse(call, status)

    def settle(self) -> None:
        with self._loop_lock:
            self._settle()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the phone network still: no webhook is in flight, and none starts, until the
        block ends (to kill a web process between requests rather than during one)."""
        with self._loop_lock:
            self._settle()
            yield

    # -- time --------------------------------------------------------------------------------

    def on_tick(self, fn: Callable[[float], None]) -> None:
        """Call `fn(now)` after every clock step (steps are at most `tick_s` apart then)."""
        self._hooks.append(fn)

    def on_settle(self, fn: Callable[[], bool]) -> None:
        """Call `fn()` whenever nothing is left to run at this instant; `fn` returns whether
        it did something (for example waited for the app's background REST requests), and
        the emulator then runs what that brought before the clock moves."""
        self._settle_hooks.append(fn)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running every event due on the way in time order."""
        self.advance_until(lambda: False, seconds)

    def advance_until(self, done: Callable[[], bool], max_seconds: float) -> bool:
        """Run events until `done()` or `max_seconds` have passed; say whether `done()`."""
        with self._loop_lock:
            self._settle()
            if not isinstance(self.clock, ManualClock):
                return done()
            target = self.clock.now() + max_seconds
            while not done():
                if self.clock.now() >= target:
                    return False
                self._step(self.clock, target)
                self._settle()
            return True

    def run_until_idle(self, max_seconds: float = IDLE_MAX_S) -> bool:
        """Run until only open-ended waits (hold loops, unanswered Dial Queue) remain."""
        return self.advance_until(self._idle, max_seconds)

    def _idle(self) -> bool:
        return not self._board.scheduler.has_foreground()

    def run_realtime(self, stop: threading.Event) -> None:
        """With a SystemClock: process events as real time passes until `stop` is set."""
        while not stop.is_set():
            with self._loop_lock:
                # Errors are already in tw.errors; an interactive session keeps running.
                with contextlib.suppress(EmulatorError):
                    self._settle()
                for hook in self._hooks:
                    hook(self.clock.now())
            due = self._board.scheduler.next_time()
            delay = REALTIME_POLL_S if due is None else due - self.clock.now()
            stop.wait(min(REALTIME_POLL_S, max(0.0, delay)))

    def _step(self, clock: ManualClock, target: float) -> None:
        now = clock.now()
        due = self._board.scheduler.next_time()
        to = target if due is None else min(max(due, now), target)
        if self._hooks:
            to = min(to, now + self.tick_s)
        if to > now:
            clock.set(to)
            for hook in self._hooks:
                hook(to)

    def _settle(self) -> None:
        """Run everything due now (and what it schedules for now), then raise TwiML errors."""
        total = 0
        while True:
            ran = self._board.drain() + self._board.scheduler.run_due()
            total += ran
            if not ran and not any([hook() for hook in self._settle_hooks]):
                break
            if total > MAX_EVENTS_PER_INSTANT:
                raise EmulatorError("too many events at one instant: is there a redirect loop?")
        if self._board.pending:
            first, self._board.pending[:] = self._board.pending[0], []
            raise first
