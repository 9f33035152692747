"""Callers in the bench's Twilio: the call, the menu's keys, `<Enqueue>` and the hold loop.

`Twilio` is the whole stand-in: callers here, on top of agents and conferences.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
import xml.etree.ElementTree as ET

from bench.capacity.agents import Agents, agent_gone
from bench.capacity.defaults import KEY_S, MAX_PROMPT_WAIT_S
from bench.capacity.exchange import Next
from bench.capacity.legs import Interrupt, Leg
from bench.capacity.twiml import gather_timeout_s, hold_end, play_s

MIN_HOLD_FETCH_S = 1.0
"""A hold document is fetched again at most this often, however short it plays."""
BROKEN_HOLD_S = 5.0
"""A hold document that does not parse is 'played' this long before the next fetch."""


def plan(rng: random.Random) -> list[str]:
    """The keys one caller presses: language, then billing (with an account), support or sales."""
    language = "2" if rng.random() < 0.3 else "1"
    pick = rng.random()
    if pick < 0.4:
        return [language, "1", "20261124"]
    return [language, "2" if pick < 0.8 else "3"]


class Twilio(Agents):
    """The bench's Twilio: runs calls' TwiML, keeps the queues, answers the REST API."""

    async def caller(self, due: float, keys: list[str]) -> None:
        """One call from `/voice/incoming` at `due` to the caller's hang-up."""
        dialled = self.numbers[next(self.turn) % len(self.numbers)]
        leg = Leg("CA" + uuid.uuid4().hex, f"+6019{self.rng.randrange(10**7):07d}", dialled)
        self.legs[leg.sid] = leg
        self.in_menu += 1
        text = await self.client.post("/voice/incoming", leg.form("ringing"), due)
        try:
            await self.run(leg, text, time.perf_counter(), keys)
        finally:
            if not leg.queue_sid:
                self.in_menu -= 1
            if not leg.queue_sid and not self.closing:  # not one cut off by the run's end
                last = leg.last[-160:]
                self.unqueued[last] = self.unqueued.get(last, 0) + 1
        leg.hung_up = True
        await self.client.post("/voice/status", leg.form("completed"), time.perf_counter())
        self.legs.pop(leg.sid, None)

    async def verbs(self, leg: Leg, root: ET.Element, at: float, plan: list[str]) -> Next:
        """Run the verbs of one document; the next document and its time, or None at the end."""
        for node in root:
            tag = node.tag
            if tag in ("Say", "Play", "Pause"):
                at += play_s(node, self.music)
            elif tag == "Gather":
                heard = play_s(node, self.music)
                if plan:
                    at += min(heard, MAX_PROMPT_WAIT_S) + KEY_S
                    form = leg.form(Digits=plan.pop(0))
                    return await self.follow(leg, node.get("action", ""), form, at)
                at += heard + gather_timeout_s(node)
                if node.get("actionOnEmptyResult") == "true":
                    return await self.follow(leg, node.get("action", ""), leg.form(), at)
            elif tag == "Redirect":
                return await self.follow(leg, (node.text or "").strip(), leg.form(), at)
            elif tag == "Enqueue":
                return await self.enqueue(leg, node, at)
            elif tag == "Dial":
                return await self.dial(leg, node, at)
            elif tag in ("Hangup", "Reject", "Leave", "Record"):
                return None  # Record: a voicemail, which the bench's callers do not leave
        return None

    async def enqueue(self, leg: Leg, node: ET.Element, at: float) -> Next:
        """`<Enqueue>`: hold until bridged, redirected or out; then its action (or the URL)."""
        name = (node.text or "").strip()
        if not leg.queue_sid:
            self.in_menu -= 1
        leg.queue = name
        leg.queue_sid = self.queue_sids.setdefault(name, "QU" + uuid.uuid4().hex)
        leg.enqueued_at = at
        self.queues[name] = leg
        result = "hangup"
        try:
            result = await self.hold(leg, node.get("waitUrl", ""), at)
        finally:
            self.queues.pop(name, None)
        return await self.dequeued(leg, node.get("action", ""), result)

    async def dequeued(self, leg: Leg, action: str, result: str) -> Next:
        """Where a caller goes once the hold loop ended with `result`."""
        value = leg.interrupt.result()[1] if leg.interrupt and leg.interrupt.done() else None
        leg.interrupt = None
        now = time.perf_counter()
        if result == "redirect":
            if action:  # the action hears of it; its TwiML is not run
                form = leg.form(QueueResult="redirected", QueueSid=leg.queue_sid)
                self.spawn(self.client.post(action, form, now))
            return await self.follow(leg, str(value), leg.form(), now)
        if result == "bridged" and isinstance(value, Leg):
            waited = self.waited(leg)
            await agent_gone(value)  # talking until the agent hangs up
            form = leg.form(QueueResult="bridged", QueueSid=leg.queue_sid, QueueTime=waited)
            return await self.follow(leg, action, form, time.perf_counter())
        form = leg.form(QueueResult=result, QueueSid=leg.queue_sid, QueueTime=self.waited(leg))
        return await self.follow(leg, action, form, now)

    async def hold(self, leg: Leg, wait_url: str, at: float) -> str:
        """Fetch waitUrl and play it, again and again; how the wait ended."""
        interrupt: asyncio.Future[Interrupt] = asyncio.get_running_loop().create_future()
        leg.interrupt = interrupt
        url = wait_url
        while True:
            form = leg.form(
                QueueSid=leg.queue_sid,
                QueueTime=self.waited(leg),
                QueuePosition="1",
                CurrentQueueSize="1",
                AvgQueueTime="0",
            )
            text = await self.client.post(url, form, at)
            if interrupt.done():
                return interrupt.result()[0]
            at, url, ended = self.hold_document(text, time.perf_counter(), wait_url)
            if ended:
                return "leave"
            # asyncio.wait, not wait_for: it neither cancels the interrupt nor drops our own
            # cancellation (see `closing`)
            await asyncio.wait({interrupt}, timeout=max(at - time.perf_counter(), MIN_HOLD_FETCH_S))
            if interrupt.done():
                return interrupt.result()[0]
            at = max(at, time.perf_counter())

    def hold_document(self, text: str, at: float, wait_url: str) -> tuple[float, str, bool]:
        """When a hold document ends, what is fetched next, and whether it left the queue."""
        try:
            root = ET.fromstring(text)
        except ET.ParseError:
            self.twiml_errors += 1
            return at + BROKEN_HOLD_S, wait_url, False
        return hold_end(root, at, wait_url, self.music)
