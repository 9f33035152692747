"""`ivr demo`: the whole service on the embedded store, with a scripted stretch of calls.

Everything is real except the phone network: the app runs on uvicorn, state
lives in Valkey, routing runs its Lua scripts, and the emulator plays Twilio
and the people on the phones: callers in English, Malay and Thai who hear the
menu, choose by key or by voice, wait in a queue, give up, leave a message or
ask to be called back, and answer the survey by SMS; and agents who answer,
hear the whisper, accept (one declines once), talk and wrap up; and a supervisor who
whispers to one agent on a call (`coaching`). Time runs on
a controlled clock, so a busy stretch finishes in seconds.

The narration says what each caller hears (`story.Transcript`), what each key
means at the node the caller is at (`story.key_meaning`), and what the routing
events mean (a queue joined, an escalation, a callback); the recap at the end
explains each figure (`recap`). With `--keep` it all happens in the store that
`ivr serve` and `ivr report` use, so the demo's day shows in the reports.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, TextIO
from zoneinfo import ZoneInfo

from callbacks import callback
from callbacks.callback import is_callback
from callbacks.inprocess import JobRunner
from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import ManualClock, local_time
from ivr.core.errors import ConfigError, InvalidTransition, StoreInUse, TwiMLError
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore
from ivr.devtools import coaching, inbox_round, recap, sandbox, story
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.resources import Message
from ivr.devtools.scenario import (
    AFTER_HOURS,
    COMMENT,
    KNOWN,
    LANGUAGE_KEYS,
    SCORES,
    SCRIPTS,
    Step,
    press,
)
from ivr.handlers import HANDLERS
from ivr.service import Services
from ivr.voice import offers
from ivr.voice import queue as caller_queue
from ivr.voice import transfer as transfer_voice
from ivr.web import supervisor
from queues.events import Event, EventType, read_events
from queues.metrics import fold as metrics
from queues.metrics import rollups

BUSINESS = "+60312345678"
DEMO_START = "2026-11-23 10:00"
"""A Monday morning in the business's zone: the sample business is open."""
PUBLIC_URL = "http://ivr.devtools.demo"
STEP_S = 1.0
SURVEY_GRACE_S = 300
"""After the last call, time for its survey (sent after two minutes) to be answered."""
REPLY_GRACE_S = 30
"""After the last job ran (a survey sent), time for the customer's texts back and forth."""
TAIL_LIMIT_S = 1800
"""However busy, the demo stops this long after the last arrival."""
STORY_PATIENCE_S = 900.0
"""The first round of callers carries the story: they wait as long as it takes."""
MEAN_PATIENCE_S = 150.0
"""Later callers give up after an exponential wait with this mean."""
TRANSFER = ("billing", "support", "Says the fault started after the bill: check the line.")
"""The one cold transfer the demo shows: the first billing call finished goes on to
support, with this note (the support agent hears it in the whisper)."""


@dataclass
class Caller:
    name: str
    number: str
    language: str
    steps: list[Step]
    patience_s: float
    call: Call
    started: float
    not_before: float = 0.0
    shown: int = 0
    heard: set[str] = field(default_factory=set)
    """What this caller has heard already: a hold message that comes round again is not
    printed again."""
    ended: bool = False
    called_back: bool = False


@dataclass
class Agent:
    name: str
    device: str
    talk_s: float = 0.0
    declines_left: int = 0
    answered_at: float | None = None
    accepted: bool = False
    handled: int = 0
    shown: int = 0
    heard: set[str] = field(default_factory=set)
    caller: str = ""
    """Who the agent's current offer is for, from the OFFERED event."""
    callback: bool = False
    """Whether that offer is a callback (the service rings the customer once accepted)."""


@dataclass
class Tally:
    """What the recap counts from the demo's own run (the rest comes from the rollups)."""

    events: Counter[str] = field(default_factory=Counter)
    voicemails: int = 0
    alerts: int = 0
    replies: int = 0


