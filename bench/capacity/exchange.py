"""The bench's Twilio, its base: the calls in progress, and running a leg's TwiML.

The Twilio stand-in is built in layers, each a subclass of the one below:
`Exchange` (this: state, tasks, following TwiML), `conferences.Conferences`,
`agents.Agents` (legs rung through the REST API) and `callers.Twilio` (callers, the
menu and the hold loop, and the verbs' dispatch).
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
import xml.etree.ElementTree as ET
from collections.abc import Coroutine
from typing import Any

from bench.capacity.client import Client
from bench.capacity.closing import cancel_and_wait, report_stuck
from bench.capacity.config import music_seconds
from bench.capacity.defaults import BUSINESS, CLOSE_TIMEOUT_S
from bench.capacity.legs import Conf, Leg
from bench.capacity.measure import Window

Next = tuple[str, float] | None
"""The next TwiML document of a leg and when it arrived, or None when the leg's call ends."""


class Exchange:
    """Calls in progress: legs, queues, conferences, and the tasks that play them."""

    def __init__(self, client: Client, rng: random.Random, talk_s: float) -> None:
        self.client = client
        self.rng = rng
        self.talk_s = talk_s
        self.queues: dict[str, Leg] = {}
        """Queue name -> the caller in it (the app gives every caller its own queue)."""
        self.queue_sids: dict[str, str] = {}
        self.legs: dict[str, Leg] = {}
        self.conferences: dict[str, Conf] = {}
        self.music = music_seconds()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.closing = False
        self.window: Window | None = None
        self.numbers = [BUSINESS]
        """The numbers callers dial, in turn (one per workspace)."""
        self.turn = itertools.count()
        self.in_menu = 0
        """Callers not yet in a queue (in the menu, or between a menu and `<Enqueue>`)."""
        self.unqueued: dict[str, int] = {}
        """Callers who ended before reaching a queue, by the last TwiML they got."""
        self.rest_calls = 0
        self.dequeue_misses = 0
        self.bridged = 0
        self.twiml_errors = 0

    @property
    def on_hold(self) -> int:
        return len(self.queues)

    def spawn(self, coro: Coroutine[Any, Any, object]) -> None:
        """Run `coro` as a call's task (not once closing: it is dropped)."""
        if self.closing:
            coro.close()
            return
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.twiml_errors += 1
            print(f"  call task failed: {task.exception()!r}", flush=True)

    async def close(self) -> None:
        """End every call in progress (bounded; the ones that will not end are named)."""
        self.closing = True
        stuck = await cancel_and_wait(list(self.tasks), CLOSE_TIMEOUT_S)
        report_stuck("call tasks", stuck)

    def answered(self) -> None:
        """A caller and an agent are talking."""
        self.bridged += 1
        if self.window is not None:
            self.window.answered += 1

    async def run(self, leg: Leg, text: str, at: float, plan: list[str]) -> None:
        """Run a TwiML document on `leg` from time `at`, following where it leads."""
        while text and not leg.hung_up:
            leg.last = text
            try:
                root = ET.fromstring(text)
            except ET.ParseError:
                self.twiml_errors += 1
                return
            step = await self.verbs(leg, root, at, plan)
            if step is None:
                return
            text, at = step

    async def verbs(self, leg: Leg, root: ET.Element, at: float, plan: list[str]) -> Next:
        """Run the verbs of one document (`callers.Twilio` knows them all)."""
        raise NotImplementedError

    async def follow(self, leg: Leg, url: str, form: dict[str, str], at: float) -> Next:
        """Fetch `url` for `leg` at `at`: the document it answers."""
        if not url or leg.hung_up:
            return None
        text = await self.client.post(url, form, at)
        return text, time.perf_counter()
