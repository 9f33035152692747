"""Structured logging with phone numbers masked.

Our code logs through structlog, key-value style (`log = logs.get(__name__)`,
`log.info("callback moved", callback=cb.id)`). Records from stdlib loggers
(uvicorn's, redis's, twilio's) go through the same `ProcessorFormatter`
chain, so every line has the same fields and format (JSON with
`IVR_LOG_JSON`), and the `mask_numbers` processor hides all but the last
three digits of anything that looks like a phone number, and the password of
any URL (a `REDIS_URL` with credentials), in event text, fields and tracebacks alike.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict

PHONE = re.compile(r"(\+|%2[Bb])(\d{7,15})\b")
"""E.164 numbers, the form every number takes once it is inside the service (or in a URL)."""
URL_SECRET = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)
"""The password in a URL's user part (`redis://user:secret@host`): never logged."""


def mask(text: str) -> str:
    """`+60123456789` -> `+60******789`: enough to tell calls apart, not to dial; and
    `redis://:secret@host` -> `redis://:***@host`."""

    def hide(m: re.Match[str]) -> str:
        plus, digits = m.groups()
        return plus + digits[:2] + "*" * (len(digits) - 5) + digits[-3:]

    return PHONE.sub(hide, URL_SECRET.sub(r"\1***@", text))


def mask_numbers(_: Any, __: str, event: EventDict) -> EventDict:
    """structlog processor: mask phone numbers in every string value."""
    return {k: mask(v) if isinstance(v, str) else v for k, v in event.items()}


SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso"),
]
"""The fields every record gets, ours and stdlib's alike."""


def route_to_stdlib(cache: bool = False) -> None:
    """Hand structlog's events to stdlib logging, whose handlers format them (`configure`).

    Done at import too: before `configure` (tests, scripts, plain uvicorn) our
    records go where stdlib's go, to pytest's capture or nowhere, not to stdout.
    """
    structlog.configure(
        processors=[*SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=cache,
    )


def configure(json: bool = False, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging to stderr, as JSON or as readable lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    route_to_stdlib(cache=True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,  # a traceback is text, to be masked
                mask_numbers,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


def get(name: str) -> Any:
    """A structured logger."""
    return structlog.get_logger(name)


route_to_stdlib()
