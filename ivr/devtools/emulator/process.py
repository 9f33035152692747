"""Call legs run as generators that yield what they wait for.

A leg's TwiML execution is a generator: it yields a `Wait` (a duration, and the
kinds of wake-up that may cut it short, such as a key press) and is resumed
with the `Wake` that ended it, or None when the time ran out. Things that end
or divert a leg from outside (hang-up, REST redirect, being dequeued) are
thrown into the generator as `Interrupt`s, so each verb can clean up in an
`except`/`finally`. Every resumption goes through the scheduler, so one leg's
step never runs inside another's.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ivr.devtools.emulator.scheduler import Event, Scheduler

T = TypeVar("T")


@dataclass(frozen=True)
class Wait:
    """Suspend for `seconds` (None: until woken) unless a wake of a kind in `wakes` arrives."""

    seconds: float | None = None
    wakes: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Wake:
    """Why a wait ended early: `kind` (dtmf, speech, answered, unbridged...) and a value."""

    kind: str
    value: Any = None


Step = Generator[Wait, Wake | None, T]


class Interrupt(Exception):
    """Something outside the leg changes its course."""


class HungUp(Interrupt):
    """The leg is over (caller hung up, REST completed it, the other side ended it)."""

    def __init__(self, status: str = "completed") -> None:
        self.status = status
        super().__init__(status)


class Redirected(Interrupt):
    """REST `calls(sid).update(url=|twiml=)` moved the leg to a new document."""

    def __init__(self, url: str | None, method: str, twiml: str | None) -> None:
        self.url, self.method, self.twiml = url, method, twiml
        super().__init__(url or "inline TwiML")


class Dequeued(Interrupt):
    """A `<Dial><Queue>` on another leg took this caller off the front of its queue."""

    def __init__(self, agent: Any, url: str | None, method: str) -> None:
        self.agent, self.url, self.method = agent, url, method
        super().__init__(url or "")


class Runner:
    """Drives one generator on the scheduler; `on_done` gets the exception it ended with."""

    def __init__(
        self,
        scheduler: Scheduler,
        gen: Step[None],
        on_done: Callable[[BaseException | None], None],
        background: Callable[[], bool] = lambda: False,
    ) -> None:
        self._sched = scheduler
        self._gen = gen
        self._on_done = on_done
        self._background = background
        self._wait: Wait | None = None
        self._timer: Event | None = None
        self._token = 0
        self.alive = True

    def start(self) -> None:
        self._sched.after(0, lambda: self._step(lambda: next(self._gen)))

    def accepts(self, kind: str) -> bool:
        """Whether the current wait would be cut short by a wake of this kind."""
        return self.alive and self._wait is not None and kind in self._wait.wakes

    def wake(self, kind: str, value: Any = None) -> bool:
        """Resume the leg with a wake if its current wait takes that kind; say whether it did."""
        if not self.accepts(kind):
            return False
        token = self._token
        self._sched.after(0, lambda: self._resume(token, Wake(kind, value)))
        self._wait = Wait(self._wait.seconds if self._wait else None)  # one wake per wait
        return True

    def interrupt(self, exc: Interrupt) -> None:
        """Throw `exc` into the leg at its current wait (soon, never re-entrantly)."""
        if self.alive:
            self._sched.after(0, lambda: self._throw(exc))

    def _throw(self, exc: Interrupt) -> None:
        if self.alive:
            self._step(lambda: self._gen.throw(exc))

    def _resume(self, token: int, wake: Wake | None) -> None:
        if self.alive and token == self._token:
            self._step(lambda: self._gen.send(wake))

    def _step(self, advance: Callable[[], Wait]) -> None:
        self._token += 1
        if self._timer is not None:
            self._timer.cancel()
        self._wait, self._timer = None, None
        try:
            wait = advance()
        except StopIteration:
            self._finish(None)
            return
        except Exception as exc:  # noqa: BLE001 - the leg ends with whatever stopped it
            self._finish(exc)
            return
        self._wait = wait
        if wait.seconds is not None:
            token = self._token
            self._timer = self._sched.after(
                wait.seconds, lambda: self._resume(token, None), background=self._background()
            )

    def _finish(self, exc: BaseException | None) -> None:
        self.alive = False
        self._on_done(exc)
