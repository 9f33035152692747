"""The agent's controls of a connected call, for the console's JSON API: hold and resume,
mute and unmute, hang up, and DTMF digits (`ivr.voice.conference` does each through
Twilio's REST). Only the agent who has the call may use them: 404 for a call unknown here,
409 when it is not theirs or not connected, 400 on bad input, 502 when Twilio's API fails
after retries.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

from starlette.exceptions import HTTPException

from ivr.core import logs
from ivr.core.errors import CallControlError
from ivr.core.telephony import REST_ERRORS
from ivr.service import Services
from ivr.voice import conference
from ivr.voice.conference import ConferenceState

log = logs.get(__name__)

T = TypeVar("T")
API_FAILED = "Twilio's API did not take the request; please try again."


def call_view(conf: ConferenceState | None) -> dict[str, Any]:
    """The live state of the call's conference, for the console's header and buttons."""
    if conf is None:
        return {"state": None, "muted": False, "on_hold": False}
    return {
        "state": conf.state,
        "muted": conf.muted,
        "on_hold": conf.hold_since_ms is not None,
    }


async def hold(svc: Services, agent: str, call_sid: str, on: bool) -> dict[str, Any]:
    """Put the agent's customer on hold (music), or take them off it."""
    await _theirs(svc, agent, call_sid)
    return call_view(await _made(conference.hold(svc, call_sid, on), "hold", call_sid))


async def mute(svc: Services, agent: str, call_sid: str, on: bool) -> dict[str, Any]:
    """Mute the agent's own line in the call, or unmute it."""
    await _theirs(svc, agent, call_sid)
    return call_view(await _made(conference.mute(svc, call_sid, on), "mute", call_sid))


async def hang_up(svc: Services, agent: str, call_sid: str) -> None:
    """End the call: the customer is hung up and the agent goes to wrap-up."""
    await _theirs(svc, agent, call_sid)
    await _made(conference.hang_up(svc, call_sid), "hang-up", call_sid)


async def send_digits(svc: Services, agent: str, call_sid: str, digits: str) -> None:
    """Play DTMF tones to the customer's side (0-9, *, #, and w for a pause)."""
    if not conference.DIGITS.fullmatch(digits):
        raise HTTPException(400, "digits must be 1 to 32 of 0-9 * # w")
    await _theirs(svc, agent, call_sid)
    await _made(conference.send_digits(svc, call_sid, digits), "digits", call_sid)


async def _theirs(svc: Services, agent: str, call_sid: str) -> ConferenceState:
    """The conference of the agent's connected call; 404 for a call routing does not know
    (another workspace's among them), 409 for someone else's."""
    routed = await svc.router.call(call_sid)
    if routed is None:
        raise HTTPException(404, "no such call")
    if routed.agent != agent:
        raise HTTPException(409, "that call is not yours")
    try:
        return await conference.live(svc, call_sid, agent)
    except CallControlError as exc:
        raise HTTPException(exc.status, exc.message) from None


async def _made(work: Awaitable[T], what: str, call_sid: str) -> T:
    """Await a control; its refusal is its status, an API failure 502."""
    try:
        return await work
    except CallControlError as exc:
        raise HTTPException(exc.status, exc.message) from None
    except REST_ERRORS as exc:
        log.warning("call control failed", control=what, call=call_sid, error=str(exc))
        raise HTTPException(502, API_FAILED) from None
