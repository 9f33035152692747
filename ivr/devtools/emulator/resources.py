"""REST resources as Twilio's API returns them, and the errors it answers with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from ivr.core import segments
from ivr.core.segments import Segments
from ivr.devtools.emulator.calls import API_VERSION, Call
from ivr.devtools.emulator.devices import Device
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.queues import Member, Queue

MORE_INFO = "https://www.twilio.com/docs/errors/{code}"
UNREACHABLE = 21214
"""'To' phone number cannot be reached: the answer to dialling a device marked unreachable."""


class RestError(Exception):
    """An API error: HTTP status plus Twilio's numeric error code."""

    def __init__(self, status: int, code: int, message: str) -> None:
        self.status, self.code, self.message = status, code, message
        super().__init__(f"{status} {code}: {message}")

    def payload(self) -> dict[str, Any]:
        more_info = MORE_INFO.format(code=self.code)
        return {
            "code": self.code,
            "message": self.message,
            "more_info": more_info,
            "status": self.status,
        }


@dataclass(frozen=True)
class Alert:
    """A warning Twilio's Debugger would log about a call (e.g. 14207, queue full)."""

    code: int
    message: str
    call_sid: str
    at: float


def rfc2822(when: float | None) -> str | None:
    """A Unix time the way Twilio's API writes dates, or None."""
    if when is None:
        return None
    return format_datetime(datetime.fromtimestamp(when, tz=UTC))


def call_resource(call: Call) -> dict[str, Any]:
    """The Call resource JSON for `call`."""
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    ended = call.ended_at
    return {
        "sid": call.sid,
        "account_sid": call.account_sid,
        "parent_call_sid": call.parent.sid if call.parent else None,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "status": call.status,
        "direction": call.direction,
        "answered_by": call.answered_by or None,
        "caller_name": call.caller_name or None,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(ended or call.answered_at or call.created_at),
        "start_time": rfc2822(call.answered_at),
        "end_time": rfc2822(ended),
        "duration": str(call.duration) if ended is not None else None,
        "price": None,
        "price_unit": "USD",
        "queue_time": str(call.queue_time_ms),
        "api_version": API_VERSION,
        "uri": base + ".json",
        "subresource_uris": {"notifications": base + "/Notifications.json"},
    }


def queue_resource(queue: Queue, account_sid: str, now: float) -> dict[str, Any]:
    """The Queue resource JSON for `queue`."""
    base = f"/{API_VERSION}/Accounts/{account_sid}/Queues/{queue.sid}"
    return {
        "sid": queue.sid,
        "account_sid": account_sid,
        "friendly_name": queue.name,
        "current_size": queue.size,
        "max_size": queue.max_size,
        "average_wait_time": queue.average_wait(now),
        "date_created": rfc2822(queue.created_at),
        "date_updated": rfc2822(queue.updated_at),
        "uri": base + ".json",
        "subresource_uris": {"members": base + "/Members.json"},
    }


def member_resource(queue: Queue, member: Member, now: float) -> dict[str, Any]:
    """The Queue Member resource JSON for a caller waiting in `queue`."""
    call = member.call
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Queues/{queue.sid}"
    return {
        "call_sid": call.sid,
        "queue_sid": queue.sid,
        "date_enqueued": rfc2822(member.joined_at),
        "position": queue.position(member),
        "wait_time": member.wait_time(now),
        "uri": f"{base}/Members/{call.sid}.json",
    }


@dataclass(eq=False)
class Message:
    """An SMS the app sent (or a reply from its messaging TwiML)."""

    to: str
    from_: str
    body: str
    at: float
    account_sid: str
    status: str = "queued"
    direction: str = "outbound-api"
    status_callback: str | None = None
    messaging_service_sid: str | None = None
    sid: str = field(default_factory=lambda: new_sid("SM"))
    history: list[str] = field(default_factory=lambda: ["queued"])

    @property
    def segments(self) -> Segments:
        """What the carrier bills: the body's encoding and segment count."""
        return segments.count(self.body)


def message_resource(message: Message) -> dict[str, Any]:
    """The Message resource JSON for `message`."""
    return {
        "sid": message.sid,
        "account_sid": message.account_sid,
        "to": message.to,
        "from": message.from_,
        "body": message.body,
        "status": message.status,
        "direction": message.direction,
        "messaging_service_sid": message.messaging_service_sid,
        "num_segments": str(message.segments.count),
        "num_media": "0",
        "date_created": rfc2822(message.at),
        "date_updated": rfc2822(message.at),
        "date_sent": None,
        "error_code": None,
        "error_message": None,
        "price": None,
        "price_unit": "USD",
        "api_version": API_VERSION,
        "uri": f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}.json",
        "subresource_uris": {},
    }


def param(data: dict[str, Any], name: str) -> str:
    """A request parameter as text ("" when absent)."""
    value = data.get(name)
    return "" if value is None else str(value)


def dialled(data: dict[str, Any], devices: Mapping[str, Device]) -> tuple[str, str]:
    """The `To` and `From` of a request that dials out, refused as Twilio refuses them."""
    to, from_ = param(data, "To"), param(data, "From")
    if not to:
        raise RestError(400, 21201, "No 'To' number is specified")
    if not from_:
        raise RestError(400, 21213, "No 'From' number is specified")
    device = devices.get(to)  # a read: devices are added on the loop's thread
    if device is not None and device.unreachable:
        raise RestError(400, UNREACHABLE, "'To' phone number cannot be reached")
    return to, from_
