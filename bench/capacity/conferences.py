"""Conferences in the bench's Twilio: who is in them, their status callbacks, their end."""

from __future__ import annotations

import asyncio
import time
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from bench.capacity.defaults import ACCOUNT
from bench.capacity.exchange import Exchange, Next
from bench.capacity.legs import Conf, Leg


class Conferences(Exchange):
    """`<Dial><Conference>`: legs join, talk, and leave or are moved on by REST."""

    async def conference(self, leg: Leg, action: str, noun: ET.Element, at: float) -> Next:
        """In a `<Conference>` until it ends, the leg hangs up or is redirected by REST."""
        name = (noun.text or "").strip()
        conf = self.conferences.get(name)
        if conf is None:
            conf = self.conferences[name] = Conf(name, "CF" + uuid.uuid4().hex, noun)
        label = noun.get("participantLabel", "")
        leg.interrupt = asyncio.get_running_loop().create_future()
        joined = time.perf_counter()
        await self.join(conf, leg, label, noun.get("endConferenceOnExit") == "true", at)
        kind, value = await leg.interrupt
        now = time.perf_counter()
        await self.leave(conf, leg, label, kind, now)
        if kind == "hangup":
            leg.hung_up = True
            return None
        if kind == "redirect":
            return await self.follow(leg, str(value), leg.form(), now)
        form = leg.form(DialCallStatus="completed", DialCallDuration=str(int(now - joined)))
        return await self.follow(leg, action, form, now)

    async def join(self, conf: Conf, leg: Leg, label: str, end_on_exit: bool, at: float) -> None:
        """`leg` joins; with two in, the talk starts and the caller hangs up after it."""
        conf.members[leg.sid] = (leg, label, end_on_exit)
        if len(conf.members) == 1:
            await self.conf_event(conf, "conference-start", leg, label, at)
        await self.conf_event(conf, "participant-join", leg, label, at)
        if len(conf.members) == 2 and not conf.talking:
            conf.talking = True
            self.answered()
            caller = next(m for m, _, _ in conf.members.values() if m.direction == "inbound")
            self.spawn(self.hang_up_after(caller, self.talk_s * (0.5 + self.rng.random())))

    async def leave(self, conf: Conf, leg: Leg, label: str, kind: str, at: float) -> None:
        """`leg` leaves (unless the conference ended); the last one, or a moderator, ends it."""
        end_on_exit = conf.members.pop(leg.sid, (leg, label, False))[2]
        if kind == "ended":
            return
        await self.conf_event(conf, "participant-leave", leg, label, at)
        if end_on_exit or not conf.members:
            await self.end_conference(conf, leg, at)

    async def end_conference(self, conf: Conf, leg: Leg, at: float) -> None:
        self.conferences.pop(conf.name, None)
        for other, _, _ in list(conf.members.values()):
            other.interrupt_with("ended")
        await self.conf_event(conf, "conference-end", leg, "", at)

    async def hang_up_after(self, leg: Leg, seconds: float) -> None:
        await asyncio.sleep(seconds)
        leg.interrupt_with("hangup")

    async def conf_event(self, conf: Conf, event: str, leg: Leg, label: str, at: float) -> None:
        """A conference status callback, when its `statusCallbackEvent` asks for it."""
        url = conf.noun.get("statusCallback", "")
        wanted = conf.noun.get("statusCallbackEvent", "").split()
        if not url or event.split("-", 1)[1] not in wanted:
            return
        form = {
            "AccountSid": ACCOUNT,
            "ConferenceSid": conf.sid,
            "FriendlyName": conf.name,
            "StatusCallbackEvent": event,
            "SequenceNumber": str(next(conf.seq)),
            "Timestamp": datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000"),
        }
        if event.startswith("participant"):
            form.update(CallSid=leg.sid, ParticipantLabel=label)
        await self.client.post(url, form, at)
