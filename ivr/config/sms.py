"""The `sms:` section: limits on what the service's texts may cost (`ivr.config.texting`)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_MAX_SEGMENTS = 2
"""Segments one SMS may cost before `ivr check` warns (each is billed as one message)."""


class SmsConfig(BaseModel):
    """How many segments one text may cost before `ivr check` warns."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_segments: int = Field(default=DEFAULT_MAX_SEGMENTS, ge=1, le=10)
