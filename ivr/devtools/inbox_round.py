"""`ivr demo`'s voicemail round: an agent calls a caller back from the console's inbox.

Once a message is in the voicemail box and an agent who serves its queue is free (available
in routing, their phone idle), the agent opens their inbox (`ivr.web.inbox.inbox`, what the
console's inbox lists) and presses Call back on the oldest message nobody has taken, through
the same code the button calls (`ivr.web.inbox.call_back`). Their phone rings into the call
to the customer and the demo's agent answers it; the customer's phone rings and the demo's
caller answers it (`demo.Demo.step_agent`, `demo.Demo.call_ended`). This module narrates the
inbox and what came of the call: the callback's own record says when the customer was put
through, and once the agent has hung up they mark the message done (`ivr.web.inbox.done`).
Each message gets one round.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException

from callbacks import callback
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.service import Services
from ivr.web import inbox, voicemails
from queues.agent import AVAILABLE

TALK_S = 60.0
"""How long an agent talks to a caller they called back from the inbox."""
DIRECT_WITHIN_S = 30.0
"""How long a message waits for an agent its call-back would ring at once, before any agent
who serves its queue calls it back (the callback then waits for its offer, as any does)."""
GIVE_UP_S = 600.0
"""A call-back not put through by then is left to the callback machinery's own retries."""
IDLE, CALLING, TALKING = "idle", "calling", "talking"


