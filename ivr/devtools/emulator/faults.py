"""Twilio-side fault injection for `ivr simulate --faults` (`ivr.devtools.faults` has the plan).

Kept apart from the emulator's own modules: each fault wraps or replaces one
seam (the REST transport, a device's answering policy, the status-callback
post, the replay and out-of-order switches) and changes nothing when its kind
is off.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.devtools.emulator.calls import FINAL_STATUSES, Call
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.emulator import Emulator
from ivr.devtools.emulator.resources import UNREACHABLE
from ivr.devtools.emulator.rest import JSON_HEADERS
from ivr.devtools.emulator.webhooks import Reply
from ivr.devtools.faults import (
    LATE_CALLBACK_P,
    LATE_CALLBACK_S,
    SLOW_REST_S,
    UNREACHABLE_P,
    FaultPlan,
    ProcessKilled,
)

MOVES_IN = "/voice/conference/join"
"""Where the service redirects an accepted caller, to join their agent's conference."""
SERVICE_UNAVAILABLE = (503, 20503, "Service Unavailable")
TOO_MANY_REQUESTS = (429, 20429, "Too Many Requests")
DeviceChooser = Callable[[Device, Call], str]
Poster = Callable[[str, str, dict[str, str]], None]
"""The seam status callbacks and spent actions go out through (`post_later`)."""


@dataclass(eq=False)
class FaultyDevice(Device):
    """A device whose every ring may meet a fault the plan draws (`faults.DEVICE_KINDS`).

    ring-out and logout-ringing let it ring on; busy and failed end the leg so;
    whisper-hangup answers (the simulated agent then hangs up in the whisper).
    """

    chooser: DeviceChooser | None = None

    def apply_auto(self, call: Call) -> None:
        fault = self.chooser(self, call) if self.chooser and call.status == "ringing" else ""
        if fault in ("ring-out", "logout-ringing"):
            return
        if fault in ("busy", "failed"):
            self.switch.refuse(call, fault)
            return
        super().apply_auto(call)


def faulty_device(tw: Emulator, address: str, chooser: DeviceChooser) -> FaultyDevice:
    """Put a `FaultyDevice` at `address` (before anything rings it) and return it."""
    board = tw._board  # the emulator's own runtime: this module is part of the emulator
    device = FaultyDevice(address, board.switch or board, chooser=chooser)
    board.devices[address] = device
    return device


class FaultyHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The REST transport with the plan's errors, slowness, refusals and kills in front.

    `kill()` arms a kill: the next request reaches Twilio (the emulator acts on
    it), then `ProcessKilled` is raised in the caller's thread, as if the
    process died before the answer arrived. `kill_moving_in()` arms one that lands
    before the next request moving a caller into a conference reaches Twilio (the
    process had claimed that request, so no other makes it).
    """

    def __init__(
        self,
        inner: HttpClient,
        plan: FaultPlan,
        now: Callable[[], float],
        role: str,
        unreachable: Callable[[str], bool] | None = None,
    ) -> None:
        super().__init__(inner.logger, is_async=False)
        self.inner, self.plan, self.now, self.role = inner, plan, now, role
        self.unreachable = unreachable
        """Asked with the `To` of a call create: whether it may be refused as unreachable."""
        self.refused: list[str] = []
        """The `To` of each call create refused as unreachable, for the simulation to read."""
        self.armed = False
        self.armed_moving_in = False
        self.killed = threading.Event()
        self._lock = threading.Lock()

    def kill(self) -> None:
        self.armed = True

    def kill_moving_in(self) -> None:
        self.armed_moving_in = True

    def request(self, method: str, uri: str, *args: Any, **kwargs: Any) -> Response:
        data = kwargs.get("data") or {}
        if self.armed_moving_in and MOVES_IN in str(data.get("Url", "")):
            self.armed_moving_in = False
            self.plan.count(f"{self.role} killed before moving a caller in")
            self.killed.set()
            raise ProcessKilled(self.role)
        refused = self._refusal(method, uri, data)
        if refused is not None:
            return refused
        if self.plan.window("rest-slow", self.now()):
            self.plan.count("rest-slow")
            with self._lock:
                pause = self.plan.rng.uniform(*SLOW_REST_S)
            time.sleep(pause)
        response = self.inner.request(method, uri, *args, **kwargs)
        if self.armed:
            self.armed = False
            self.plan.count(f"{self.role} killed mid-request")
            self.killed.set()
            raise ProcessKilled(self.role)
        return response

    def _refusal(self, method: str, uri: str, data: dict[str, Any]) -> Response | None:
        now = self.now()
        for kind, answer in (("rest-5xx", SERVICE_UNAVAILABLE), ("rest-429", TOO_MANY_REQUESTS)):
            if self.plan.window(kind, now):
                self.plan.count(kind)
                return error(*answer)
        creates = method.upper() == "POST" and uri.split("?")[0].endswith("/Calls.json")
        to = str(data.get("To", ""))
        if creates and self.plan.on("unreachable") and self.unreachable is not None:
            with self._lock:
                refuse = self.unreachable(to) and self.plan.draw(UNREACHABLE_P)
            if refuse:
                self.plan.count("unreachable")
                self.refused.append(to)
                return error(400, UNREACHABLE, "'To' phone number cannot be reached")
        return None


def error(status: int, code: int, message: str) -> Response:
    """A REST error in Twilio's JSON shape."""
    body = {"code": code, "message": message, "more_info": "", "status": status}
    return Response(status, json.dumps(body), JSON_HEADERS)


