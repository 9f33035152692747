"""Structured logging with phone numbers masked.

Our code logs through structlog, key-value style (`log = logs.get(__name__)`,
`log.info("callback moved", callback=cb.id)`). Records from stdlib loggers
(uvicorn's, redis's, twilio's) go through the same `ProcessorFormatter`
chain, so every line has the same fields and format (JSON with
`IVR_LOG_JSON`), and the `mask_numbers` processor hides all but the last
three digits of anything that looks like a phone number, and the password of
any URL (a `REDIS_URL` with credentials), in event text, fields and tracebacks alike.
uvicorn's access log is one of those stdlib loggers: its request lines, query strings
included, are masked like ours. A number is an E.164 one (`+6012...`, or `%2B6012...` in
a URL), or a bare run of digits given as a query value (`?number=60123456789`); other
bare digits (timestamps, counts, ids) are left alone.

With a `process` name (`ivr serve`'s web processes are "web", `ivr worker` is "worker"),
every line says which process wrote it, with its pid: `ivr serve` runs both, and each
logs its own config reloads and store outages.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

import structlog
from structlog.typing import EventDict, Processor

PHONE = re.compile(r"(\+|%2[Bb]|%252[Bb])(\d{7,15})\b")
"""E.164 numbers, the form every number takes once it is inside the service (or in a URL,
or in a URL inside another URL's query: `%252B`)."""
URL_SECRET = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s:@]*:)[^@\s/]+@", re.IGNORECASE)
"""The password in a URL's user part (`redis://user:secret@host`): never logged."""
QUERY_NUMBER = re.compile(r"([?&][\w.%-]+=)(\d{8,15})(?=$|[&\s\"'#;,)])")
"""A bare number as a query value: a caller's number typed or sent without its `+`."""
BARE_NUMBER = re.compile(r"\d{8,15}")
"""A field whose whole value is a bare number (`caller="60123456789"`)."""
NANP_DIGITS = 11
"""A bare run starting with 1 is a number only at the length of +1 numbers: ten digits
starting with 1 are a Unix time in seconds (and thirteen, in milliseconds), not a phone."""


def _hidden(digits: str) -> str:
    return digits[:2] + "*" * (len(digits) - 5) + digits[-3:]


def _hide_bare(digits: str) -> str:
    """A bare number masked, unless it is a Unix time (see `NANP_DIGITS`)."""
    if digits.startswith("1") and len(digits) != NANP_DIGITS:
        return digits
    return _hidden(digits)


def _hide_query_number(m: re.Match[str]) -> str:
    name, digits = m.groups()
    return name + _hide_bare(digits)


def mask(text: str) -> str:
    """`+60123456789` -> `+60******789`: enough to tell calls apart, not to dial; and
    `redis://:secret@host` -> `redis://:***@host`."""

    def hide(m: re.Match[str]) -> str:
        plus, digits = m.groups()
        return plus + _hidden(digits)

    text = URL_SECRET.sub(r"\1***@", text)
    return QUERY_NUMBER.sub(_hide_query_number, PHONE.sub(hide, text))


def mask_value(value: Any) -> Any:
    """A field's value masked: text as `mask` does, and a value that is a bare number whole."""
    if not isinstance(value, str):
        return value
    return _hide_bare(value) if BARE_NUMBER.fullmatch(value) else mask(value)


def mask_numbers(_: Any, __: str, event: EventDict) -> EventDict:
    """structlog processor: mask phone numbers in every string value."""
    return {k: mask_value(v) for k, v in event.items()}


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


def tag_process(name: str) -> Processor:
    """structlog processor: the `process` name and `pid` on every line (the pid read per
    line, so a forked process shows its own)."""

    def tag(_: Any, __: str, event: EventDict) -> EventDict:
        event.setdefault("process", name)
        event.setdefault("pid", os.getpid())
        return event

    return tag


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record to whatever `sys.stderr` is when it is emitted, not the stream of
    the moment it was made: a thread that outlives a test whose captured stderr was closed
    (pytest swaps it per test) still logs, instead of printing "--- Logging error ---".
    A stream set explicitly (`setStream`) is kept."""

    chosen: Any = None

    @property
    def stream(self) -> Any:
        return sys.stderr if self.chosen is None else self.chosen

    @stream.setter
    def stream(self, value: Any) -> None:
        """`StreamHandler.__init__` assigns today's stderr: that one is followed, not kept."""
        self.chosen = None if value is sys.stderr else value


def configure(json: bool = False, level: int = logging.INFO, process: str = "") -> None:
    """Route structlog and stdlib logging to stderr, as JSON or as readable lines; with a
    `process` name ("web", "worker"), each line says which process wrote it."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    route_to_stdlib(cache=True)
    handler = StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                *([tag_process(process)] if process else []),
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
