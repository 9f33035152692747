"""The Twilio REST client the service uses to ring agents, dial callbacks and send SMS.

Production code always talks to `twilio.rest.Client`; only its transport
differs. By default that is the library's own HTTP client to api.twilio.com.
Tests and `ivr demo` hand in the local emulator's `HttpClient`, and
`IVR_TWILIO_API_URL` points the standard client at another origin (a
standalone emulator) without the code knowing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.core.settings import Settings

REST_TIMEOUT_S = 5.0
"""The longest one REST request may take: a hung API must not hold a ring past its window
(the library's own client has no timeout at all). A timed-out request is retried as a
transient error (`ivr.voice.offers`)."""


REST_ERRORS = (TwilioException, requests.RequestException, OSError)
"""What a REST request can fail with: Twilio's answer, or the transport (timeout, reset)."""
RATE_LIMITED = frozenset({20429})


def transient(exc: Exception) -> bool:
    """An API error worth retrying: 5xx, 429/20429, a timeout or a connection error."""
    if isinstance(exc, TwilioRestException):
        return exc.status >= 500 or exc.status == 429 or exc.code in RATE_LIMITED
    return True  # TwilioException without a status, requests' errors, OSError


class RedirectingHttpClient(TwilioHttpClient):  # type: ignore[misc]
    """Sends every request for `*.twilio.com` to another origin instead."""

    def __init__(self, origin: str) -> None:
        super().__init__(timeout=REST_TIMEOUT_S)
        self.origin = urlsplit(origin)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        parts = urlsplit(url)
        moved = parts._replace(scheme=self.origin.scheme, netloc=self.origin.netloc)
        return super().request(method, urlunsplit(moved), *args, **kwargs)


def rest_client(settings: Settings, http_client: Any = None) -> Any:
    """A `twilio.rest.Client` for the configured account and transport."""
    if http_client is None and settings.twilio_api_url:
        http_client = RedirectingHttpClient(settings.twilio_api_url)
    elif http_client is None:
        http_client = TwilioHttpClient(timeout=REST_TIMEOUT_S)
    return Client(settings.twilio_account_sid, settings.twilio_auth_token, http_client=http_client)