def delay_status_callbacks(tw: Emulator, plan: FaultPlan) -> None:
    """Hold back some status callbacks (and spent actions) by a few seconds; a held-back
    final status is noted in `plan.unheard_ends` until it is sent."""
    board = tw._board
    post = board.post_later

    def late(url: str, method: str, params: dict[str, str]) -> None:
        if not plan.draw(LATE_CALLBACK_P):
            post(url, method, params)
            return
        plan.count("webhook-late")
        delay = plan.rng.uniform(*LATE_CALLBACK_S)
        ends = params.get("CallStatus") in FINAL_STATUSES and "/status" in url
        sid = params.get("CallSid", "") if ends else ""
        plan.unheard_ends[sid] += 1

        def send() -> None:
            plan.unheard_ends[sid] -= 1
            post(url, method, params)

        board.scheduler.after(delay, send)

    setattr(board, "post_later", late)  # noqa: B010  # every notifier binds it when created


AGENT_JOINS = "/voice/agent/conference"
"""The service's document an agent's leg fetches once its accept is taken: a newer
connection of that agent is then pending (`ivr.voice.agent.agent_conference`)."""


@dataclass
class HeldEnds:
    """The final status callbacks of chosen agent legs, held back until the same agent's
    next accept (leg-late-end, conference-drop): sent just before that agent's new leg
    fetches its conference, while the newer connection (often of the same call) is
    pending, the moment a late end could take the call from them. The simulation sends
    any held too long (`release`)."""

    plan: FaultPlan
    post: Poster
    owner: dict[str, str] = field(default_factory=dict)
    """Legs whose final status callback is to be held -> the device they rang."""
    held: dict[str, list[tuple[str, str, dict[str, str]]]] = field(default_factory=dict)

    def hold(self, sid: str, device: str) -> None:
        self.owner[sid] = device

    def take(self, url: str, method: str, params: dict[str, str]) -> bool:
        """Hold this webhook if it is a chosen leg's final status callback."""
        sid = params.get("CallSid", "")
        final = params.get("CallStatus") in FINAL_STATUSES and "/status" in url
        if sid not in self.owner or not final:
            return False
        self.held.setdefault(sid, []).append((url, method, params))
        self.plan.unheard_ends[sid] += 1
        return True

    def newer_leg(self, leg: Call) -> None:
        """`leg`'s agent accepted a newer offer: their earlier legs' ends go out now."""
        for sid, device in list(self.owner.items()):
            if device == leg.to and sid != leg.sid and sid in self.held:
                self.plan.count("leg end reported after a newer accept")
                self.release(sid)

    def release(self, sid: str) -> None:
        """Send what was held for leg `sid` (nothing more is held for it)."""
        self.owner.pop(sid, None)
        for url, method, params in self.held.pop(sid, []):
            self.plan.unheard_ends[sid] -= 1
            self.post(url, method, params)


def hold_leg_ends(tw: Emulator, plan: FaultPlan) -> HeldEnds:
    """Put a `HeldEnds` in front of the status callbacks and return it."""
    board = tw._board
    held = HeldEnds(plan, board.post_later)
    send = board.send

    def late(url: str, method: str, params: dict[str, str]) -> None:
        if not held.take(url, method, params):
            held.post(url, method, params)

    def sending(url: str, method: str, params: dict[str, str], call: Call | None) -> Reply:
        if call is not None and AGENT_JOINS in url:
            held.newer_leg(call)
        return send(url, method, params, call)

    setattr(board, "post_later", late)  # noqa: B010  # every notifier binds it when created
    setattr(board, "send", sending)  # noqa: B010  # the one seam every webhook goes through
    return held


def retry_webhooks(tw: Emulator, plan: FaultPlan) -> None:
    """In a webhook-twice window every webhook goes twice, and the second reply is used.

    Twilio retries a request it got no answer to, with the same idempotency token,
    and acts on the retry's answer: the emulator's own `replay_webhooks` uses the
    first reply, which hides a handler that answers a repeat differently.
    """
    board = tw._board
    send = board.send
    hooks = board.webhooks

    def twice(url: str, method: str, params: dict[str, str], call: Call | None) -> Reply:
        if not plan.window("webhook-twice", board.now()):
            return send(url, method, params, call)
        signed, headers, body = hooks.signed_request(url, method, params)
        hooks._send_once(signed, method, headers, body)
        return hooks._send_once(signed, method, headers, body)

    setattr(board, "send", twice)  # noqa: B010  # the one seam every webhook goes through


def follow_windows(tw: Emulator, plan: FaultPlan) -> None:
    """Turn out-of-order status callbacks on and off with the plan's windows."""

    def switch(now: float) -> None:
        tw.status_callbacks_out_of_order = plan.window("webhook-reorder", now)

    tw.on_tick(switch)


def inject(tw: Emulator, plan: FaultPlan) -> HeldEnds:
    """Install the webhook faults the plan has on (REST and devices are wired by the caller);
    the leg ends it may hold back for the caller to release (`HeldEnds`, empty unless
    leg-late-end or conference-drop choose legs)."""
    held = hold_leg_ends(tw, plan)
    if plan.on("webhook-late"):
        delay_status_callbacks(tw, plan)
    if plan.on("webhook-twice"):
        retry_webhooks(tw, plan)
    if plan.on("webhook-reorder"):
        follow_windows(tw, plan)
    return held
