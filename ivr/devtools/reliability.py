"""`ivr simulate --faults`: the simulation with faults injected and promises checked.

One seed runs `ivr.devtools.crowd` callers and agents through the real app on a
real HTTP server, its own embedded Valkey and the emulator, on a ManualClock,
with the faults of `ivr.devtools.faults` injected on the seed, and `ivr.devtools.liveness`
checking after every step of the clock. Everything runs in one process, so the
process faults are modelled (docs/reliability.md says how):

- web-kill: the next REST request the web process makes reaches Twilio, then
  `ProcessKilled` is raised where its answer would arrive; the app object is
  thrown away (server, in-process state, its REST client) and a new one starts
  on the same store and port at the next clock step;
- worker-kill: the same, inside a callback or survey job; a new job runner starts;
- store-restart: Valkey stops (its AOF flushed) for a few emulated seconds,
  while webhooks and timers keep coming, then starts again on the same data and port.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import shlex
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from callbacks.inprocess import JobRunner
from ivr import background
from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.errors import EmulatorError, RoutingError, StoreError
from ivr.core.settings import Settings
from ivr.core.store import EmbeddedStore
from ivr.devtools.crowd import QUEUE, TICK_S, Agent, Simulation, sim_config
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.faults import FaultyHttpClient, faulty_device, inject
from ivr.devtools.faults import (
    AT_ARRIVAL,
    CONFERENCE_DROP_S,
    LATE_END_MAX_S,
    PROFILES,
    STORE_DOWN_S,
    FaultPlan,
    Happening,
    ProcessKilled,
)
from ivr.devtools.liveness import Breach, Checker, Ends, Service, Shift, State
from ivr.devtools.liveserver import LiveServer
from ivr.devtools.sandbox import BUSINESS
from ivr.handlers import HANDLERS
from ivr.service import Services
from ivr.voice import offers
from queues import invariants
from queues.agent import CONNECTION_LOST
from queues.events import read_events

START = 1_795_399_200.0
"""Monday 23 November 2026, 10:00 in Kuala Lumpur (as `ivr simulate`)."""
PUBLIC_URL = "http://ivr.devtools.simulate"
RETURN_S = 20.0
"""An agent put on a break the simulation caused (missed calls, unreachable) comes back after."""
AWAY_S = 60.0
"""An agent who logged out, or was removed by a reload, is back after this long."""
MOVE_KILLED = "web process killed before moving a caller in"
"""What `FaultyHttpClient` counts when a bridge-kill lands."""
KILL_WAIT_S = 30.0
"""An armed kill that meets no REST request this long falls between requests instead."""
DRAIN_S = 720.0
"""After the last arrival, how long calls still up may take (past the wait bound)."""
EXTRA_QUEUE = "extra"
STORE_ATTEMPTS = 3
API_DOWN = ("rest-5xx", "rest-429")
"""Fault windows in which Twilio's API refuses every request (`Checker.api_down`)."""
SURVEY_MARGIN_S = 10.0
"""A survey is owed for a call this much over the minimum talk time, ended this much
before the run's end plus the survey delay."""
DEFAULTS = {"arrivals_per_hour": 90.0, "agents": 3, "aht": 60.0, "minutes": 10.0}
"""The fault scenario: 1.5 Erlangs on 3 agents, callers who wait, 10 minutes."""


@dataclass
class Report:
    """One seed's run: what was injected, what callers got, and what broke."""

    seed: int
    kinds: tuple[str, ...]
    command: str
    injected: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    breaches: list[Breach] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())


def replay_command(args: Any, kinds: tuple[str, ...]) -> str:
    """The one line that runs this seed again."""
    named = [name for name, members in PROFILES.items() if set(members) == set(kinds)]
    spec = named[0] if named else ",".join(kinds)
    parts = ["ivr", "simulate", "--faults", spec, "--seed", str(args.seed)]
    for name in ("minutes", "arrivals_per_hour", "agents", "aht", "patience", "callback_prob"):
        value = getattr(args, name, None)
        if value:
            parts += [f"--{name.replace('_', '-')}", f"{value:g}"]
    return shlex.join(parts)


