"""Agent legs in the bench's Twilio: rung through the REST API, answered, bridged, ended."""

from __future__ import annotations

import asyncio
import time
import uuid
import xml.etree.ElementTree as ET

from bench.capacity.conferences import Conferences
from bench.capacity.defaults import RING_S
from bench.capacity.exchange import Next
from bench.capacity.legs import Leg, call_json

INITIATED_AFTER_S = 0.05
RINGING_AFTER_S = 0.3
AGENT_KEYS = ["1"]
"""What an agent presses after the whisper: accept."""


class Agents(Conferences):
    """`calls.create` rings an agent; their leg runs its TwiML and bridges with a caller."""

    def ring(self, params: dict[str, str]) -> dict[str, str]:
        """`calls.create`: a leg to an agent's device, rung now; its JSON."""
        leg = Leg("CA" + uuid.uuid4().hex, params.get("From", ""), params.get("To", ""))
        leg.direction = "outbound-api"
        leg.status_callback = params.get("StatusCallback", "")
        leg.interrupt = asyncio.get_running_loop().create_future()
        self.legs[leg.sid] = leg
        self.rest_calls += 1
        self.spawn(self.agent(leg, params.get("Url", "")))
        return call_json(leg, "queued")

    async def agent(self, leg: Leg, url: str) -> None:
        """The agent's leg from ringing to hanging up."""
        now = time.perf_counter()
        await self.status(leg, "initiated", now + INITIATED_AFTER_S)
        await self.status(leg, "ringing", now + RINGING_AFTER_S)
        if leg.hung_up:
            return
        leg.answered_at = now + RING_S
        self.spawn(self.status(leg, "in-progress", leg.answered_at))
        text = await self.client.post(url, leg.form(), leg.answered_at)
        await self.run(leg, text, time.perf_counter(), list(AGENT_KEYS))
        leg.hung_up = True
        leg.interrupt_with("gone")
        await self.status(leg, "completed", time.perf_counter())
        self.legs.pop(leg.sid, None)

    async def status(self, leg: Leg, status: str, at: float) -> None:
        if leg.status_callback:
            extra = {"CallDuration": "30"} if status == "completed" else {}
            await self.client.post(leg.status_callback, leg.form(status, **extra), at)

    async def dial(self, leg: Leg, node: ET.Element, at: float) -> Next:
        """An agent's `<Dial>`: take the caller from a `<Queue>`, or join a `<Conference>`."""
        action = node.get("action", "")
        noun = node[0] if len(node) else None
        form = leg.form()
        if noun is not None and noun.tag == "Queue":
            if not await self.dequeue(leg, noun, form, at):
                return await self.follow(leg, action, form, at)
        elif noun is not None and noun.tag == "Conference":
            return await self.conference(leg, action, noun, at)
        else:
            form["DialCallStatus"] = "completed"
        leg.interrupt_with("gone")
        return await self.follow(leg, action, form, time.perf_counter())

    async def dequeue(self, leg: Leg, noun: ET.Element, form: dict[str, str], at: float) -> bool:
        """`<Dial><Queue>`: bridge the caller waiting in it and talk; False if none was."""
        caller = self.queues.pop((noun.text or "").strip(), None)
        if caller is None or caller.interrupt is None or caller.interrupt.done():
            self.dequeue_misses += 1
            form["DialCallStatus"] = "no-answer"
            return False
        form["QueueSid"] = caller.queue_sid
        url = noun.get("url", "")
        if url:
            extra = {"QueueSid": caller.queue_sid, "QueueTime": self.waited(caller)}
            extra["DequeingCallSid"] = leg.sid
            await self.client.post(url, caller.form(**extra), at)
        caller.interrupt_with("bridged", leg)
        self.answered()
        talk = self.talk_s * (0.5 + self.rng.random())
        await asyncio.sleep(talk)
        form.update(DialCallStatus="completed", DialCallDuration=str(int(talk)))
        return True

    def waited(self, leg: Leg) -> str:
        """Seconds `leg` has been in its queue, as Twilio's `QueueTime`."""
        return str(int(time.perf_counter() - leg.enqueued_at))

    def update(self, sid: str, params: dict[str, str]) -> dict[str, str] | None:
        """`calls(sid).update`: a redirect (url) or a hang-up (status=completed)."""
        leg = self.legs.get(sid)
        if leg is None:
            return None
        if params.get("Status") in ("completed", "canceled"):
            leg.hung_up = True
            leg.interrupt_with("hangup")
        elif params.get("Url"):
            leg.interrupt_with("redirect", params["Url"])
        return call_json(leg, "in-progress")


async def agent_gone(agent: Leg) -> None:
    """Wait until the agent's leg has ended."""
    while agent.interrupt is not None and not agent.interrupt.done():
        await asyncio.shield(agent.interrupt)
