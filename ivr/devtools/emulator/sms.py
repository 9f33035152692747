"""SMS both ways: the app's outbox with status callbacks, and inbound texts to its sms_url."""

from __future__ import annotations

from ivr.core import segments
from ivr.core.errors import EmulatorError
from ivr.devtools.emulator import twiml
from ivr.devtools.emulator.calls import API_VERSION
from ivr.devtools.emulator.ids import new_sid
from ivr.devtools.emulator.resources import Message, RestError
from ivr.devtools.emulator.switchboard import Switchboard
from ivr.devtools.emulator.webhooks import Reply, WebhookFailure

SENT_AFTER_S = 1.0
DELIVERED_AFTER_S = 2.0
UNSUBSCRIBED = 21610
MAX_BODY_CHARS = 1600


class Messaging:
    """The outbox, the opt-out list and inbound delivery."""

    def __init__(self, board: Switchboard) -> None:
        self.board = board
        self.outbox: list[Message] = []
        self.opted_out: set[str] = set()

    def create(
        self, to: str, from_: str, body: str, status_callback: str | None, service: str | None
    ) -> Message:
        """REST messages.create (any thread): queue the message and schedule its progress."""
        if to in self.opted_out:
            raise RestError(400, UNSUBSCRIBED, "Attempt to send to unsubscribed recipient")
        if len(body) > MAX_BODY_CHARS:
            raise RestError(400, 21617, "The concatenated message body exceeds 1600 characters")
        message = Message(
            to,
            from_,
            body,
            self.board.now(),
            self.board.account_sid,
            status_callback=status_callback,
            messaging_service_sid=service,
        )
        with self.board.lock:
            self.outbox.append(message)
        self.board.submit(lambda: self._schedule(message))
        return message

    def _schedule(self, message: Message) -> None:
        sched = self.board.scheduler
        sched.after(SENT_AFTER_S, lambda: self._advance(message, "sent"))
        sched.after(DELIVERED_AFTER_S, lambda: self._advance(message, "delivered"))

    def _advance(self, message: Message, status: str) -> None:
        message.status = status
        message.history.append(status)
        if message.status_callback:
            url = self.board.webhooks.resolve(message.status_callback)
            self.board.post_later(url, "POST", self._status_params(message))

    def _status_params(self, message: Message) -> dict[str, str]:
        params = {
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": message.status,
            "SmsStatus": message.status,
            "AccountSid": message.account_sid,
            "From": message.from_,
            "To": message.to,
            "ApiVersion": API_VERSION,
        }
        if message.status == "delivered":
            params["RawDlrDoneDate"] = "2601010000"
        return params

    def receive(self, from_: str, to: str, body: str, extra: dict[str, str]) -> list[Message]:
        """Post an inbound SMS to the number's sms_url; return the replies its TwiML sent."""
        number = self.board.numbers.get(to)
        if number is None or not number.sms_url:
            raise EmulatorError(f"{to} is not a number with an sms_url (tw.add_number)")
        sid = new_sid("SM")
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.board.account_sid,
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(max(1, segments.count(body).count)),
            "SmsStatus": "received",
            "ApiVersion": API_VERSION,
        } | extra
        url = self.board.webhooks.resolve(number.sms_url)
        try:
            return self._replies(self.board.send(url, number.sms_method, params, None), from_, to)
        except EmulatorError as exc:
            self.board.record_error(exc)
            return []

    def _replies(self, reply: Reply, from_: str, to: str) -> list[Message]:
        if reply.status >= 400:
            raise WebhookFailure(reply.url, reply.status, f"the app answered HTTP {reply.status}")
        if reply.status == 204 or not reply.text.strip():
            return []
        document = twiml.parse(reply.text, "messaging")
        messages = [node for node in document.children if node.tag == "Message"]
        return [self._reply(node, from_, to) for node in messages]

    def _reply(self, node: twiml.Node, from_: str, to: str) -> Message:
        body = node.text or "".join(c.text for c in node.children if c.tag == "Body")
        message = Message(
            node.attr("to", from_),
            node.attr("from", to),
            body,
            self.board.now(),
            self.board.account_sid,
            direction="outbound-reply",
        )
        self.outbox.append(message)
        self._schedule(message)
        return message
