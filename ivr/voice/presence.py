"""An agent's console presence: while the console is open, offers show there, not on the phone.

The console's live stream (`ivr.web.live`) keeps the presence key alive; `ivr.voice.offers`
asks it before ringing an agent's device.
"""

from __future__ import annotations

from ivr.core import logs
from ivr.service import Services

log = logs.get(__name__)
PRESENCE_TTL_S = 10
"""An agent counts as at the console until this long after its stream last looked."""
OFFER_MEMORY_S = 86400
"""How long the console remembers an offer it showed (to answer 'expired', not 'unknown')."""


async def deliver(svc: Services, offer_id: str, agent: str) -> None:
    """Show an offer in the agent's console: the page hears OFFERED and reads it from the API."""
    await svc.redis.set(svc.keys.console_offer(offer_id), agent, ex=OFFER_MEMORY_S)
    log.info("offer shown in console", agent=agent, reservation=offer_id)


async def mark_present(svc: Services, agent: str) -> None:
    await svc.redis.set(svc.keys.console_presence(agent), "1", ex=PRESENCE_TTL_S)


async def is_present(svc: Services, agent: str) -> bool:
    """Whether the agent has the console open (offers then ring there, not on the device)."""
    return bool(await svc.redis.exists(svc.keys.console_presence(agent)))
