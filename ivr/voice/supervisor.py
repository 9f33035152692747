"""The supervisor's monitoring leg (`ivr.web.monitor` dials it into a call's conference):
its end.

Twilio tells the service when that leg is over, through the status callback the
Participants request asks for (`/voice/supervisor/status?call=CA…`, event `completed`,
whose `CallStatus` is `completed`, `busy`, `no-answer`, `failed` or `canceled`). Each
callback is taken once (`CallStore.leg_event`); a final one clears the call's monitor and
records `monitor_stop` with the status as its `reason`, in one step (`lua/monitor_end.lua`),
and only while the monitor is still that leg's: a repeated or late callback, or one of a
leg the supervisor has since replaced, changes nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ivr.core import logs, lua
from ivr.core.session import FINAL_STATUSES
from ivr.service import Services, services

log = logs.get(__name__)
SUPERVISOR_EVENT = "SUPERVISOR"
"""The event type of supervisor actions (`ivr.web.audit`)."""
STOPPED = "stopped"
"""The reason of a monitor the supervisor stopped from the console."""


async def end(svc: Services, call_sid: str, leg: str, reason: str) -> bool:
    """Clear the call's monitor if it is still leg `leg`'s, recording `monitor_stop` with
    `reason`; whether this did it."""
    script = svc.redis.register_script(lua.read("ivr.voice", "monitor_end"))
    keys = [svc.keys.monitor(call_sid), svc.keys.events()]
    now_ms = str(int(svc.clock.now() * 1000))
    ended = await script(keys=keys, args=[leg, now_ms, reason, call_sid, SUPERVISOR_EVENT])
    return bool(ended)


async def settle(svc: Services, call_sid: str, leg: str) -> None:
    """End the monitor now if its leg's final status came before the leg was stored (a
    phone busy at once): the callback found no monitor of that leg to clear."""
    status = (await svc.calls.status(leg)).get("status", "")
    if status in FINAL_STATUSES and await end(svc, call_sid, leg, status):
        log.info("monitoring leg ended", call=call_sid, leg=leg, status=status)


async def supervisor_status(request: Request) -> Response:
    """A status callback of a supervisor's monitoring leg: its end clears the monitor."""
    svc = services(request)
    form = await svc.verifier.form(request)
    call_sid = request.query_params.get("call", "")
    leg, status = form.get("CallSid", ""), form.get("CallStatus", "")
    if not await svc.calls.leg_event(leg, form) or status not in FINAL_STATUSES:
        return Response(status_code=204)  # a repeat, late, or not the end
    if await end(svc, call_sid, leg, status):
        log.info("monitoring leg ended", call=call_sid, leg=leg, status=status)
    return Response(status_code=204)
