"""The `callbacks` config section (`config/callbacks.yaml`): who may be called back, and how.

Texts are per language: the config's `texts`, else the built-in phrases
(`callbacks.<kind>` in `ivr/config/defaults/`), falling back to the default language.
`{number}`, `{time}`, `{queue}`, `{company}` and `{cancel}` in a text are filled in
when it is used.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr.config import phrases

MAX_ATTEMPTS = 3
"""Dial attempts per callback before it is given up."""
MIN_GAP_S = 300
"""Seconds between one unanswered attempt and the next."""
RING_TIMEOUT_S = 25
"""How long the customer's phone rings on each attempt."""
EXPIRE_AFTER_S = 4 * 3600
"""A callback not connected this long after it was requested expires."""
TextKind = Literal[
    "offer", "confirm_number", "enter_number", "invalid_number", "premium_number",
    "foreign_number", "kept", "scheduled", "already", "choose_slot", "too_late",
    "sms_confirm", "sms_cancelled", "sms_expired", "sms_failed", "sms_unknown", "greeting",
    "machine", "whisper", "keep_existing", "kept_existing", "offer_closing", "sms_reopen",
]  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _quoted_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 18:00 as the base-60 integer 1080: refuse it, with a hint.
    if isinstance(value, int):
        raise ValueError('write times in quotes, e.g. "18:00"')
    return value


LocalTime = Annotated[time, BeforeValidator(_quoted_time)]


class Slot(Strict):
    """A scheduled-callback choice: within `within_s` from now, or at a local time of day.

    `day` is 0 for today and 1 for tomorrow; a slot that falls outside the hours
    moves to the next opening (within) or is not offered (at). A within slot has no
    `priority`: it joins at the time it was asked for, at the caller's own priority, so it
    never overtakes callers already holding.
    """

    key: str = Field(pattern=r"^[0-9]$")
    label: dict[str, str]
    within_s: int | None = Field(default=None, gt=0)
    at: LocalTime | None = None
    day: int = Field(default=0, ge=0, le=7)
    priority: int | None = Field(default=None, ge=0, le=99)

    @model_validator(mode="after")
    def _one_kind(self) -> Slot:
        if (self.within_s is None) == (self.at is None):
            raise ValueError("a slot has exactly one of `within_s` and `at`")
        if self.within_s is not None and self.priority is not None:
            raise ValueError(
                "a `within_s` slot keeps the caller's place and priority: remove `priority`"
            )
        return self


class CallbacksConfig(Strict):
    """Keep-my-place and scheduled callbacks."""

    enabled: bool = True
    allowed_countries: list[str] = Field(default_factory=lambda: ["MY"])
    """ISO regions whose numbers may be called back."""
    default_region: str = "MY"
    """How a keypad number without a country code is read (a leading 0 is national)."""
    max_attempts: int = Field(default=MAX_ATTEMPTS, ge=1, le=10)
    min_gap_s: int = Field(default=MIN_GAP_S, ge=0)
    ring_timeout_s: int = Field(default=RING_TIMEOUT_S, gt=0, le=120)
    machine_detection: bool = True
    """Ask Twilio to detect answering machines (customer-first dials)."""
    on_machine: Literal["message", "no_answer"] = "message"
    """`message`: leave the `machine` text and count the callback done; `no_answer`: retry."""
    expire_after_s: int = Field(default=EXPIRE_AFTER_S, gt=0)
    calling_hours: str | None = None
    """Hours (a name under `hours`) outside which no callback is dialled: it expires."""
    customer_first: list[str] = Field(default_factory=list)
    """Queues whose callbacks ring the customer first; the others ring the agent first."""
    at_closing: Literal["expire", "next_open"] = "next_open"
    """A keep-my-place callback still waiting when its queue closes: `expire` (SMS), or
    `next_open`: it leaves the queue and rejoins at its original place when it opens (SMS)."""
    priority: int | None = Field(default=None, ge=0, le=99)
    """Priority of callbacks at a set time (`at` slots) when they join the queue (unset: the
    queue's). A within-the-hour callback keeps the caller's own priority instead."""
    slots: list[Slot] = Field(default_factory=list)
    cancel_words: dict[str, list[str]] = Field(default_factory=dict)
    """SMS keywords that cancel a pending callback, per language (CANCEL always works)."""
    texts: dict[str, dict[TextKind, str]] = Field(default_factory=dict)

    def text(self, kind: TextKind, language: str, default: str, **values: object) -> str:
        """The text of `kind` in `language` (else `default`, else English), filled in."""
        for code in (language, default, phrases.REFERENCE):
            found = self.texts.get(code, {}).get(kind) or phrases.built_in_text(
                code, f"callbacks.{kind}"
            )
            if found:
                return found.format(**values)
        raise KeyError(kind)
