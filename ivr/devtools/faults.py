"""Fault kinds, named profiles, and the seeded plan of what goes wrong when.

`ivr simulate --faults ring-out,rest-5xx` (or a profile such as `devices`)
runs the simulation with these faults injected; `ivr/devtools/emulator/faults.py`
injects the Twilio-side ones and `ivr/devtools/reliability.py` the process-side ones
(reloads, store restart, killed processes). The plan draws from its own
random stream (`faults-<seed>`), so the callers of a seed arrive exactly as
they do without faults, and a seed replays exactly.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from ivr.core.errors import IVRError

KINDS: dict[str, str] = {
    "ring-out": "an agent's device rings until the ring timeout",
    "busy": "an agent's device answers busy",
    "failed": "an agent's device leg fails (Twilio status failed)",
    "unreachable": "Twilio refuses to ring an agent's device (400, 21214)",
    "whisper-hangup": "an agent answers and hangs up during the whisper",
    "accept-drop": "an agent presses 1 to accept, and their leg drops at once",
    "leg-late-end": "as accept-drop, and that leg's end is reported after the agent's next accept",
    "conference-drop": "an agent's leg drops in the conference (connecting or mid-call), "
    "its end reported after their next accept",
    "logout-ringing": "an agent logs out while their device rings",
    "rest-5xx": "Twilio's REST API answers 503 for a few seconds",
    "rest-429": "Twilio's REST API answers 429 (20429) for a few seconds",
    "rest-slow": "Twilio's REST API takes up to a second (wall time) to answer",
    "webhook-twice": "every webhook is delivered twice for a while",
    "webhook-late": "status callbacks arrive seconds late",
    "webhook-reorder": "a call's status callbacks arrive in reverse, after it ends",
    "reload-queue": "a config reload adds a queue, and a later one removes it",
    "reload-agent": "a config reload removes an agent (often mid-call), a later one adds them back",
    "store-restart": "the store stops for a few seconds and restarts on its data",
    "web-kill": "the web process is killed during a REST request and restarted",
    "worker-kill": "the job worker is killed during a job and restarted",
    "bridge-kill": "the web process dies as it is about to move an accepted caller into "
    "the conference, and is restarted",
}
DEVICE_KINDS = (
    "ring-out",
    "busy",
    "failed",
    "whisper-hangup",
    "accept-drop",
    "logout-ringing",
    "leg-late-end",
    "conference-drop",
)
"""Faults drawn for one ring of an agent's device."""
WINDOW_KINDS = ("rest-5xx", "rest-429", "rest-slow", "webhook-twice", "webhook-reorder")
"""Faults that hold for a window of emulated time."""
AT_ARRIVAL = ("rest-5xx", "rest-429", "rest-slow", "store-restart")
"""Faults that start just before the next caller dials once due, so they meet traffic."""
EVENT_KINDS = (
    "reload-queue",
    "reload-agent",
    "store-restart",
    "web-kill",
    "worker-kill",
    "bridge-kill",
)
"""Faults that happen once at an instant."""
PROFILES: dict[str, tuple[str, ...]] = {
    "none": (),
    "devices": (
        "ring-out",
        "busy",
        "failed",
        "unreachable",
        "whisper-hangup",
        "accept-drop",
        "logout-ringing",
        "leg-late-end",
        "conference-drop",
    ),
    "conference": ("leg-late-end", "conference-drop", "bridge-kill"),
    "rest": ("rest-5xx", "rest-429", "rest-slow"),
    "webhooks": ("webhook-twice", "webhook-late", "webhook-reorder"),
    "reload": ("reload-queue", "reload-agent"),
    "crash": ("store-restart", "web-kill", "worker-kill", "bridge-kill"),
    "all": tuple(KINDS),
}
DEVICE_FAULT_P = 0.2
"""The chance that one ring of an agent's device meets one of the chosen device faults."""
UNREACHABLE_P = 0.1
"""The chance that one REST request to ring an agent is refused as unreachable."""
WINDOWS_PER_10_MIN = 4
WINDOW_S = {"rest-5xx": (5, 15), "rest-429": (5, 15), "rest-slow": (10, 30)}
"""How long each window lasts (emulated seconds, uniform); others: `DEFAULT_WINDOW_S`."""
DEFAULT_WINDOW_S = (30, 90)
SLOW_REST_S = (0.2, 1.0)
"""How long a slow REST answer takes, in wall seconds (the emulated clock stands still)."""
LATE_CALLBACK_P = 0.3
"""The chance that one status callback is held back."""
LATE_CALLBACK_S = (1.0, 10.0)
LATE_END_MAX_S = 60.0
"""A held-back leg end (leg-late-end, conference-drop) is sent by this long after the leg
ended (emulated seconds), should its agent accept nothing before."""
CONFERENCE_DROP_S = (0.5, 8.0)
"""When after the accept an agent's leg drops in the conference (emulated seconds): during
the caller's "connecting you", or once they talk."""
STORE_DOWN_S = (2.0, 8.0)
"""How long the store is down in a restart (emulated seconds)."""
EVENT_START_S = 60.0
"""No one-off fault before this much of the run: let calls build up first."""


