"""CANCEL by SMS: a customer's reply cancels their pending callbacks, with a confirmation.

`callbacks.sms` asks it first when a customer texts CANCEL. With no live
callback it answers None, and the SMS module treats the word as an opt-out.
"""

from __future__ import annotations

from callbacks.callback import cancel, live_of
from callbacks.context import Context
from ivr.core import logs

log = logs.get(__name__)


async def cancel_by_sms(svc: Context, number: str) -> str | None:
    """Cancel every cancellable callback of `number`; the reply in the customer's language."""
    live = await live_of(svc, number)
    cancelled = [cb for cb in live if await cancel(svc, cb.id, by="sms")]
    if not cancelled:
        return None
    config = svc.registry.current
    language = cancelled[0].language or config.languages.default
    log.info("callbacks cancelled by SMS", count=len(cancelled))
    return config.callbacks.text(
        "sms_cancelled", language, config.languages.default, company=config.company.name
    )
