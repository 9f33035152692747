"""`ivr demo`'s supervisor: once in the day, they whisper to an agent on a call.

The first supervisor with a `device` (Sam in the sample) picks the first call that has
been connected a few seconds, asks to whisper through the same code the live view's
Whisper button calls (`ivr.web.monitor.start`), answers when their phone rings, says one
line, and stops. The narration checks what the emulator delivered: the agent heard the
line, the caller did not.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from starlette.exceptions import HTTPException

from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.service import Services
from ivr.voice import conference
from ivr.web import monitor
from queues.agent import ON_CALL

WHISPER = "Offer them the loyalty discount"
SETTLE_S = 5.0
"""How long a call has been connected before the supervisor picks it (past the whisper)."""
IDLE, DIALLING, SPOKEN, DONE = "idle", "dialling", "spoken", "done"


class Coach:
    """A supervisor who whispers to one agent once, narrated as it happens."""

    def __init__(
        self, tw: Emulator, svc: Services, say: Callable[[str], None], name_of: Callable[[str], str]
    ) -> None:
        self.tw, self.svc, self.say, self.name_of = tw, svc, say, name_of
        people = svc.registry.current.supervisors
        self.supervisor = next((s for s, p in people.items() if p.device), "")
        self.state = DONE if not self.supervisor else IDLE
        self.call, self.agent = "", ""
        if self.supervisor:
            self.name = people[self.supervisor].name
            self.device = tw.device(str(people[self.supervisor].device))
            self.device.auto = "answer"

    def step(self) -> None:
        """One simulated second of the supervisor's part."""
        if self.state == IDLE:
            self.pick()
        elif self.state == DIALLING and self.device.call is not None:
            self.device.say(WHISPER)
            self.state = SPOKEN
        elif self.state == SPOKEN:
            self.tell_heard()
            with contextlib.suppress(HTTPException):  # 409: the leg ended first, cleared
                self.svc.run(monitor.stop(self.svc, self.supervisor, self.call))
            self.say(f"{self.name} stops monitoring and leaves {self.agent}'s call")
            self.state = DONE

    def pick(self) -> None:
        """Whisper on the first call connected long enough, if there is one."""
        config = self.svc.registry.current
        states = self.svc.run(self.svc.router.agent_states(list(config.agents)))
        now = self.svc.clock.now()
        for agent, state in states.items():
            if state.state == ON_CALL and state.call_sid and now - state.since >= SETTLE_S:
                self.whisper(agent, state.call_sid)
                return

    def whisper(self, agent: str, call_sid: str) -> None:
        self.call, self.agent = call_sid, agent
        try:
            self.svc.run(monitor.start(self.svc, self.supervisor, call_sid, "whisper"))
        except HTTPException as exc:
            self.say(f"{self.name} cannot join {agent}'s call: {exc.detail}")
            self.state = DONE
            return
        caller = self.name_of(call_sid)
        self.say(
            f"{self.name} (supervisor) presses Whisper on {agent}'s call with {caller}: "
            f"{self.name}'s phone rings, and only {agent} will hear them"
        )
        self.state = DIALLING

    def tell_heard(self) -> None:
        """What the agent and the caller each heard of the whisper."""
        agent_leg = self.agent_leg()
        agent_heard = agent_leg is not None and WHISPER in agent_leg.transcript()
        caller_heard = WHISPER in self.customer_leg().transcript()
        caller = self.name_of(self.call)
        self.say(
            f'{self.name} whispers "{WHISPER}": {self.agent} '
            f"{'hears it' if agent_heard else 'does not hear it'}, {caller} "
            f"{'hears it too' if caller_heard else 'does not'}"
        )

    def customer_leg(self) -> Call:
        """The customer's leg in the conference: the routed call itself, or for an agent-first
        callback (routed as its CB… id) the leg dialled to the customer."""
        conf = self.svc.run(conference.state(self.svc, self.call))
        return self.tw.call(conf.customer if conf is not None and conf.customer else self.call)

    def agent_leg(self) -> Call | None:
        device = self.svc.registry.current.agents[self.agent].device
        return self.tw.device(device).call
