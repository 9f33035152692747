"""CANCEL by SMS: a customer's reply cancels their pending callbacks, with a confirmation.

Registered in `callbacks.sms.CANCEL_HANDLERS` on import (the web app imports
this module). With no live callback the handler answers None, so the SMS
module treats the word as it would without callbacks.
"""

from __future__ import annotations

from callbacks import sms
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


if cancel_by_sms not in sms.CANCEL_HANDLERS:
    sms.CANCEL_HANDLERS.append(cancel_by_sms)