class UnknownFault(IVRError):
    """A `--faults` entry that is neither a fault kind nor a profile."""

    def __init__(self, name: str) -> None:
        self.name = name
        choices = ", ".join([*PROFILES, *KINDS])
        super().__init__(f"unknown fault {name!r}; choose from {choices}")


def parse(spec: str) -> tuple[str, ...]:
    """Kinds named by `spec`: comma-separated kinds and profiles, in `KINDS` order."""
    chosen: set[str] = set()
    for name in filter(None, (part.strip() for part in spec.split(","))):
        if name in PROFILES:
            chosen.update(PROFILES[name])
        elif name in KINDS:
            chosen.add(name)
        else:
            raise UnknownFault(name)
    return tuple(k for k in KINDS if k in chosen)


@dataclass(frozen=True)
class Window:
    kind: str
    start: float
    end: float

    def holds(self, now: float) -> bool:
        return self.start <= now < self.end


@dataclass(frozen=True)
class Happening:
    kind: str
    at: float


@dataclass
class FaultPlan:
    """Which faults are on, when the windows and one-off events fall, and what was injected."""

    kinds: tuple[str, ...]
    seed: int
    start: float
    minutes: float
    rng: random.Random = field(init=False)
    windows: list[Window] = field(default_factory=list)
    events: list[Happening] = field(default_factory=list)
    injected: Counter[str] = field(default_factory=Counter)
    unheard_ends: Counter[str] = field(default_factory=Counter)
    """Legs (by sid) whose final status callback webhook-late holds back just now."""

    def __post_init__(self) -> None:
        self.rng = random.Random(f"faults-{self.seed}")
        length = self.minutes * 60
        for kind in self.kinds:
            if kind in WINDOW_KINDS and kind in AT_ARRIVAL:
                count = max(1, round(WINDOWS_PER_10_MIN * length / 600))
                times = [self.start + self.rng.uniform(0, length) for _ in range(count)]
                self.events += [Happening(kind, at) for at in times]
            elif kind in WINDOW_KINDS:
                self.windows += self._windows(kind, length)
            elif kind in EVENT_KINDS and length > EVENT_START_S:
                self.events.append(
                    Happening(kind, self.start + self.rng.uniform(EVENT_START_S, length))
                )
        self.events.sort(key=lambda e: e.at)

    def _windows(self, kind: str, length: float) -> list[Window]:
        low, high = WINDOW_S.get(kind, DEFAULT_WINDOW_S)
        count = max(1, round(WINDOWS_PER_10_MIN * length / 600))
        out = []
        for _ in range(count):
            begin = self.start + self.rng.uniform(0, length)
            out.append(Window(kind, begin, begin + self.rng.uniform(low, high)))
            if kind.startswith("webhook"):  # REST windows count the requests they refuse
                self.count(kind)
        return out

    def open(self, kind: str, now: float) -> None:
        """Open a `kind` window at `now`, as long as `WINDOW_S` says."""
        low, high = WINDOW_S.get(kind, DEFAULT_WINDOW_S)
        self.windows.append(Window(kind, now, now + self.rng.uniform(low, high)))

    def on(self, kind: str) -> bool:
        return kind in self.kinds

    def window(self, kind: str, now: float) -> bool:
        """Whether a `kind` window holds at `now`."""
        return any(w.kind == kind and w.holds(now) for w in self.windows)

    def draw(self, p: float) -> bool:
        return self.rng.random() < p

    def device_fault(self) -> str:
        """The fault one ring of an agent's device meets ("" for none)."""
        kinds = [k for k in DEVICE_KINDS if k in self.kinds]
        if not kinds or not self.draw(DEVICE_FAULT_P):
            return ""
        return self.rng.choice(kinds)

    def due(self, now: float) -> list[Happening]:
        """Pop the one-off events due by `now`."""
        ready = [e for e in self.events if e.at <= now]
        self.events = [e for e in self.events if e.at > now]
        return ready

    def count(self, kind: str) -> None:
        self.injected[kind] += 1


class ProcessKilled(BaseException):  # noqa: N818  # not an error the service could handle
    """Stands for SIGKILL inside one Python process: raised where the kill lands.

    A BaseException, so the service's own `except Exception` handlers cannot
    catch it and carry on as a killed process could not (nor can the job runner,
    which catches `Exception` only: see docs/reliability.md).
    """

    def __init__(self, role: str) -> None:
        self.role = role
        super().__init__(f"the {role} was killed")