def start_store(data_dir: Path) -> EmbeddedStore:
    """An embedded Valkey; tried again if another process took its port before it bound."""
    for attempt in range(STORE_ATTEMPTS):
        store = EmbeddedStore(data_dir)
        try:
            store.start()
            return store
        except StoreError:
            if attempt == STORE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


class Mortal:
    """The app as a process a kill can end mid-request. A dead process sends no answer: the
    request it was serving fails at Twilio's end (that is the injected fault, not a bug),
    but here the kill is an exception uvicorn turns into a 500, "the app answered HTTP 500".
    The URLs of the requests a kill ended are kept, so the checker can tell them apart."""

    def __init__(self, app: Any) -> None:
        self.app, self.state = app, app.state
        self.killed: set[str] = set()
        """`path?query` of each request a kill ended."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await self.app(scope, receive, send)
        except ProcessKilled:
            query = scope.get("query_string", b"").decode()
            self.killed.add(scope.get("path", "") + (f"?{query}" if query else ""))
            raise


class Site:
    """The app on a LiveServer, its Valkey and the emulator; each restartable on its own."""

    def __init__(self, settings: Settings, clock: ManualClock, plan: FaultPlan, tmp: Path) -> None:
        self.clock, self.plan = clock, plan
        self.store = start_store(tmp / "store")
        self.killed_requests: set[str] = set()
        """`path?query` of the webhooks a web-process kill ended (over all restarts)."""
        self.settings = settings.with_(redis_url=self.store.url)
        self.server = self._serve(0)
        self.tw = Emulator(
            self.server.url,
            public_base_url=settings.public_base_url,
            auth_token=settings.twilio_auth_token,
            clock=clock,
            tick_s=TICK_S,
        )
        self.tw.add_number(
            BUSINESS,
            voice_url="/voice/incoming",
            voice_status_callback="/voice/status",
            sms_url="/sms/incoming",
        )
        self.devices: set[str] = set()
        self.rest = FaultyHttpClient(
            self.tw.http_client(), plan, clock.now, "web process", lambda to: to in self.devices
        )
        self._wire()
        self.tick_failures = 0
        self.tw.on_tick(self.tick)
        self.held = inject(self.tw, plan)

    @property
    def svc(self) -> Services:
        svc: Services = self.server.app.state.services
        return svc

    def _serve(self, port: int) -> LiveServer:
        app = Mortal(create_app(self.settings, clock=self.clock, run_timers=False))
        app.killed = self.killed_requests
        return LiveServer(app, port=port).start()

    def _wire(self) -> None:
        self.svc.twilio_http_client = self.rest
        self.svc.rng.seed(f"retries-{self.plan.seed}")  # a replay retries alike

    def tick(self, now: float) -> None:
        """The web process's background tick; like `background.run` it outlives errors."""
        if self.rest.killed.is_set():
            self.restart_web()
        try:
            self.svc.run(background.tick(self.svc))
        except ProcessKilled:
            self.restart_web()
        except Exception:  # the store is down, or the tick met a bug: both show elsewhere
            self.tick_failures += 1

    def restart_web(self) -> None:
        """The killed web process is replaced by a new one on the same store and port."""
        self.rest.killed.clear()
        self.rest.armed = False
        port = self.server.port
        with contextlib.suppress(Exception):  # what a dead process leaves does not matter
            self.server.stop()
        self.server = self._serve(port)
        self._wire()

    def restart_store(self, down_s: float, meanwhile: Callable[[], None]) -> None:
        """Stop Valkey, do `meanwhile`, let `down_s` of emulated time pass, start it again."""
        self.store.stop()  # a restart listens on the same port again
        try:
            meanwhile()
            self.tw.advance(down_s)
        finally:
            self.store.start()

    def close(self) -> None:
        self.tw.close()
        self.server.stop()
        self.store.stop()


