"""Structured logging with phone numbers masked.

Every log line goes through structlog; the `mask_numbers` processor hides
all but the last three digits of anything that looks like a phone number,
in event text and in fields alike.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

PHONE = re.compile(r"\+\d{7,15}\b")
"""E.164 numbers, the form every number takes once it is inside the service."""


def mask(text: str) -> str:
    """`+60123456789` -> `+60******789`: enough to tell calls apart, not to dial."""

    def hide(m: re.Match[str]) -> str:
        digits = m.group(0)
        return digits[:3] + "*" * (len(digits) - 6) + digits[-3:]

    return PHONE.sub(hide, text)


def mask_numbers(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: mask phone numbers in every string value."""
    return {k: mask(v) if isinstance(v, str) else v for k, v in event.items()}


def configure(json: bool = False, level: int = logging.INFO) -> None:
    """Route structlog and stdlib logging to stderr, as JSON or as readable lines."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso"),
        mask_numbers,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
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
