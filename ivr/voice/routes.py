"""Every Twilio-facing route, in one table: the path of each name in `ivr.core.urls.PATHS`.

The webhook URLs the service hands Twilio are built by `ivr.core.urls.Urls` from the
same names, so a URL and the route that serves it cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ivr.core.urls import PATHS
from ivr.voice import agent, bridge, callback, conference, fallback, hold, queue, webhooks

Endpoint = Callable[[Request], Awaitable[Response]]

ENDPOINTS: dict[str, Endpoint] = {
    "incoming": webhooks.incoming,
    "menu": webhooks.menu,
    "voicemail": webhooks.voicemail,
    "transfer": webhooks.transfer,
    "status": webhooks.voice_status,
    "fallback": fallback.voice_fallback,
    "hold": hold.hold,
    "hold_key": queue.hold_key,
    "queue_connect": queue.queue_connect,
    "queue_done": queue.queue_done,
    "queue_exit": queue.queue_exit,
    "queue_rejoin": queue.queue_rejoin,
    "agent_offer": agent.agent_offer,
    "agent_answer": agent.agent_answer,
    "agent_status": agent.agent_status,
    "agent_done": agent.agent_done,
    "agent_conference": agent.agent_conference,
    "conference_join": bridge.conference_join,
    "conference_left": bridge.conference_left,
    "conference_status": conference.conference_status,
    "conference_hold": conference.conference_hold,
    "conference_music": conference.conference_music,
    "conference_announce": conference.conference_announce,
    "callback_existing": callback.existing,
    "callback_keep": callback.keep,
    "callback_menu": callback.menu,
    "callback_number": callback.number,
    "callback_entered": callback.entered,
    "callback_slot": callback.slot,
    "callback_answered": callback.answered,
    "callback_dialed": callback.dialed,
    "callback_customer": callback.customer,
    "callback_status": callback.status,
    "sms_incoming": webhooks.sms_incoming,
    "sms_status": webhooks.sms_status,
}
"""Route name -> the endpoint Twilio's POST reaches."""

routes = [Route(PATHS[name], ENDPOINTS[name], methods=["POST"], name=name) for name in PATHS]
