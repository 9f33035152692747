"""`ivr call`: a phone in your terminal, dialling the service through the emulator.

Each thing the caller hears is printed with its language as it plays, and
each SMS sent to the caller's number as it is sent. Type digits (`1`,
`12345678#`) to press keys, `say <words>` to speak, `wait <s>` to let time
pass, and `hangup` (or end of input) to put the phone down. `--at "2026-12-07
10:00"` runs the in-process service on a pretended time (in the business's
zone) that moves on at real speed: office hours at any hour of the day.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import select
import sys
import tempfile
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import httpx

from callbacks import surveys
from callbacks.inprocess import JobRunner
from ivr.app import create_app
from ivr.config import workspaces
from ivr.config.hours import Hours
from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.clock import Clock, ShiftedClock, SystemClock, local_time, utcnow
from ivr.core.errors import SettingsError
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore
from ivr.devtools import hub
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call, Utterance
from ivr.devtools.emulator.resources import Message
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import HANDLERS
from ivr.service import Services
from ivr.web import labels

DEFAULT_BUSINESS = "+60312345678"
"""The number `ivr call` dials when the config lists none (the sample's)."""
LOCAL_PUBLIC_URL = "http://ivr.localhost"
"""The origin an in-process service believes it has; the emulator signs with it."""

POLL_S = 0.1
LISTEN_WAIT_S = 15.0
"""How long typed input waits for the call to start listening (prompts may be playing)."""
LINGER_S = 2.0
"""After input runs out (a script piped in), how long the call plays on before hanging up."""
HUB_HOST = "127.0.0.1"
KEYS = frozenset("0123456789*#")
"""What a phone's keypad can send."""
INPUT_HINT = "  (type digits such as 1 or 12345678#, 'say <words>', 'wait <seconds>' or 'hangup')"
SURVEY_WAIT_S = 300.0
"""After the call, how long ahead a survey SMS may be due for `ivr call` to wait for it."""
SURVEY_GRACE_S = 15.0
"""The call's end reaches the survey scheduler a moment after the hang-up."""
OPENING_STEP = timedelta(minutes=15)
OPENING_HORIZON = timedelta(days=14)
"""How far ahead the closed hint looks for the next opening (past a long holiday)."""


def describe(utterance: Utterance) -> str:
    if utterance.kind == "play":
        return f"  ♪ {utterance.url}"
    if utterance.kind == "pause":
        return ""
    return f"  [{utterance.language or '?'}] {utterance.text}"


def describe_sms(message: Message) -> str:
    return f"  [SMS from {message.from_}] {message.body}"


class TerminalPhone:
    """Drives one emulated call from lines of text, printing what the caller hears and the
    SMS their number receives."""

    def __init__(self, tw: Emulator, call: Call, out: TextIO) -> None:
        self.tw, self.call, self.out = tw, call, out
        self.shown = self.texts_shown = 0
        self.last_state: str | None = None
        self.talked = False
        """Whether an agent took the call (a survey SMS may follow it)."""

    def show(self) -> None:
        """Print what was heard and texted since last time, and when the call goes on hold
        or through."""
        for utterance in self.call.heard[self.shown :]:
            self.say(describe(utterance))
        self.shown = len(self.call.heard)
        texts = self.tw.sms_to(self.call.from_)
        for message in texts[self.texts_shown :]:
            self.say(describe_sms(message))
        self.texts_shown = len(texts)
        state = (
            "on hold" if self.call.queue else "talking to an agent" if self.call.bridge else None
        )
        self.talked = self.talked or self.call.bridge is not None
        if state != self.last_state:
            self.last_state = state
            self.say(f"  ({state})" if state else "")

    def say(self, line: str) -> None:
        if line:
            print(line, file=self.out, flush=True)

    def act(self, line: str) -> bool:
        """Carry out one typed command; False when the caller hung up."""
        text = line.strip()
        if text in ("hangup", "q", "quit", "bye"):
            self.tw.hangup(self.call)
            return False
        keys = text.replace(" ", "")
        seconds = _seconds(text[5:]) if text.startswith("wait ") else None
        if seconds is not None:
            threading.Event().wait(seconds)
        elif text.startswith("say "):
            self.give("speech", (text[4:], 0.9))
        elif keys and set(keys) <= KEYS:
            self.give("dtmf", keys)
        elif text:
            self.say(INPUT_HINT)
        return True

    def give(self, kind: str, value: object) -> None:
        """Deliver input once the call listens for it (a typed-ahead script waits its turn)."""
        for _ in range(int(LISTEN_WAIT_S / POLL_S)):
            runner = self.call.runner
            if self.call.ended:
                return
            if runner is not None and runner.accepts(kind):
                self.tw.deliver(self.call, kind, value)
                return
            self.show()
            threading.Event().wait(POLL_S)
        print(f"  (nothing is listening for {kind} right now)", file=self.out, flush=True)


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def run(phone: TerminalPhone, readline: Callable[[float], str | None]) -> str:
    """Run until the call ends or the caller hangs up; return the call's final status."""
    while not phone.call.ended:
        phone.show()
        line = readline(POLL_S)
        if line is None:
            continue
        if line == "" or not phone.act(line):  # end of input: let the call play on briefly
            threading.Event().wait(LINGER_S if line == "" else 0.2)
            phone.show()
            if not phone.call.ended:
                phone.tw.hangup(phone.call)
            break
    phone.show()
    return phone.call.status


def stdin_reader(stream: TextIO) -> Callable[[float], str | None]:
    """`readline(timeout)`: a line, "" at end of input, or None if nothing came in time."""

    def readline(timeout: float) -> str | None:
        ready, _, _ = select.select([stream], [], [], timeout)
        if not ready:
            return None
        return stream.readline()

    return readline


def agent_hint(name: str, port: int) -> str:
    """The command that makes a second terminal agent `name`'s phone, for a hub on `port`."""
    hub_flag = "" if port == hub.DEFAULT_HUB_PORT else f" --hub http://{HUB_HOST}:{port}"
    return f"Agents: in another terminal run `ivr call --agent {name}{hub_flag}`."


def start_hub(
    stack: contextlib.ExitStack, tw: Emulator, svc: Services | None, port: int, config: Config
) -> None:
    """Serve the hub so `ivr call --agent NAME` in another terminal can be an agent's phone."""
    devices = {name: agent.device for name, agent in config.agents.items()}
    try:
        stack.enter_context(LiveServer(hub.build(tw, svc, devices), port=port))
    except OSError:
        print(f"(port {port} is busy: agents cannot join this call from another terminal)")
        return
    if devices:
        print(agent_hint(next(iter(devices)), port))


def next_opening(hours: Hours, after: datetime) -> datetime | None:
    """The first quarter hour from `after` at which `hours` is open, within two weeks."""
    when = after.replace(minute=after.minute - after.minute % 15, second=0, microsecond=0)
    while when - after < OPENING_HORIZON:
        when += OPENING_STEP
        if hours.is_open(when):
            return when
    return None


def closed_hint(config: Config, now: datetime) -> str | None:
    """One line when an hours step of the menu finds the business closed at `now`: what
    the caller will hear, and the `--at` that reaches the open side."""
    used = sorted({node.hours for node in config.nodes.values() if node.hours})
    closed = [name for name in used if name in config.hours and not config.hours[name].is_open(now)]
    if not closed:
        return None
    zone = config.company.timezone
    local = now.astimezone(ZoneInfo(zone))
    line = (
        f"{config.company.name} is closed at {local:%a %H:%M} ({zone}, hours '{closed[0]}'), "
        "so the menu takes its closed branch."
    )
    opening = next_opening(config.hours[closed[0]], local)
    if opening is None:
        return line
    return (
        f'{line} To reach the open menu, pretend a time: ivr call --at "{opening:%Y-%m-%d %H:%M}"'
    )


def clock_for(args: argparse.Namespace, config: Config) -> Clock | None:
    """The wall clock, or one that starts at `--at` (in the business's zone) and runs on;
    None, with the reason on stderr, for an `--at` that cannot be had."""
    if args.at is None:
        return SystemClock()
    if args.url:
        print(
            "ivr call: --at pretends a time for the in-process service, not --url", file=sys.stderr
        )
        return None
    try:
        return ShiftedClock(local_time(args.at, config.company.timezone))
    except ValueError:
        print(
            f'ivr call: --at wants a time like "2026-12-07 10:00", not {args.at!r}', file=sys.stderr
        )
        return None


def local_service(
    stack: contextlib.ExitStack, settings: Settings, clock: Clock
) -> tuple[str, Settings, Services]:
    """Start the service in-process on a throwaway store: its URL, settings and services."""
    data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
    local = settings.with_(
        public_base_url=LOCAL_PUBLIC_URL,
        twilio_auth_token=settings.twilio_auth_token or secrets.token_hex(16),
        data_dir=data_dir,
        redis_url=stack.enter_context(EmbeddedStore(data_dir)).url,
    )
    server = stack.enter_context(LiveServer(create_app(local, clock=clock)))
    return server.url, local, server.app.state.services


def main(settings: Settings, args: argparse.Namespace) -> int:
    """`ivr call`: dial the service (a running one, or one started here) from the terminal."""
    logging.getLogger().setLevel(logging.WARNING)  # the call's transcript is the output
    if args.agent:
        return agent_phone(args.agent, args.hub, sys.stdin, sys.stdout)
    try:
        settings = one_workspace(settings, args)
    except SettingsError as exc:
        print(f"ivr call: {exc}", file=sys.stderr)
        return 2
    config = load(settings.config_dir)
    to = args.to or (config.numbers[0] if config.numbers else DEFAULT_BUSINESS)
    clock = clock_for(args, config)
    if clock is None:
        return 2
    svc: Services | None = None
    with contextlib.ExitStack() as stack:
        if args.url:
            base, public = args.url.rstrip("/"), settings.public_base_url
        else:
            base, settings, svc = local_service(stack, settings, clock)
            public = settings.public_base_url
            hint = closed_hint(config, utcnow(clock))
            if hint:
                print(hint)
        tw = stack.enter_context(
            Emulator(
                base, public_base_url=public, auth_token=settings.twilio_auth_token, clock=clock
            )
        )
        tw.add_number(to, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        jobs = None if svc is None else run_jobs(stack, tw, svc, settings)
        start_hub(stack, tw, svc, args.hub_port, config)
        return converse(tw, jobs, args.caller, to, config)


def one_workspace(settings: Settings, args: argparse.Namespace) -> Settings:
    """The settings of the contact centre called: `--config`'s folder, or with
    IVR_WORKSPACES the workspace `--workspace` names, alone (its folder, keys and numbers;
    the in-process service runs that one). Raises SettingsError naming the ids."""
    if not settings.workspaces:
        chosen = workspaces.chosen(settings, args.workspace)
        return chosen.with_(config_dir=args.config or settings.config_dir)
    if args.config:
        raise SettingsError("--config names one folder; with IVR_WORKSPACES use --workspace")
    chosen = workspaces.chosen(settings, args.workspace)
    alone = tuple(w for w in settings.workspaces if w.id == chosen.workspace)
    return chosen.with_(workspaces=alone)


def run_jobs(
    stack: contextlib.ExitStack, tw: Emulator, svc: Services, settings: Settings
) -> JobRunner:
    """The in-process service texts and dials through the emulator, and its jobs (survey
    SMS, callbacks) run as they come due, on the emulator's thread."""
    svc.twilio_http_client = tw.http_client()
    jobs = JobRunner(svc, settings.redis_url or "", tw.http_client(), HANDLERS)
    stack.callback(jobs.close)

    def tick(now: float) -> None:
        jobs.run(now)

    tw.on_tick(tick)
    return jobs


def converse(tw: Emulator, jobs: JobRunner | None, caller: str, to: str, config: Config) -> int:
    """Dial, hand the phone to the terminal until the call ends, and report errors."""
    stop = threading.Event()
    worker = threading.Thread(target=tw.run_realtime, args=(stop,), daemon=True)
    worker.start()
    print(f"Calling {to} from {caller}. Type digits, 'say <words>', or 'hangup'.")
    call = tw.dial(from_=caller, to=to)
    phone = TerminalPhone(tw, call, sys.stdout)
    status = run(phone, stdin_reader(sys.stdin))
    print(f"Call ended ({status}).")
    if jobs is not None and phone.talked and config.surveys.enabled:
        with contextlib.suppress(KeyboardInterrupt):
            await_survey(phone, jobs, ZoneInfo(config.company.timezone))
    stop.set()
    worker.join(timeout=2)
    for error in tw.errors:
        print(f"  error: {error}", file=sys.stderr)
    return 1 if tw.errors else 0


def await_survey(phone: TerminalPhone, jobs: JobRunner, zone: ZoneInfo) -> None:
    """After a call an agent took, wait for its survey SMS if it is due soon, and show it.

    (Like `ivr demo`, this reads the job schedule directly: `callbacks.jobs` has no
    per-job query.)"""
    redis, keys, clock = jobs.ctx.redis, jobs.ctx.keys, jobs.ctx.clock
    job = surveys.job_id(phone.call.sid)
    due = None
    for _ in range(int(SURVEY_GRACE_S / POLL_S)):
        due = redis.zscore(keys.jobs_due(), job)
        if due is not None:
            break
        threading.Event().wait(POLL_S)
    if due is None:
        return
    at = datetime.fromtimestamp(due, zone)
    if due - clock.now() > SURVEY_WAIT_S:
        print(f"(A survey SMS is due at {at:%a %H:%M}, later than `ivr call` waits.)")
        return
    print(f"(A survey SMS is due at {at:%H:%M:%S}: waiting for it. Ctrl-C leaves.)", flush=True)
    pending = (keys.jobs_due(), keys.jobs_claimed())
    while any(redis.zscore(key, job) is not None for key in pending):
        if clock.now() > due + SURVEY_WAIT_S:  # deferred again (quiet hours): stop waiting
            break
        phone.show()
        threading.Event().wait(POLL_S)
    phone.show()


def agent_phone(name: str, hub_url: str, stream: TextIO, out: TextIO) -> int:
    """`ivr call --agent NAME`: go available and act as the agent's phone through the hub."""
    with httpx.Client(base_url=hub_url, timeout=10) as http:
        try:
            agent = http.post(f"/agent/{name}").json()
        except httpx.HTTPError:
            print(f"No `ivr call` is running with a hub at {hub_url}.", file=out)
            return 1
        if "error" in agent:
            print(agent["error"], file=out)
            return 1
        print(
            agent_greeting(name, agent),
            "Keys: a answer, r reject, digits to press, h hang up, q quit.",
            file=out,
            flush=True,
        )
        return AgentPhone(http, agent["device"], out).run(stdin_reader(stream))


def agent_greeting(name: str, agent: dict[str, Any]) -> str:
    """What the agent terminal says first, from the hub's answer about the agent."""
    phone = f"This terminal is {name}'s phone ({agent['device']})."
    if agent.get("state") is None:  # the hub cannot change a separately running service
        return f"{phone} To take calls, log in as {name} at /agent and go available."
    return f"{phone} {name} is now {labels.state_label(agent['state']).lower()}."


class AgentPhone:
    """Shows the agent's phone ringing and what it hears; sends the agent's keys."""

    def __init__(self, http: httpx.Client, device: str, out: TextIO) -> None:
        self.http, self.device, self.out = http, device, out
        self.shown, self.call, self.ringing = 0, None, False

    def poll(self) -> None:
        state = self.http.get(f"/device/{self.device}").json()
        if state["call"] != self.call:
            self.call, self.shown = state["call"], 0
        if state["ringing"] and not self.ringing:
            print("  *** RINGING *** (a to answer, r to reject)", file=self.out, flush=True)
        self.ringing = state["ringing"]
        for text in state["heard"][self.shown :]:
            print(f"  {text}", file=self.out, flush=True)
        self.shown = len(state["heard"])

    def run(self, readline: Callable[[float], str | None]) -> int:
        verbs = {"a": "answer", "r": "reject", "h": "hangup"}
        while True:
            try:
                self.poll()
            except httpx.HTTPError:
                print("The calling terminal has closed; goodbye.", file=self.out, flush=True)
                return 0
            line = readline(POLL_S * 2)
            if line is None:
                continue
            text = line.strip()
            if line == "" or text == "q":
                return 0
            verb = verbs.get(text, "press")
            reply = self.http.post(f"/device/{self.device}/{verb}", data={"digits": text}).json()
            if "error" in reply:
                print(f"  ({reply['error']})", file=self.out, flush=True)
