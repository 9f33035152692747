"""The REST subset, served through a `twilio.http.HttpClient` so the real client works unchanged.

    client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=tw.http_client())

Handlers run on whatever thread the app calls from (often a uvicorn worker
while the emulator waits for that very webhook). They never run TwiML: they
record the request, hand the loop a job through `Switchboard.submit` and
answer at once with the resource.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from twilio.http import HttpClient
from twilio.http.response import Response

from ivr.devtools.emulator.callbacks import requested_events
from ivr.devtools.emulator.calls import API_VERSION, Call, Start
from ivr.devtools.emulator.conference_rest import ConferenceApi
from ivr.devtools.emulator.pacing import QUEUE_FULL, QueueFull
from ivr.devtools.emulator.resources import (
    RestError,
    call_resource,
    dialled,
    message_resource,
    param,
)
from ivr.devtools.emulator.rest_queues import ROUTE as QUEUES_ROUTE
from ivr.devtools.emulator.rest_queues import QueuesApi
from ivr.devtools.emulator.sms import Messaging
from ivr.devtools.emulator.switchboard import Number, Switchboard

ROUTE = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC\w+)/(?P<kind>Calls|Messages|IncomingPhoneNumbers)(?:/(?P<sid>\w+))?\.json$"
)
JSON_HEADERS = {"Content-Type": "application/json"}
NUMBER_FIELDS = {
    "VoiceUrl": "voice_url",
    "VoiceMethod": "voice_method",
    "VoiceFallbackUrl": "voice_fallback_url",
    "StatusCallback": "voice_status_callback",
    "SmsUrl": "sms_url",
    "SmsMethod": "sms_method",
}
"""IncomingPhoneNumber update parameters -> the emulator's `Number` attributes."""
NO_CONTENT = 204
"""A delete's answer: no body."""
"""Twilio's error for calls.create to a destination it cannot reach."""


