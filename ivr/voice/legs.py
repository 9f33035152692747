"""The voice layer's part in callbacks (`callbacks.context.Legs`), on one process's services."""

from __future__ import annotations

from ivr.service import Services
from ivr.voice import callback, endings, offers
from queues.reservation import Reservation


class VoiceLegs:
    """Rings agents and ends calls in routing for the callback flow."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc

    async def ring(self, offer: Reservation) -> None:
        await offers.ring(self.svc, offer)

    async def settle(self) -> None:
        await offers.settle(self.svc)

    async def abandon(self, call_id: str, exit: str) -> None:
        await endings.abandon(self.svc, call_id, exit=exit)

    async def end_unanswered(self, callback_id: str, agent: str) -> None:
        await callback.end_unanswered(self.svc, callback_id, agent)