class InboxRound:
    """An agent who calls voicemails back from their inbox, one at a time, narrated."""

    def __init__(
        self, tw: Emulator, svc: Services, say: Callable[[str], None], name_of: Callable[[str], str]
    ) -> None:
        self.tw, self.svc, self.say, self.name_of = tw, svc, say, name_of
        self.state = IDLE
        self.agent, self.voicemail, self.callback, self.caller = "", "", "", ""
        """Who pressed Call back, on which message, the callback it made, the caller's name."""
        self.direct = False
        """Whether the callback rings the agent who pressed at once (no offer to accept)."""
        self.leg: Call | None = None
        """The answering agent's side of the call, once the customer is put through."""
        self.pressed_at = 0.0
        self.calls: dict[str, str] = {}
        """The callbacks made (CB…) and the calls whose message they return."""
        self.tried: set[str] = set()
        """The messages already called back (or tried): each gets one round."""
        self.called_back = 0
        """Messages whose caller was put through to an agent."""

    def rings_direct(self, agent: str) -> bool:
        """Whether `agent`'s phone rings because they pressed Call back: straight into the
        call to the customer, with no offer to accept. True once a round."""
        if self.state == CALLING and self.direct and agent == self.agent:
            self.direct = False
            return True
        return False

    def busy(self) -> bool:
        """Whether a round is under way (the demo keeps going until it is over)."""
        return self.state != IDLE

    def step(self) -> None:
        """One simulated second of the round."""
        if self.state == IDLE:
            self.pick()
        elif self.state == CALLING:
            self.wait_for_customer()
        elif self.state == TALKING:
            self.wait_for_hang_up()

    # -- opening the inbox ---------------------------------------------------------
    def pick(self) -> None:
        """A free agent with a message nobody has taken presses Call back on the oldest. For
        `DIRECT_WITHIN_S` only one it would ring at once does (`first_step`), so the story
        shows the straight path; after that, any who serves the message's queue."""
        for agent in self.free_agents():
            entries = self.svc.run(inbox.inbox(self.svc, agent))
            waiting = [e for e in entries if self.open(e)]
            oldest = waiting[-1] if waiting else None  # the inbox lists the newest first
            if oldest and (oldest["age_s"] >= DIRECT_WITHIN_S or self.first_step(agent, oldest)):
                self.call_back(agent, entries, oldest)
                return

    def first_step(self, agent: str, entry: dict[str, Any]) -> bool:
        """Whether the call-back would ring `agent` at once: its queue (for a message left in
        the menu, the one `inbox.menu_queue` picks) rings the agent first, and they answer it
        from its first step. Otherwise it waits for an offer, as any callback does."""
        svc = self.svc
        queue = entry["queue"] or svc.run(inbox.menu_queue(svc, agent, entry["language"]))
        layout = svc.run(svc.router.layout())
        if queue not in layout.queues or queue in svc.registry.current.callbacks.customer_first:
            return False
        return layout.call_bucket(queue, 0, entry["language"] or None) in layout.agent_buckets(
            agent
        )

    def free_agents(self) -> list[str]:
        """Agents available in routing whose phone neither rings nor is on a call."""
        config = self.svc.registry.current
        states = self.svc.run(self.svc.router.agent_states(list(config.agents)))
        return [
            name
            for name, state in states.items()
            if state.state == AVAILABLE and self.idle_phone(config.agents[name].device)
        ]

    def idle_phone(self, device: str) -> bool:
        phone = self.tw.device(device)
        return phone.ringing is None and phone.call is None

    def open(self, entry: dict[str, Any]) -> bool:
        """A message to call back: not taken, not called back, not tried already, and the
        call that left it is over (the caller may still be hearing goodbye)."""
        if entry["owner"] or entry["callback"] or entry["id"] in self.tried:
            return False
        row = self.svc.run(voicemails.find(self.svc, entry["id"]))
        sid = str(row["call"]) if row else ""
        return not sid or all(call.ended for call in self.tw.calls if call.sid == sid)

    def call_back(self, agent: str, entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
        self.tried.add(entry["id"])
        row = self.svc.run(voicemails.find(self.svc, entry["id"]))
        call = str(row["call"]) if row else ""
        self.caller = self.name_of(call)
        self.say(
            f"{agent} opens their inbox: {plural(len(entries), 'message')}, the oldest "
            f"{shown(self.svc, entry)}"
        )
        try:
            made = self.svc.run(inbox.call_back(self.svc, agent, entry["id"]))
        except HTTPException as exc:
            self.say(f"{agent} presses Call back: {exc.detail}")
            return
        self.agent, self.voicemail, self.callback = agent, entry["id"], made.callback
        self.direct = made.routed == "you"
        self.calls[made.callback] = call
        self.pressed_at, self.state = self.svc.clock.now(), CALLING
        if self.direct:
            self.say(
                f"{agent} presses Call back on {self.caller}'s message: {agent}'s phone "
                f"rings, then {self.caller} is dialled"
            )
        else:
            self.say(
                f"{agent} presses Call back on {self.caller}'s message: the next free agent "
                "of the queue will call them"
            )

    # -- the call --------------------------------------------------------------------
    def wait_for_customer(self) -> None:
        """Once the callback's record says the customer answered, they are put through."""
        cb = self.svc.run(callback.get(self.svc, self.callback))
        if cb is not None and cb.state == "connected":
            talker = cb.agent or self.agent
            self.leg = self.tw.device(self.svc.registry.current.agents[talker].device).call
            self.called_back += 1
            self.say(f"{self.caller} answers and is put through to {talker}")
            self.state = TALKING
        elif cb is None or not cb.live or self.svc.clock.now() - self.pressed_at > GIVE_UP_S:
            state = cb.state if cb is not None else "gone"
            self.say(f"The call-back to {self.caller} does not get through ({state})")
            self.state = IDLE

    def wait_for_hang_up(self) -> None:
        """Once the call is over, the agent who pressed Call back marks the message done."""
        if self.leg is not None and not self.leg.ended:
            return
        try:
            self.svc.run(inbox.done(self.svc, self.agent, self.voicemail))
        except HTTPException as exc:
            self.say(f"{self.agent} cannot mark {self.caller}'s message done: {exc.detail}")
        else:
            left = len(self.svc.run(inbox.inbox(self.svc, self.agent)))
            after = f"{plural(left, 'message')} left" if left else "it is empty"
            self.say(f"{self.agent} marks {self.caller}'s message done in their inbox: {after}")
        self.state = IDLE


def shown(svc: Services, entry: dict[str, Any]) -> str:
    """A message as the console's inbox lists it: masked number, language, queue, when."""
    config = svc.registry.current
    who = f"{entry['caller_name']} ({entry['caller']})" if entry["caller_name"] else entry["caller"]
    left = datetime.fromtimestamp(entry["at"], ZoneInfo(config.company.timezone))
    data = "".join(f", {k.replace('_', ' ')} {v}" for k, v in entry["data"].items())
    return (
        f"from {who}, in {entry['language_name']}, queue {entry['queue_name'] or 'Menu'}, "
        f"left {left:%H:%M} ({duration(entry['age_s'])} ago), {entry['duration_s']} s{data}"
    )


def duration(seconds: float) -> str:
    """`0:42`, `3:05`, `1:02:03`: a duration as the console shows one (common.js)."""
    minutes, s = divmod(max(0, int(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