class Demo:
    """Plays callers and agents against the app, second by simulated second, and tells it."""

    def __init__(
        self, tw: Emulator, svc: Services, clock: ManualClock, out: TextIO, rng: random.Random
    ) -> None:
        self.tw, self.svc, self.clock, self.out, self.rng = tw, svc, clock, out, rng
        self.config: Config = svc.registry.current
        self.start = clock.now()
        self.callers: list[Caller] = []
        self.by_sid: dict[str, Caller] = {}
        self.by_callback: dict[str, Caller] = {}
        """Callback ids (CB…) and the callers they will ring back."""
        self.agents = {name: Agent(name, a.device) for name, a in self.config.agents.items()}
        next(iter(self.agents.values())).declines_left = 1  # the first agent declines once
        self.jobs: JobRunner | None = None
        self.last_job_at = 0.0
        self.texts_seen = len(tw.outbox)
        self.transcript = story.Transcript(self.config)
        self.tally = Tally()
        self.earlier = 0
        self.last_event = self.stream_end(svc.keys.events())
        self.last_voicemail = self.stream_end(svc.keys.voicemails())
        self.coach = coaching.Coach(tw, svc, self.say, self.caller_name)
        self.transferred = False
        self.inbox = inbox_round.InboxRound(tw, svc, self.say, self.caller_name)

    def stream_end(self, key: str) -> str:
        """The newest entry id of a stream: a kept store's earlier runs are not retold."""
        newest: list[tuple[str, dict[str, str]]] = self.svc.run(
            self.svc.redis.xrevrange(key, count=1)  # type: ignore[arg-type]
        )
        return newest[0][0] if newest else "-"

    def say(self, text: str) -> None:
        elapsed = int(self.clock.now() - self.start)
        print(f"[{elapsed // 60:02d}:{elapsed % 60:02d}] {text}", file=self.out, flush=True)

    # -- the floor -----------------------------------------------------------------
    def introduce(self) -> None:
        """Where and when, the queues and who can answer them."""
        config = self.config
        zone = ZoneInfo(config.company.timezone)
        when = datetime.fromtimestamp(self.start, zone)
        print(f"{config.company.name}, {when:%A %d %B %Y %H:%M} ({zone.key}).", file=self.out)
        if not self.open_now():
            print("The office is closed then: callers hear so and leave a message.", file=self.out)
        names = ", ".join(f"{story.queue_name(config, q)} ({q})" for q in config.queues)
        print(f"Queues: {names}.", file=self.out)
        for name, agent in config.agents.items():
            skills = ", ".join(f"{s} {level}" for s, level in agent.skills.items())
            print(f"Agent {name} ({agent.name}): skills {skills}.", file=self.out)
        print(file=self.out, flush=True)

    def open_now(self) -> bool:
        """Whether any of the config's opening hours is open now (the sample has one)."""
        when = datetime.fromtimestamp(self.clock.now(), ZoneInfo(self.config.company.timezone))
        return any(hours.is_open(when) for hours in self.config.hours.values())

    def open_floor(self) -> None:
        for name in self.agents:
            offered = self.svc.run(self.svc.router.set_available(name))
            self.svc.run(offers.dispatch_offers(self.svc, offered))
        self.say(f"{', '.join(self.agents)} log in and are available")

    def close_floor(self) -> None:
        """The agents log off, so a kept store is left with nobody available."""
        for name in self.agents:
            with contextlib.suppress(InvalidTransition):  # still on a call: stays logged in
                self.svc.run(self.svc.router.set_offline(name))
        self.say(f"{', '.join(self.agents)} log off")

    # -- the clock -----------------------------------------------------------------
    def run(self, minutes: float, calls_per_minute: float, speed: float = 0.0) -> None:
        """Play `minutes` of arrivals (then let calls finish); `speed` > 0 paces to real time."""
        self.introduce()
        end = self.start + minutes * 60
        self.earlier = self.figures("all", end + TAIL_LIMIT_S)["queued"]
        self.open_floor()
        next_arrival = self.clock.now()
        while (
            self.clock.now() < end or self.active() or self.waiting_for_texts() or self.inbox.busy()
        ):
            if self.clock.now() < end and self.clock.now() >= next_arrival:
                self.arrive()
                next_arrival += self.rng.expovariate(calls_per_minute / 60)
            self.step()
            self.tw.advance(STEP_S)
            if speed > 0:
                time.sleep(STEP_S / speed)
            if self.clock.now() > end + TAIL_LIMIT_S:
                break
        self.close_floor()

    def step(self) -> None:
        """One simulated second: each caller, the routing news, each agent and text."""
        for caller in self.callers:
            self.step_caller(caller)
        for event in self.new_events():
            self.tell(event)
        for agent in self.agents.values():
            self.step_agent(agent)
        self.step_texts()
        self.coach.step()
        self.inbox.step()
        if self.jobs is not None and self.jobs.run():
            self.last_job_at = self.clock.now()

    def caller_name(self, call_sid: str) -> str:
        """Who is on `call_sid`: a caller's call, or a callback (CB…) ringing one back."""
        caller = self.by_sid.get(call_sid) or self.by_callback.get(call_sid)
        if caller is None and is_callback(call_sid):
            cb = self.svc.run(callback.get(self.svc, call_sid))
            number = cb.number if cb is not None else ""
            caller = next((c for c in reversed(self.callers) if c.number == number), None)
        return caller.name if caller is not None else "a caller"

    def active(self) -> bool:
        return any(not c.call.ended for c in self.callers)

    def waiting_for_texts(self) -> bool:
        """After the calls: until every survey is sent and answered (or the grace is over)."""
        if self.clock.now() >= self.quiet_until():
            return False
        if self.jobs is None or self.clock.now() - self.last_job_at < REPLY_GRACE_S:
            return True
        redis, keys = self.jobs.ctx.redis, self.svc.keys
        due = redis.zcount(keys.jobs_due(), "-inf", self.quiet_until())
        return bool(due or redis.zcard(keys.jobs_retry()) or redis.zcard(keys.jobs_claimed()))

    def quiet_until(self) -> float:
        """Keep going until surveys (sent two minutes after a call) have been answered."""
        ended = [c.call.ended_at or 0.0 for c in self.callers]
        return max(ended, default=0.0) + SURVEY_GRACE_S

    # -- callers -------------------------------------------------------------------
    def arrive(self) -> None:
        script = SCRIPTS[len(self.callers) % len(SCRIPTS)]
        story_round = len(self.callers) < len(SCRIPTS)
        steps = list(script.steps if self.open_now() else AFTER_HOURS)
        if script.known and story_round:
            name, number = script.known, KNOWN[script.known]
            heading = f"{name} calls: a known customer ({script.language})"
        else:
            name = f"caller {len(self.callers) + 1}"
            number = f"+6012{self.rng.randrange(10**7):07d}"  # a Malaysian mobile: can get SMS
            heading = f"{name} calls from {number}"
            steps.insert(0, press(LANGUAGE_KEYS[script.language]))
        patience = STORY_PATIENCE_S if story_round else self.rng.expovariate(1 / MEAN_PATIENCE_S)
        self.tw.device(number).auto = "answer"  # they pick up when called back
        call = self.tw.dial(from_=number, to=BUSINESS)
        caller = Caller(name, number, script.language, steps, patience, call, self.clock.now())
        self.callers.append(caller)
        self.by_sid[call.sid] = caller
        self.say(heading)

    def step_caller(self, caller: Caller) -> None:
        call = caller.call
        self.show_heard(caller.name, call, caller)
        if call.ended:
            self.call_ended(caller)
            return
        if caller.steps:
            self.act(caller, call)
            return
        if call.bridge is None and self.clock.now() - caller.started > caller.patience_s:
            self.say(f"{caller.name} gives up waiting and hangs up")
            self.tw.hangup(call)

    def act(self, caller: Caller, call: Call) -> None:
        """The caller's next step, once the call listens for it."""
        step = caller.steps[0]
        if step.kind == "wait":
            caller.steps.pop(0)
            caller.not_before = self.clock.now() + float(step.value)
            return
        if self.clock.now() < caller.not_before:
            return
        wanted = "dtmf" if step.kind == "press" else "speech"
        if call.runner is None or not call.runner.accepts(wanted):
            return
        caller.steps.pop(0)
        self.say(self.describe_step(caller, step))
        self.tw.deliver(call, wanted, step.value if wanted == "dtmf" else (step.value, 0.9))

    def describe_step(self, caller: Caller, step: Step) -> str:
        """`Oliver presses 1 (Billing)`: the key and what it means where the caller is."""
        who = caller.name
        if step.kind == "speak":
            return f'{who} leaves a message: "{step.value}"'
        session = self.svc.run(self.svc.calls.get(caller.call.sid))
        field_name = story.collected(session, self.config)
        if step.kind == "press" and field_name and not step.means:
            return f"{who} enters {field_name} {step.value}"
        means = step.means or story.key_meaning(self.config, session, step.kind, step.value)
        said = f"presses {step.value}" if step.kind == "press" else f'says "{step.value}"'
        return f"{who} {said} ({means})" if means else f"{who} {said}"

    def show_heard(self, who: str, call: Call, seen: Caller | Agent) -> None:
        """Print what a caller (or agent) heard since last time."""
        for utterance in call.heard[seen.shown :]:
            line = self.transcript.heard(utterance)
            if line and utterance.text not in seen.heard:
                self.say(f"  {who} hears {line}")
            seen.heard.add(utterance.text)
        seen.shown = len(call.heard)

    def call_ended(self, caller: Caller) -> None:
        """Once: a voicemail it left; later, a callback leg ringing on the caller's phone."""
        if not caller.ended:
            caller.ended = True
            self.tell_voicemails()
        phone = self.tw.device(caller.number)
        leg = phone.calls[-1] if phone.calls else None
        if leg is not None and leg is not caller.call and not caller.called_back:
            caller.called_back = True
            self.say(f"{caller.name}'s phone rings: {self.config.company.name} calling back")
            caller.call, caller.shown, caller.ended = leg, 0, False
            caller.started, caller.patience_s = self.clock.now(), STORY_PATIENCE_S

    def tell_voicemails(self) -> None:
        """The messages left since last time, as the voicemail box stores them."""
        after = "-" if self.last_voicemail == "-" else f"({self.last_voicemail}"
        entries: list[tuple[str, dict[str, str]]] = self.svc.run(
            self.svc.redis.xrange(self.svc.keys.voicemails(), min=after)  # type: ignore[arg-type]
        )
        for entry_id, fields in entries:
            self.last_voicemail = entry_id
            self.tally.voicemails += 1
            caller = self.by_sid.get(fields.get("call", ""))
            name = caller.name if caller is not None else fields.get("from", "")
            self.say(
                f"{name}'s message ({fields.get('duration_s')} s, {fields.get('language')}) "
                f"is in the voicemail box with their number {fields.get('from')}, "
                "for an agent to call back"
            )

    # -- routing events --------------------------------------------------------------
    def new_events(self) -> Iterator[Event]:
        events = self.svc.run(read_events(self.svc.redis, self.svc.keys, self.last_event))
        for event in events:
            self.last_event = event.id
            self.tally.events[event.type.value] += 1
            if event.type is EventType.REJECTED and event.get("reason") == "reject":
                self.tally.events["declined"] += 1  # not a device that failed to ring
            yield event

    def tell(self, event: Event) -> None:
        """Narrate the routing events a listener would not otherwise notice."""
        caller = self.by_sid.get(event.get("call"))
        queue = story.queue_name(self.config, event.get("queue"))
        if event.type is EventType.OFFERED and event.get("agent") in self.agents:
            self.offered(self.agents[event.get("agent")], event)
        if caller is None:
            return
        if event.type is EventType.ENTERQUEUE:
            self.say(f"{caller.name} waits in the {queue} queue")
        elif event.type is EventType.ESCALATE:
            self.tell_escalation(caller, event)
        elif event.type is EventType.CALLBACK:
            self.by_callback[event.get("callback")] = caller
            self.say(f"{caller.name} hangs up: a callback keeps their place in {queue}")
        elif event.type is EventType.CALLBACKCONNECT:
            self.say(f"{caller.name} answers and talks to {event.get('agent')}")

    def offered(self, agent: Agent, event: Event) -> None:
        """Remember whom the agent's phone is about to ring for."""
        call = event.get("call")
        callback = self.by_callback.get(call) or self.by_sid.get(self.inbox.calls.get(call, ""))
        caller = callback or self.by_sid.get(event.get("call"))
        agent.caller = caller.name if caller is not None else event.get("call")
        agent.callback = callback is not None

    def tell_escalation(self, caller: Caller, event: Event) -> None:
        """`Somchai has waited 30 s in Billing for …; now … may answer`."""
        queue_id = event.get("queue")
        step = int(event.get("reason", "step 1").split()[-1])
        escalation = self.config.queues[queue_id].escalation
        waited = sum(s.after_s for s in escalation[:step])
        before = story.who_may_answer(self.config, queue_id, step - 1, caller.language)
        after = story.who_may_answer(self.config, queue_id, step, caller.language)
        self.say(
            f"{caller.name} has waited {waited} s in {story.queue_name(self.config, queue_id)} "
            f"for {before}, and none is free: the call escalates, and now {after} may answer"
        )

    # -- agents --------------------------------------------------------------------
    def step_agent(self, agent: Agent) -> None:
        device = self.tw.device(agent.device)
        if device.ringing is not None:
            device.answer()
            agent.answered_at, agent.accepted = self.clock.now(), False
            agent.shown, agent.heard = 0, set()
            what = f"{agent.caller}'s callback" if agent.callback else agent.caller
            self.say(f"{agent.name}'s phone rings for {what}; {agent.name} answers")
            if self.inbox.rings_direct(agent.name):  # pressed Call back: no offer to accept
                agent.accepted, agent.talk_s = True, inbox_round.TALK_S
                agent.handled += 1
            return
        leg = device.call
        if leg is None:
            agent.answered_at = None
            return
        self.show_heard(agent.name, leg, agent)
        if not agent.accepted and leg.runner is not None and leg.runner.accepts("dtmf"):
            self.decide(agent, leg)
        elif (
            agent.accepted
            and agent.answered_at
            and self.clock.now() - agent.answered_at > agent.talk_s
        ):
            agent.accepted = False
            if not self.transfer(agent):
                self.say(f"{agent.name} finishes the call and wraps up")
                self.tw.hangup(leg)

    def transfer(self, agent: Agent) -> bool:
        """Once: the first agent to finish a billing call sends the caller on to support,
        cold, with a note; False for every other call (the agent hangs up)."""
        source, target, note = TRANSFER
        call_sid = self.svc.run(self.svc.router.agent_state(agent.name)).call_sid
        call = self.svc.run(self.svc.router.call(call_sid)) if call_sid else None
        if self.transferred or call is None or call.queue != source or agent.callback:
            return False
        self.transferred = True
        self.svc.run(transfer_voice.cold(self.svc, call_sid, agent.name, "queue", target, note))
        self.say(
            f"{agent.name} transfers {agent.caller} to {story.queue_name(self.config, target)}"
            f' with a note, "{note}": they keep their place and are not asked again'
        )
        return True

    def decide(self, agent: Agent, leg: Call) -> None:
        """Accept the offer (alice declines her first one: the caller keeps their place)."""
        if agent.declines_left:
            agent.declines_left -= 1
            self.say(f"{agent.name} declines the call; {agent.caller} stays on hold")
            self.tw.deliver(leg, "dtmf", "9")
            return
        agent.accepted, agent.talk_s = True, self.rng.expovariate(1 / 100)
        agent.handled += 1
        self.tw.deliver(leg, "dtmf", "1")
        if agent.callback:
            self.say(f"{agent.name} accepts; the service calls {agent.caller} back")
        else:
            self.say(f"{agent.name} accepts and is connected to {agent.caller}")

    # -- texts ---------------------------------------------------------------------
    def step_texts(self) -> None:
        """Customers read the SMS they get and answer surveys. Replies are sent (and the
        service's answers appended) while reading, so the loop reads to the very end."""
        while self.texts_seen < len(self.tw.outbox):
            message = self.tw.outbox[self.texts_seen]
            self.texts_seen += 1
            caller = next((c for c in self.callers if c.number == message.to), None)
            if caller is not None:
                self.read_text(caller, message)

    def read_text(self, caller: Caller, message: Message) -> None:
        body = message.body
        self.say(f"  {caller.name} gets an SMS: {self.transcript.quote(body)}")
        if body in self.survey_texts("question"):
            score = SCORES[self.tally.replies % len(SCORES)]
            self.tally.replies += 1
            self.say(f"{caller.name} replies {score}")
            self.tw.send_sms(from_=caller.number, to=BUSINESS, body=str(score))
        elif body in self.survey_texts("followup"):
            self.say(f'{caller.name} replies "{COMMENT}"')
            self.tw.send_sms(from_=caller.number, to=BUSINESS, body=COMMENT)
            self.tell_alert(caller)

    def survey_texts(self, kind: Literal["question", "followup"]) -> set[str]:
        """A survey text as the service sends it, in every language."""
        config = self.config
        default, company = config.languages.default, config.company.name
        return {
            config.surveys.text(kind, code, default, company) for code in config.languages.available
        }

    def tell_alert(self, caller: Caller) -> None:
        """What the supervisors' view now lists for this caller: the newest alert with a
        comment for their number (a caller called back was surveyed on the callback's
        contact, not on the call they made)."""
        for alert in self.svc.run(supervisor.alerts(self.svc)):
            if alert.get("number") == caller.number and alert.get("comment"):
                self.tally.alerts += 1
                self.say(
                    f"The supervisors' view (/supervisor) lists a low score: {caller.name}, "
                    f'CES {alert.get("ces")}, agent {alert.get("agent")}: "{alert["comment"]}"'
                )
                return

    # -- the recap -----------------------------------------------------------------
    def summary(self) -> recap.Day:
        """The figures of the demo's hours, as `ivr report` reads them."""
        svc = self.svc
        while svc.run(metrics.fold(svc.redis, svc.keys, svc.registry.current)):
            pass  # fold everything still unread (each pass is bounded)
        return recap.Day(
            config=self.config,
            totals=self.figures("all"),
            queues={q: self.figures(f"q:{q}") for q in self.config.queues},
            languages=Counter(c.language for c in self.callers),
            events=self.tally.events,
            voicemails=self.tally.voicemails,
            called_back=self.inbox.called_back,
            alerts=self.tally.alerts,
            handled={a.name: a.handled for a in self.agents.values()},
            earlier=self.earlier,
        )

    def figures(self, scope: str, until: float | None = None) -> recap.Figures:
        """A scope's figures over the local hours from the start to `until` (default now)."""
        svc, zone = self.svc, ZoneInfo(self.config.company.timezone)
        span = (int(self.start * 1000), int((until or self.clock.now()) * 1000) + 1)
        return svc.run(rollups.read(svc.redis, svc.keys, scope, *span, zone=zone)).figures()

    def print_summary(self) -> None:
        print("\nSummary", file=self.out)
        for line in recap.lines(self.summary()):
            print(f"  {line}", file=self.out)
        print(f"  Emulator errors: {len(self.tw.errors)}.", file=self.out)
        print(f"  Twilio queues left behind: {len(self.queues_left())}.", file=self.out)
        self.out.flush()

    def queues_left(self) -> list[str]:
        """The Queue resources the emulator's account still holds for calls that ended."""
        ended = {caller_queue.queue_name(c.sid) for c in self.tw.calls if c.ended}
        return [q.name for q in self.tw.queues if q.name in ended]


