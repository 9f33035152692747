"""Reading Twilio webhooks safely: size cap, form parsing, signature check.

The URL that is signed is `PUBLIC_BASE_URL` + path + query string, not the
URL the request arrived on, so validation holds behind proxies and TLS
terminators (the cause of most signature failures people report).
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request
from twilio.request_validator import RequestValidator

from ivr.core.errors import WebhookError
from ivr.core.settings import Settings

FORM_TYPE = "application/x-www-form-urlencoded"
SIGNATURE_HEADER = "x-twilio-signature"


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refusing anything over `limit` bytes with 413."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise WebhookError(413, f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookError(413, f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes, content_type: str) -> dict[str, str]:
    """Twilio's form fields (first value of each name)."""
    if not content_type.lower().startswith(FORM_TYPE):
        raise WebhookError(415, f"expected {FORM_TYPE}")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WebhookError(400, f"unreadable form body: {exc}") from exc
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def signed_url(settings: Settings, request: Request) -> str:
    query = request.url.query
    return settings.public_base_url + request.url.path + (f"?{query}" if query else "")


class Verifier:
    """Checks `X-Twilio-Signature` against the auth token, or lets all through if told to."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.validator = RequestValidator(settings.twilio_auth_token)

    async def form(self, request: Request) -> dict[str, str]:
        """The verified form of a Twilio webhook, or a `WebhookError` (403 when unsigned);
        once verified (by the workspace lookup of a shared route), the same form again."""
        if (verified := getattr(request.state, "twilio_form", None)) is not None:
            return dict(verified)
        body = await read_body(request, self.settings.max_body_bytes)
        form = parse_form(body, request.headers.get("content-type", ""))
        if self.settings.validate_signatures:
            signature = request.headers.get(SIGNATURE_HEADER, "")
            url = signed_url(self.settings, request)
            if not signature or not self.validator.validate(url, form, signature):
                raise WebhookError(403, "missing or invalid X-Twilio-Signature")
        request.state.twilio_form = form  # for the degraded-mode answer (ivr.voice.fallback)
        return form


def verified_form(request: Request) -> dict[str, str]:
    """The form `Verifier.form` accepted for this request, or empty if it did not run."""
    form: dict[str, str] = getattr(request.state, "twilio_form", {})
    return form


MAX_QUERY_DIGITS = 9
"""Counters in our own URLs (step, attempt, tries) stay far below a billion."""


def query_int(request: Request, name: str, default: int | None = None) -> int | None:
    """A small non-negative counter from the query string, or `default` when it is missing
    or garbled. Only ASCII digits count: `"²".isdigit()` is True but `int("²")` raises,
    and `int("١")` is 1."""
    text = request.query_params.get(name)
    if text is None or not (text.isascii() and text.isdigit()) or len(text) > MAX_QUERY_DIGITS:
        return default
    return int(text)


def require(form: dict[str, str], *names: str) -> list[str]:
    """The named fields, or 400 naming the first one missing."""
    missing = [n for n in names if not form.get(n)]
    if missing:
        raise WebhookError(400, f"missing field {missing[0]}")
    return [form[n] for n in names]