class EmulatorHttpClient(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """Answers twilio-python's API requests from the emulator's state."""

    def __init__(self, board: Switchboard, messaging: Messaging, auth_token: str) -> None:
        super().__init__(logging.getLogger("ivr.devtools.emulator.rest"), is_async=False)
        self._api = Api(board, messaging, auth_token)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        try:
            fields = dict(data or {}) | dict(params or {})  # a list's filters are in the query
            status, body = self._api.handle(method.upper(), uri, fields, auth)
        except RestError as exc:
            status, body = exc.status, exc.payload()
        text = "" if status == NO_CONTENT or body is None else json.dumps(body)
        return Response(status, text, JSON_HEADERS)


class Api:
    """Routes a request to the Calls or Messages handler."""

    def __init__(self, board: Switchboard, messaging: Messaging, auth_token: str) -> None:
        self.board = board
        self.messaging = messaging
        self.auth_token = auth_token
        self.conferences = ConferenceApi(board)
        self.queues = QueuesApi(board)

    def handle(
        self, method: str, uri: str, data: dict[str, Any], auth: tuple[str, str] | None
    ) -> tuple[int, dict[str, Any] | None]:
        self.board.faults.check()
        if auth != (self.board.account_sid, self.auth_token):
            raise RestError(401, 20003, "Authenticate")
        path = "/" + uri.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
        answer: tuple[int, dict[str, Any] | None]
        if self.conferences.serves(path):
            answer = self.conferences.handle(method, path, data)
            self.board.faults.check(applied=True)
            return answer
        queues = QUEUES_ROUTE.match(path)
        match = queues or ROUTE.match(path)
        if match is None or match["account"] != self.board.account_sid:
            raise RestError(404, 20404, f"The requested resource {path} was not found")
        if queues is not None:
            answer = self.queues.handle(method, queues, data)
        elif match["kind"] == "Messages":
            answer = self.messages(method, match["sid"], data)
        elif match["kind"] == "IncomingPhoneNumbers":
            answer = self.numbers(method, match["sid"], data)
        else:
            answer = self.calls(method, match["sid"], data)
        self.board.faults.check(applied=True)  # carried out, but the answer is lost
        return answer

    def calls(
        self, method: str, sid: str | None, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if sid is None and method == "POST":
            return 201, call_resource(self.create_call(data))
        if sid is None:
            return 200, {"calls": self.list_calls(data), "next_page_uri": None, "page": 0}
        call = self.board.calls.get(sid or "")
        if call is None:
            raise RestError(404, 20404, f"The requested resource Call {sid} was not found")
        if method == "POST":
            self.update_call(call, data)
        return 200, call_resource(call)

    def list_calls(self, data: dict[str, Any]) -> list[dict[str, Any]]:
        """`calls.list(to=, from_=, status=)`, newest first (one page: no paging)."""
        wanted = {"to": param(data, "To"), "from_": param(data, "From")}
        status = param(data, "Status")
        found = [
            call
            for call in list(self.board.calls.values())
            if all(not value or getattr(call, name) == value for name, value in wanted.items())
            and (not status or call.status == status)
        ]
        return [call_resource(call) for call in reversed(found)]

    def create_call(self, data: dict[str, Any]) -> Call:
        to, from_ = dialled(data, self.board.devices)
        start = _start(data)
        if start is None:
            raise RestError(400, 21205, "Url parameter is required.")
        if start.url is not None:
            start.url = self.board.webhooks.resolve(start.url)
        call = self.board.new_call(
            from_,
            to,
            "outbound-api",
            start=start,
            timeout_s=float(data.get("Timeout", 60)),
            machine_detection=bool(data.get("MachineDetection")),
        )
        if data.get("StatusCallback"):
            events = requested_events(data.get("StatusCallbackEvent"))
            method = param(data, "StatusCallbackMethod") or "POST"
            call.notifier = self.board.notifier(param(data, "StatusCallback"), events, method)
        try:
            self.board.queue_outbound(call)
        except QueueFull as exc:
            with self.board.lock:
                del self.board.calls[call.sid]
            raise RestError(400, QUEUE_FULL, f"Call Queue Full: {exc}") from None
        return call

    def update_call(self, call: Call, data: dict[str, Any]) -> None:
        status = param(data, "Status")
        if status in ("completed", "canceled"):
            self.board.submit(lambda: self.end_call(call, status))
            return
        start = _start(data)
        if start is None:
            return
        if call.ended:
            raise RestError(400, 21220, "Call is not in-progress. Cannot redirect.")
        if start.url is not None:
            start.url = self.board.webhooks.resolve(start.url)
        self.board.submit(lambda: self.board.redirect(call, start))

    def end_call(self, call: Call, status: str) -> None:
        if status == "completed" or call.status in ("queued", "ringing"):
            self.board.hangup(call)

    def messages(
        self, method: str, sid: str | None, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        if sid is None and method == "POST":
            to = param(data, "To")
            if not to:
                raise RestError(400, 21604, "A 'To' phone number is required.")
            service = param(data, "MessagingServiceSid") or None
            from_ = param(data, "From") or self._service_number(service)
            message = self.messaging.create(
                to, from_, param(data, "Body"), param(data, "StatusCallback") or None, service
            )
            return 201, message_resource(message)
        found = next((m for m in self.messaging.outbox if m.sid == sid), None)
        if found is None:
            raise RestError(404, 20404, f"The requested resource Message {sid} was not found")
        return 200, message_resource(found)

    def numbers(
        self, method: str, sid: str | None, data: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        """List the account's numbers (filtered by `PhoneNumber`), fetch or update one.
        Buying and releasing numbers are not emulated: `Emulator.add_number` does that."""
        if sid is None:
            wanted = param(data, "PhoneNumber")
            found = [n for n in self.board.numbers.values() if wanted in ("", n.number)]
            listed = [number_resource(n, self.board.account_sid) for n in found]
            return 200, {"incoming_phone_numbers": listed, "next_page_uri": None, "page": 0}
        number = next((n for n in self.board.numbers.values() if n.sid == sid), None)
        if number is None:
            raise RestError(404, 20404, f"The requested resource {sid} was not found")
        if method == "POST":
            for name, attribute in NUMBER_FIELDS.items():
                if name in data:
                    setattr(number, attribute, param(data, name) or None)
        return 200, number_resource(number, self.board.account_sid)

    def _service_number(self, service: str | None) -> str:
        if service is None:
            raise RestError(400, 21603, "A 'From' phone number is required.")
        numbers = [n.number for n in self.board.numbers.values() if n.sms_url]
        return numbers[0] if numbers else service


def _start(data: dict[str, Any]) -> Start | None:
    method = param(data, "Method") or "POST"
    if data.get("Url"):
        return Start(param(data, "Url"), method)
    if data.get("Twiml"):
        return Start(None, method, param(data, "Twiml"))
    return None


def number_resource(number: Number, account_sid: str) -> dict[str, Any]:
    """The IncomingPhoneNumber resource JSON for `number`."""
    return {
        "sid": number.sid,
        "account_sid": account_sid,
        "phone_number": number.number,
        "friendly_name": number.number,
        "voice_url": number.voice_url,
        "voice_method": number.voice_method,
        "voice_fallback_url": number.voice_fallback_url,
        "voice_fallback_method": "POST",
        "status_callback": number.voice_status_callback,
        "status_callback_method": "POST",
        "sms_url": number.sms_url,
        "sms_method": number.sms_method,
        "api_version": API_VERSION,
        "uri": f"/{API_VERSION}/Accounts/{account_sid}/IncomingPhoneNumbers/{number.sid}.json",
    }