def start_time(settings: Settings, args: argparse.Namespace, now: float) -> float:
    """`--at` in the business's zone; with `--keep` and no `--at`, this morning if the office
    is open then (else the latest morning it was), so a bare `ivr report` shows the day;
    otherwise the demo's own Monday morning. As Unix seconds."""
    config = load(settings.config_dir)
    zone = config.company.timezone
    if args.keep and not args.at:
        return kept_morning(config, now).timestamp()
    try:
        return local_time(args.at or DEMO_START, zone).timestamp()
    except ValueError:
        raise ValueError(
            f"--at {args.at!r} is not a time: give 'YYYY-MM-DD HH:MM' ({zone})"
        ) from None


def kept_morning(config: Config, now: float) -> datetime:
    """The latest 10:00 (business zone), today first, at which every hours schedule the menu
    uses is open: the day `ivr demo --keep` plays, so its calls land in today's reports."""
    zone = ZoneInfo(config.company.timezone)
    today = datetime.fromtimestamp(now, zone).replace(hour=10, minute=0, second=0, microsecond=0)
    used = [
        config.hours[n.hours] for n in config.nodes.values() if n.hours and n.hours in config.hours
    ]
    for back in range(8):
        morning = today - timedelta(days=back)
        if all(hours.is_open(morning) for hours in used):
            return morning
    return today