class FaultSimulation(Simulation):
    """`Simulation` with the plan's faults, agents who come and go, and the liveness checks."""

    def __init__(self, site: Site, clock: ManualClock, args: Any, config_dir: Path) -> None:
        self.site, self.plan, self.config_dir = site, site.plan, config_dir
        super().__init__(site.tw, site.svc, clock, args)
        self.drain_max_s = DRAIN_S
        self.whisper_hangups: set[str] = set()
        self.accept_drops: set[str] = set()
        self.drops_at: dict[str, float | None] = {}
        """conference-drop legs -> when they drop (None until the agent accepts)."""
        self.accepted: set[str] = set()
        self.errors: list[Any] = []
        self._errors_read = 0
        self.pending: list[tuple[str, str]] = []
        self.back_at: dict[str, float] = {}
        self.shifts = {
            f"sim{i}": Shift(f"sim{i}", self._device(f"client:sim{i}"))
            for i in range(1, args.agents + 1)
        }
        site.devices = {s.device.address for s in self.shifts.values()}
        self.checker = Checker(
            clock.now(),
            lambda text: site.tw._board.say_seconds(text, 1),
            site.tw._board.play_seconds,
            api_down=lambda now: any(self.plan.window(k, now) for k in API_DOWN),
            unheard_end=lambda sid: self.plan.unheard_ends[sid] > 0,
        )
        self.state: State | None = None
        self.jobs_rest: FaultyHttpClient | None = None
        self.kill_armed_at: dict[str, float] = {}
        self.at_arrival: list[str] = []

    @property
    def svc(self) -> Services:
        return self.site.svc

    @svc.setter
    def svc(self, value: Services) -> None:
        pass  # always the site's current web process

    def _device(self, address: str) -> Device:
        return faulty_device(self.site.tw, address, self._choose)

    def _choose(self, device: Device, call: Call) -> str:
        fault = self.plan.device_fault()
        if fault:
            self.plan.count(fault)
        agent = device.address.removeprefix("client:")
        if fault == "whisper-hangup":
            self.whisper_hangups.add(call.sid)
        elif fault in ("accept-drop", "leg-late-end"):
            self.accept_drops.add(call.sid)
        if fault == "conference-drop":
            self.drops_at[call.sid] = None
        if fault in ("leg-late-end", "conference-drop"):
            self.site.held.hold(call.sid, device.address)
        elif fault == "logout-ringing":
            self.pending.append(("logout", agent))
        if fault in ("ring-out", "busy", "failed", "logout-ringing"):
            self.shifts[agent].excused = "missed calls"
        return fault

    def hangs_up_in_whisper(self, leg: Call) -> bool:
        return leg.sid in self.whisper_hangups

    def drops_after_accept(self, leg: Call) -> bool:
        return leg.sid in self.accept_drops

    def step_agent(self, agent: Agent) -> bool:
        leg = self.tw.device(agent.device).call
        acted = super().step_agent(agent)
        if leg is not None and agent.accepted_at is not None and leg.sid not in self.accepted:
            self.accepted.add(leg.sid)
            self.on_accept(agent.device, leg)
        return acted

    def on_accept(self, device: str, leg: Call) -> None:
        """The agent on `device` pressed 1 on `leg`: a conference-drop leg gets the moment
        it drops (the held end of their earlier leg went out as the accept was taken)."""
        if leg.sid in self.drops_at:
            self.drops_at[leg.sid] = self.clock.now() + self.plan.rng.uniform(*CONFERENCE_DROP_S)

    def drop_legs(self) -> bool:
        """conference-drop legs due to drop, and held ends too old to hold any longer."""
        now, acted = self.clock.now(), False
        for sid, at in list(self.drops_at.items()):
            leg = self.tw.call(sid)
            if leg.ended or (at is not None and at <= now):
                del self.drops_at[sid]
                if not leg.ended:
                    self.tw.hangup(leg)
                    acted = True
        for sid in list(self.site.held.held):
            ended = self.tw.call(sid).ended_at
            if ended is not None and now - ended >= LATE_END_MAX_S:
                self.site.held.release(sid)
        return acted

    # -- each step -----------------------------------------------------------------------

    def step(self) -> bool:
        try:
            going = super().step()
        except EmulatorError as exc:  # a TwiML error the app caused: a breach, and go on
            self.checker.breach(self.clock.now(), "emulator error", type(exc).__name__, str(exc))
            going = True
        except ProcessKilled:  # the kill landed in what an agent asked the web process
            self.site.restart_web()
            going = True
        self.check()
        if self.clock.now() > self.end and self.all_stranded():
            return False
        return going

    def tend(self) -> bool:
        acted = False
        for kind, agent in self.pending[:]:
            if self.log_out(agent):
                self.pending.remove((kind, agent))
                acted = True
        refused = self.site.rest.refused  # only the rings the plan refused, not every ring
        while refused:
            self.shifts[refused.pop(0).removeprefix("client:")].excused = "device unreachable"
        for event in self.plan.due(self.clock.now()):
            self.happen(event)
            acted = True
        self.return_agents()
        self.finish_kills()
        return self.drop_legs() or acted

    def log_out(self, agent: str) -> bool:
        """The agent logs out; refused while their offer rings, so they keep trying."""
        try:
            self.svc.run(self.svc.router.set_offline(agent))
        except RoutingError:
            return False
        self.shifts[agent].on_shift = False
        self.back_at[agent] = self.clock.now() + AWAY_S
        return True

    def return_agents(self) -> None:
        """Agents back from a logout, or from a break the simulation's faults caused."""
        now = self.clock.now()
        for agent, shift in self.shifts.items():
            if agent in self.back_at and now >= self.back_at[agent]:
                del self.back_at[agent]
                shift.on_shift = self.available(agent)
            routed = self.state.snap.agents.get(agent) if self.state else None
            lost = routed and routed["state"] == "break" and routed["reason"] == CONNECTION_LOST
            if lost and self.plan.injected[MOVE_KILLED]:
                shift.excused = CONNECTION_LOST  # routing's deadline after a bridge-kill
            if routed and routed["state"] == "break" and routed["reason"] == shift.excused:
                since = routed["since"] / 1000
                if now - since >= RETURN_S and self.available(agent):
                    shift.excused = ""

    def available(self, agent: str) -> bool:
        try:
            released = self.svc.run(self.svc.router.set_available(agent))
        except RoutingError:
            return False
        try:
            self.svc.run(offers.dispatch_offers(self.svc, released))
        except ProcessKilled:  # available in the store; the ring the kill cut short is lost
            self.site.restart_web()
        return True

    # -- one-off faults ------------------------------------------------------------------

    def happen(self, event: Happening) -> None:
        kind = event.kind
        if kind in ("reload-queue", "reload-agent"):
            self.plan.count(kind)
            self.reload(kind, undo=False)
            self.plan.events.append(Happening(f"{kind} undo", self.clock.now() + AWAY_S))
        elif kind.endswith(" undo"):
            self.reload(kind.removesuffix(" undo"), undo=True)
        elif kind in AT_ARRIVAL:
            self.at_arrival.append(kind)  # just before the next caller dials: under traffic
        elif kind == "web-kill":
            self.plan.count(kind)
            self.site.rest.kill()
            self.kill_armed_at["web"] = self.clock.now()
        elif kind == "bridge-kill":
            self.plan.count(kind)
            self.site.rest.kill_moving_in()
        elif kind == "worker-kill" and self.jobs_rest is not None:
            self.plan.count(kind)
            self.jobs_rest.kill()
            self.kill_armed_at["worker"] = self.clock.now()

    def arrive(self) -> None:
        """A caller dials; faults due at an arrival (REST windows, store restart) start first."""
        now, restart = self.clock.now(), False
        for kind in self.at_arrival:
            if kind == "store-restart":
                restart = True
            else:
                self.plan.open(kind, now)
        self.at_arrival.clear()
        if not restart:
            super().arrive()
            return
        self.plan.count("store-restart")
        self.site.restart_store(self.plan.rng.uniform(*STORE_DOWN_S), super().arrive)

    def finish_kills(self) -> None:
        """Restart what was killed; an armed kill no request met falls between requests."""
        now = self.clock.now()
        if "web" in self.kill_armed_at and (
            self.site.rest.killed.is_set() or now - self.kill_armed_at["web"] > KILL_WAIT_S
        ):
            del self.kill_armed_at["web"]
            self.site.restart_web()
        jobs = self.jobs_rest
        armed = self.kill_armed_at.get("worker")
        if jobs is None or armed is None:
            return
        if jobs.killed.is_set() or now - armed > KILL_WAIT_S:
            del self.kill_armed_at["worker"]
            jobs.killed.clear()
            jobs.armed = False
            self.start_jobs()

    def start_jobs(self) -> None:
        """A (new) job worker on the store, with the faulty REST transport."""
        if self.jobs is not None:
            self.jobs.close()
        if self.jobs_rest is None:
            plan = self.plan
            self.jobs_rest = FaultyHttpClient(self.tw.http_client(), plan, self.clock.now, "worker")
        self.jobs = JobRunner(
            self.svc, self.site.settings.redis_url or "", self.jobs_rest, HANDLERS
        )

    def reload(self, kind: str, undo: bool) -> None:
        """Edit the config files and reload: the extra queue, or the last agent."""
        if kind == "reload-queue":
            path = self.config_dir / "queues.yaml"
            data = yaml.safe_load(path.read_text())
            if undo:
                data["queues"].pop(EXTRA_QUEUE, None)
            else:
                data["queues"][EXTRA_QUEUE] = {"required_skills": {QUEUE: 1}}
            path.write_text(yaml.safe_dump(data, allow_unicode=True))
        else:
            agent = f"sim{self.args.agents}"
            path = self.config_dir / "agents.yaml"
            data = yaml.safe_load(path.read_text())
            if undo:
                data["agents"][agent] = sim_agent(agent)
            else:
                data["agents"].pop(agent, None)
                self.shifts[agent].on_shift = False
            path.write_text(yaml.safe_dump(data))
        self.svc.registry.reload()
        with contextlib.suppress(Exception):
            self.svc.run(self.svc.sync_routing())
        if kind == "reload-agent" and undo:
            self.back_at[f"sim{self.args.agents}"] = self.clock.now()

    # -- checking ------------------------------------------------------------------------

    def check(self) -> None:
        self.state = self.read_state()
        shifts = list(self.shifts.values())
        now = self.clock.now()
        errors = self.app_errors()
        self.checker.observe(now, self.tw.calls, shifts, self.state, errors, self.tw.conferences)

    def app_errors(self) -> list[Any]:
        """The emulator's webhook errors, less the requests a web-process kill ended (a dead
        process answers nothing; the fault is the kill, already counted)."""
        errors = self.tw.errors
        for exc in errors[self._errors_read :]:
            url = str(getattr(exc, "url", ""))
            if not any(url.endswith(path) for path in self.site.killed_requests):
                self.errors.append(exc)
        self._errors_read = len(errors)
        return self.errors

    def read_state(self) -> State | None:
        async def read() -> State:
            layout = await self.svc.router.layout()
            snap = await invariants.snapshot(self.svc.redis, layout)
            limits = {
                name: q.max_wait_s + 30.0
                for name, q in self.svc.registry.current.queues.items()
                if q.max_wait_s
            }
            return State(layout, snap, limits)

        try:
            return self.svc.run(read())
        except Exception:  # the store is down: nothing to compare against this step
            return None

    def all_stranded(self) -> bool:
        """Every caller still up has already breached: waiting longer shows nothing new."""
        flagged = {b.subject for b in self.checker.breaches}
        return all(c.call.sid in flagged for c in self.active)

    def finish(self) -> None:
        """The end-of-run checks: outcomes, surveys, callback dials."""
        for caller in self.callers:
            if caller.bridged:
                self.checker.bridged.add(caller.call.sid)
        events = self.svc.run(read_events(self.svc.redis, self.svc.keys, count=1_000_000))
        calls = {kind: {e.get("call") for e in events if e.type.value in kind} for kind in ENDS}
        ends = Ends(
            gave_up={c.call.sid for c in self.callers if c.gave_up},
            booked=calls[ENDS[0]],
            queued=calls[ENDS[1]],
            exited=calls[ENDS[2]],
        )
        service = Service(
            self.tw.calls, [(m.to, m.body) for m in self.tw.outbox], set(self.by_number)
        )
        self.checker.finish(self.clock.now(), [c.call for c in self.callers], ends, service)
        self.checker.fifo(self.clock.now(), events)
        devices = {agent: shift.device.address for agent, shift in self.shifts.items()}
        self.checker.taken(self.clock.now(), events, self.tw.calls, self.accepted, devices)
        queues = [q.name for q in self.tw.queues]
        self.checker.queues_left(self.clock.now(), self.tw.calls, queues)

    def owed_surveys(self) -> set[str]:
        """Numbers that should have their survey by now (only when a job worker runs)."""
        surveys = self.svc.registry.current.surveys
        if self.jobs is None or not surveys.enabled:
            return set()
        cutoff = self.clock.now() - surveys.delay_s - SURVEY_MARGIN_S
        return {
            c.call.from_
            for c in self.callers
            if c.handled_s is not None
            and c.handled_s >= surveys.min_talk_s + SURVEY_MARGIN_S
            and c.call.ended_at is not None
            and c.call.ended_at <= cutoff
        }


