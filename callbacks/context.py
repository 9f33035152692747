"""What callbacks and surveys need of the running service: narrow, and typed here.

Callbacks sit below the voice and web faces, so they never import them or the
`ivr.service.Services` bag those faces share. They take a `Context` instead: the
store, keys, clock, live config, router and REST client, plus `Legs`, the few
things only the voice layer can do (ring an agent, take a call out of routing).
`Services` satisfies `Context`, and the composition root (`ivr.app`,
`ivr.handlers`) hands the voice layer's `Legs` in.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Protocol

import redis.asyncio as aioredis

from ivr.config.model import Config
from ivr.config.reload import ConfigRegistry
from ivr.core.clock import Clock
from ivr.core.keys import Keys
from ivr.core.session import CallStore
from ivr.core.settings import Settings
from ivr.core.urls import Urls
from queues.reservation import Reservation
from queues.router import Router


class Legs(Protocol):
    """The voice layer's part in a callback: ringing, and ending calls in routing."""

    async def ring(self, offer: Reservation) -> None:
        """Ring the reserved agent for `offer` (a callback's turn has come)."""

    async def settle(self) -> None:
        """Wait until every ring this process started has been asked of Twilio."""

    async def abandon(self, call_id: str, exit: str) -> None:
        """Take `call_id` out of routing (stopping any agent ringing for it)."""

    async def end_unanswered(self, callback_id: str, agent: str) -> None:
        """The agent's leg of a callback whose dial never reported: free the agent."""


class Context(Protocol):
    """The service as callbacks see it; `ivr.service.Services` is one."""

    settings: Settings
    clock: Clock
    redis: aioredis.Redis
    keys: Keys
    calls: CallStore
    registry: ConfigRegistry
    urls: Urls
    router: Router
    rng: random.Random
    legs: Legs

    def now(self) -> datetime: ...

    def config_for(self, version: str) -> Config: ...

    async def rest(self, operation: Any) -> Any: ...