@contextlib.contextmanager
def store(settings: Settings, keep: bool) -> Iterator[tuple[str, Path]]:
    """The store URL and data directory: a throwaway one, or (`keep`) the one `ivr serve`
    and `ivr report` use: `REDIS_URL`, else the embedded store under `IVR_DATA_DIR`."""
    if keep and settings.redis_url:
        yield settings.redis_url, settings.data_dir
        return
    with contextlib.ExitStack() as stack:
        throwaway = None if keep else stack.enter_context(tempfile.TemporaryDirectory())
        data_dir = settings.data_dir if throwaway is None else Path(throwaway)
        embedded = stack.enter_context(EmbeddedStore(data_dir))
        yield embedded.url, data_dir


def report_hint(settings: Settings, start: float, end: float, out: TextIO) -> None:
    """Where the kept day can be read again."""
    zone = ZoneInfo(load(settings.config_dir).company.timezone)
    first, last = (f"{datetime.fromtimestamp(t, zone):%Y-%m-%d}" for t in (start, end))
    where = f"`ivr report --from {first} --to {last}`"
    page = f"/supervisor/reports?from={first}&to={last} under `ivr serve`"
    if first == last == f"{datetime.now(zone):%Y-%m-%d}":
        print(
            f"\nKept in the store: today's `ivr report` shows these calls, as do {where} "
            f"and {page}.",
            file=out,
        )
        return
    print(f"\nKept in the store. {where} shows this day, and so does {page}.", file=out)


