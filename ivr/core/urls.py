"""Every webhook URL the service hands to Twilio, built and encoded in one place.

Twilio calls back the URLs we give it (a `<Gather action>`, a `<Dial action>`, a REST
leg's `url` and `status_callback`, an SMS `status_callback`). Each is built here, under
the public base URL, with every query value encoded: a queue named `a&b=c` comes back as
`a&b=c`. The paths are `PATHS`; the voice layer's route table (`ivr.voice.routes`) serves
each of them, and a test walks every builder through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

PATHS: dict[str, str] = {
    "incoming": "/voice/incoming",
    "menu": "/voice/menu",
    "voicemail": "/voice/voicemail",
    "transfer": "/voice/transfer",
    "status": "/voice/status",
    "fallback": "/voice/fallback",
    "hold": "/voice/hold",
    "hold_key": "/voice/hold/key",
    "queue_connect": "/voice/queue/connect",
    "queue_done": "/voice/queue/done",
    "queue_exit": "/voice/queue/exit",
    "queue_rejoin": "/voice/queue/rejoin",
    "agent_offer": "/voice/agent/offer",
    "agent_answer": "/voice/agent/answer",
    "agent_status": "/voice/agent/status",
    "agent_done": "/voice/agent/done",
    "agent_conference": "/voice/agent/conference",
    "conference_join": "/voice/conference/join",
    "conference_left": "/voice/conference/left",
    "conference_status": "/voice/conference/status",
    "conference_hold": "/voice/conference/hold",
    "conference_music": "/voice/conference/music",
    "conference_announce": "/voice/conference/announce",
    "callback_existing": "/voice/callback/existing",
    "callback_keep": "/voice/callback/keep",
    "callback_menu": "/voice/callback/menu",
    "callback_number": "/voice/callback/number",
    "callback_entered": "/voice/callback/entered",
    "callback_slot": "/voice/callback/slot",
    "callback_answered": "/voice/callback/answered",
    "callback_dialed": "/voice/callback/dialed",
    "callback_customer": "/voice/callback/customer",
    "callback_status": "/voice/callback/status",
    "sms_incoming": "/sms/incoming",
    "sms_status": "/sms/status",
}
"""Route name -> path of every Twilio-facing route."""

Query = str | int | float
WORKSPACE_PATH = re.compile(r"^/w/[^/]+(?=/)")
"""The `/w/<id>` a deployment of several workspaces serves each workspace's routes under."""


def workspace_path(workspace: str) -> str:
    """The path every route of a workspace is also served under (`/w/sales`); '' for none."""
    return f"/w/{workspace}" if workspace else ""


def route_path(path: str) -> str:
    """A request path without its workspace (`/w/sales/voice/hold` -> `/voice/hold`)."""
    return WORKSPACE_PATH.sub("", path, count=1)


@dataclass(frozen=True)
class Urls:
    """Absolute webhook URLs under the public base URL."""

    base: str

    def to(self, name: str, **query: Query | None) -> str:
        """The URL of route `name`, with `query` encoded (None values left out)."""
        values = {k: str(v) for k, v in query.items() if v is not None}
        encoded = f"?{urlencode(values)}" if values else ""
        return f"{self.base}{PATHS[name]}{encoded}"

    def menu(self, step: int) -> str:
        return self.to("menu", step=step)

    def voicemail(self, step: int) -> str:
        return self.to("voicemail", step=step)

    def transfer(self, step: int) -> str:
        return self.to("transfer", step=step)

    def callback(self, leg: str, **query: Query | None) -> str:
        """A step of the callback flow (`callback_<leg>`), e.g. `callback("menu", queue=q)`."""
        return self.to(f"callback_{leg}", **query)

    def attempt(self, leg: str, callback: str, attempt: int) -> str:
        """A URL of one dial attempt of a callback (`answered`, `dialed`, `customer`, `status`)."""
        return self.callback(leg, cb=callback, attempt=attempt)
