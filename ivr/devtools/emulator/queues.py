"""Named FIFO call queues, as `<Enqueue>` creates them and `<Dial><Queue>` drains them.

A queue is an account's Queue resource: `<Enqueue>` to a name the account has no
queue of creates one, and it stays until deleted through the REST API, as on
Twilio ("Queues persist").
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.ids import new_sid

DEFAULT_MAX_SIZE = 100
"""A new queue's maxSize. Twilio's REST reference now says 1000; its older pages, its
TaskRouter guide and the Node library's docs say 100. The emulator takes the stricter."""
MAX_SIZE = 5000
"""The largest maxSize Twilio allows a queue."""
QUEUE_FULL = 14207
"""Twilio's warning when `<Enqueue>` meets a queue at its maxSize (the call is refused)."""


@dataclass(eq=False)
class Member:
    """A caller waiting in a queue since `joined_at`."""

    call: Call
    joined_at: float
    left_at: float | None = None

    def wait_time(self, now: float) -> int:
        """Whole seconds spent in the queue (Twilio's QueueTime)."""
        return int((self.left_at if self.left_at is not None else now) - self.joined_at)


@dataclass(eq=False)
class Dequeuer:
    """A leg in `<Dial><Queue>` waiting for a caller, with the noun's url for that caller."""

    call: Call
    url: str | None
    method: str


@dataclass(eq=False)
class Queue:
    """One queue: its members in arrival order and the agents waiting for a caller."""

    name: str
    sid: str = field(default_factory=lambda: new_sid("QU"))
    max_size: int = DEFAULT_MAX_SIZE
    created_at: float = 0.0
    updated_at: float = 0.0
    members_: list[Member] = field(default_factory=list)
    dequeuers: list[Dequeuer] = field(default_factory=list)

    @property
    def members(self) -> list[Call]:
        """The calls waiting, front first."""
        return [m.call for m in self.members_]

    @property
    def size(self) -> int:
        return len(self.members_)

    @property
    def full(self) -> bool:
        return self.size >= self.max_size

    @property
    def empty(self) -> bool:
        """No caller waits and no `<Dial><Queue>` waits for one: Twilio deletes only these."""
        return not self.members_ and not self.dequeuers

    def join(self, call: Call, now: float) -> Member:
        member = Member(call, now)
        self.members_.append(member)
        return member

    def leave(self, member: Member, now: float) -> None:
        if member.left_at is None:
            member.left_at = now
        if member in self.members_:
            self.members_.remove(member)

    def front(self) -> Member | None:
        return self.members_[0] if self.members_ else None

    def position(self, member: Member) -> int:
        """1-based place in line (0 once it has been taken off the queue)."""
        return self.members_.index(member) + 1 if member in self.members_ else 0

    def average_wait(self, now: float) -> int:
        """Average wait of the callers waiting now, in whole seconds (Twilio's AvgQueueTime)."""
        if not self.members_:
            return 0
        return int(sum(now - m.joined_at for m in self.members_) / len(self.members_))

    def wait_params(self, member: Member, now: float) -> dict[str, str]:
        """The queue parameters Twilio adds to each waitUrl request."""
        return {
            "QueuePosition": str(self.position(member)),
            "QueueSid": self.sid,
            "QueueTime": str(member.wait_time(now)),
            "AvgQueueTime": str(self.average_wait(now)),
            "CurrentQueueSize": str(self.size),
            "MaxQueueSize": str(self.max_size),
        }
