"""Signed webhook requests to the app, the way Twilio sends them.

The app validates signatures against its PUBLIC URL, while the emulator has to
open a socket to wherever the app really listens. So every URL is kept in its
public form (that is what gets signed and what relative URLs resolve against)
and is mapped to `base_url` only when the request is sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit

import httpx
from twilio.request_validator import RequestValidator

from ivr.core.errors import EmulatorError
from ivr.devtools.emulator.ids import new_sid

WEBHOOK_TIMEOUT_S = 15.0
"""Twilio's hard cap on any call-related request (error 11205)."""
MAX_REDIRECTS = 10
USER_AGENT = "TwilioProxy/1.1"
TWIML_TYPES = ("text/xml", "application/xml", "text/html", "text/plain")


class WebhookFailure(EmulatorError):
    """A webhook Twilio could not use: unreachable, too slow, an error status or not TwiML."""

    def __init__(self, url: str, status: int, detail: str) -> None:
        self.url = url
        self.status = status
        self.detail = detail
        super().__init__(f"{url}: {detail}")

    def __repr__(self) -> str:
        return f"WebhookFailure(url={self.url!r}, status={self.status}, detail={self.detail!r})"


@dataclass(frozen=True)
class Reply:
    """What the app answered to one webhook."""

    url: str
    status: int
    text: str
    content_type: str


class Webhooks:
    """Resolves, signs and posts webhooks over one pooled httpx client."""

    def __init__(self, base_url: str, public_base_url: str, auth_token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.public_base_url = public_base_url.rstrip("/")
        self._validator = RequestValidator(auth_token)
        self._client = httpx.Client(
            timeout=WEBHOOK_TIMEOUT_S, follow_redirects=True, max_redirects=MAX_REDIRECTS
        )

    def close(self) -> None:
        self._client.close()

    def resolve(self, url: str, current: str | None = None) -> str:
        """The public absolute form of `url`, relative to the current document like Twilio."""
        if urlsplit(url).scheme:
            return url
        return urljoin(current or self.public_base_url + "/", url)

    def socket_url(self, public_url: str) -> str:
        """Where the request really goes: the public origin is swapped for `base_url`."""
        if public_url.startswith(self.public_base_url):
            return self.base_url + public_url[len(self.public_base_url) :]
        if public_url.startswith(self.base_url):
            return public_url
        raise WebhookFailure(public_url, 0, "the URL is outside the app (no Internet here)")

    def signed_request(
        self, public_url: str, method: str, params: dict[str, str]
    ) -> tuple[str, dict[str, str], dict[str, str] | None]:
        """The URL to sign, the headers and the form body (None for GET)."""
        if method.upper() == "GET":
            sep = "&" if urlsplit(public_url).query else "?"
            url = public_url + sep + urlencode(params) if params else public_url
            body: dict[str, str] | None = None
            signature = self._validator.compute_signature(url, {})
        else:
            url, body = public_url, params
            signature = self._validator.compute_signature(url, params)
        headers = {
            "X-Twilio-Signature": signature,
            "User-Agent": USER_AGENT,
            "I-Twilio-Idempotency-Token": new_sid(""),
        }
        return url, headers, body

    def send(self, public_url: str, method: str, params: dict[str, str], times: int = 1) -> Reply:
        """Send the request `times` times (identical, like a retry) and return the first reply."""
        url, headers, body = self.signed_request(public_url, method, params)
        replies = [self._send_once(url, method, headers, body) for _ in range(times)]
        return replies[0]

    def _send_once(
        self, url: str, method: str, headers: dict[str, str], body: dict[str, str] | None
    ) -> Reply:
        try:
            response = self._client.request(
                method.upper(), self.socket_url(url), data=body, headers=headers
            )
        except httpx.TimeoutException:
            raise WebhookFailure(url, 0, "no response within 15 s (error 11205)") from None
        except httpx.HTTPError as exc:
            raise WebhookFailure(url, 0, f"request failed: {exc!r}") from None
        content_type = response.headers.get("content-type", "").split(";")[0].strip()
        return Reply(url, response.status_code, response.text, content_type)


def require_twiml(reply: Reply) -> str:
    """The TwiML body of a reply, or WebhookFailure for an error status or a non-TwiML body."""
    if reply.status >= 400:
        raise WebhookFailure(reply.url, reply.status, f"the app answered HTTP {reply.status}")
    if reply.content_type not in TWIML_TYPES:
        detail = f"content type {reply.content_type or 'missing'!r} is not TwiML (error 12300)"
        raise WebhookFailure(reply.url, reply.status, detail)
    if not reply.text.strip():
        raise WebhookFailure(reply.url, reply.status, "an empty body is not TwiML (error 12100)")
    return reply.text


def check_callback(reply: Reply) -> None:
    """Status callbacks only need a 2xx; anything else is logged like a Debugger warning."""
    if reply.status >= 400:
        raise WebhookFailure(reply.url, reply.status, f"the app answered HTTP {reply.status}")