ENDS = (
    ("CALLBACK",),
    ("ENTERQUEUE",),
    ("EXITWITHTIMEOUT", "EXITWITHKEY", "EXITCLOSED", "OVERFLOW", "EXITCALLBACK"),
)
"""Routing events naming callers who booked a callback, entered a queue, left on purpose."""


def sim_agent(agent: str) -> dict[str, Any]:
    """One agent as `sim_config` writes them."""
    number = agent.removeprefix("sim")
    return {
        "name": f"Sim {number}",
        "skills": {QUEUE: 5, "en": 5},
        "device": f"client:{agent}",
        "wrap_up_s": 0,
    }


def run(settings: Settings, args: Any, kinds: tuple[str, ...]) -> Report:
    """One seed with `kinds` injected; returns what was injected, the outcomes and breaches."""
    began = time.monotonic()
    logging.getLogger().setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(logging.CRITICAL)  # a kill's traceback
    clock = ManualClock(START)
    plan = FaultPlan(kinds, args.seed, START, args.minutes)
    report = Report(args.seed, kinds, replay_command(args, kinds))
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        callbacks = bool(args.callback_prob)
        local = settings.with_(
            public_base_url=PUBLIC_URL,
            twilio_auth_token=secrets.token_hex(16),
            data_dir=tmp / "var",
            redis_url="",
            config_dir=sim_config(settings.config_dir, tmp / "config", args.agents, callbacks),
        )
        site = Site(local, clock, plan, tmp)
        try:
            sim = FaultSimulation(site, clock, args, local.config_dir)
            if callbacks or plan.on("worker-kill"):
                sim.start_jobs()
            sim.run()
            sim.finish()
            report.outcomes = sim.checker.outcomes
            report.breaches = sim.checker.breaches
            report.injected = plan.injected
            if sim.jobs is not None:
                sim.jobs.close()
        finally:
            site.close()
    report.wall_s = time.monotonic() - began
    return report


def scenario(args: argparse.Namespace) -> argparse.Namespace:
    """`args` with the fault scenario's defaults where the command line left the option out."""
    values = {**vars(args)}
    for name, default in DEFAULTS.items():
        if values.get(name) is None:
            values[name] = default
    values.setdefault("patience", None)
    values.setdefault("callback_prob", 0.0)
    return argparse.Namespace(**values)


def show(report: Report, out: Any) -> None:
    """A summary, every breach, and the line that replays the seed."""
    injected = ", ".join(f"{k} {n}" for k, n in sorted(report.injected.items())) or "none"
    outcomes = ", ".join(f"{k} {n}" for k, n in sorted(report.outcomes.items()))
    print(f"seed {report.seed}: {report.calls} calls ({outcomes})", file=out)
    print(f"faults injected: {injected}", file=out)
    print(f"breaches: {len(report.breaches)}  ({report.wall_s:.1f} s wall)", file=out)
    for breach in report.breaches:
        print(f"  {breach}", file=out)
    if report.breaches:
        print(f"replay: {report.command}", file=out)