def main(settings: Settings, args: argparse.Namespace, out: TextIO) -> int:
    """Start everything, play the scenario, print a summary (and keep the store if asked)."""
    logging.getLogger().setLevel(logging.WARNING)
    try:
        clock = ManualClock(start_time(settings, args, time.time()))
    except (ValueError, ConfigError) as exc:
        print(f"ivr demo: {exc}", file=out)
        return 2
    with contextlib.ExitStack() as stack:
        try:
            url, data_dir = stack.enter_context(store(settings, args.keep))
        except StoreInUse:
            print(
                "ivr demo --keep: `ivr serve` is running on this data directory. Stop it first: "
                "the demo plays its own clock, which would clash with the service's.",
                file=out,
            )
            return 1
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=data_dir,
            redis_url=url,
        )
        box = stack.enter_context(sandbox.running(local, clock, BUSINESS))
        tw, svc = box.tw, box.svc
        demo = Demo(tw, svc, clock, out, random.Random(args.seed))
        demo.jobs = JobRunner(svc, url, tw.http_client(), HANDLERS)
        stack.callback(demo.jobs.close)
        try:
            demo.run(args.minutes, args.calls_per_minute, args.speed)
        except TwiMLError as exc:  # Twilio would refuse it too: say so, not a traceback
            print(f"\nivr demo: Twilio would refuse what the service answered: {exc}", file=out)
            print("Run `ivr check` on the config: a voice it warns about can cause this.", file=out)
            return 1
        demo.print_summary()
        if args.keep:
            report_hint(settings, demo.start, clock.now(), out)
        return 1 if tw.errors else 0
