"""The menu language: named nodes, their prompts, options and actions.

An admin writes these in YAML under `config/` (see `docs/config.md`); this
module is the schema they are validated against. The engine that walks a
call through them is `ivr.voice.attendant`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from ivr.config.prompts import Localized
from ivr.core import numbers

BARE_ACTIONS = ("back", "top", "repeat", "hangup")
TERMINAL_ACTIONS = (
    "goto",
    "back",
    "top",
    "repeat",
    "queue",
    "callback",
    "transfer",
    "voicemail",
    "hangup",
)
"""Actions that end a list: the call leaves the current node."""
DEFAULT_TIMEOUT_S = 5
DEFAULT_MAX_RETRIES = 3
DEFAULT_VOICEMAIL_MAX_S = 120
DEFAULT_MIN_CONFIDENCE = 0.5
"""Twilio's `Confidence` (0.0-1.0) below which a `SpeechResult` counts as no match."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class QueueTarget(Strict):
    """Hand the call to a queue, with a priority and any data collected."""

    name: str
    priority: int | None = None
    """0-99, higher is served first; unset uses the queue's own priority."""


class VoicemailSpec(Strict):
    prompt: Localized | None = None
    max_length: int = Field(default=DEFAULT_VOICEMAIL_MAX_S, ge=1, le=3600)


class HangupSpec(Strict):
    message: Localized | None = None


class TransferSpec(Strict):
    number: str
    message: Localized | None = None
    timeout: int = Field(default=30, ge=5, le=600)


def _bare(value: Any) -> Any:
    if isinstance(value, str) and value in BARE_ACTIONS:
        return {value: True if value != "hangup" else {}}
    return value


class Action(Strict):
    """One step: exactly one key is set."""

    goto: str | None = None
    back: bool | None = None
    top: bool | None = None
    repeat: bool | None = None
    set_language: str | None = None
    set: dict[str, str] | None = None
    say: Localized | None = None
    queue: QueueTarget | None = None
    callback: dict[str, Any] | None = None
    transfer: TransferSpec | None = None
    voicemail: VoicemailSpec | None = None
    hangup: HangupSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, value: Any) -> Any:
        value = _bare(value)
        if isinstance(value, dict):
            value = dict(value)
            if isinstance(value.get("queue"), str):
                value["queue"] = {"name": value["queue"]}
            if isinstance(value.get("transfer"), str):
                value["transfer"] = {"number": value["transfer"]}
            if value.get("voicemail") is True:
                value["voicemail"] = {}
            if value.get("hangup") is True or value.get("hangup") is None and "hangup" in value:
                value["hangup"] = {}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        if len(self.model_fields_set) != 1:
            keys = ", ".join(sorted(self.model_fields_set)) or "nothing"
            raise ValueError(f"an action has exactly one key, found {keys}")
        return self

    @property
    def kind(self) -> str:
        return next(iter(self.model_fields_set))

    @property
    def terminal(self) -> bool:
        return self.kind in TERMINAL_ACTIONS


def _as_list(value: Any) -> Any:
    if isinstance(value, str | dict):
        return [value]
    return value


Actions = Annotated[list[Action], BeforeValidator(_as_list)]
"""One action or a list; the last one must be terminal."""


class NodePrompts(Strict):
    long: Localized | None = None
    """Played the first time the caller reaches the node."""
    short: Localized | None = None
    """Played on repeats (falls back to `long`)."""
    no_input: Localized | None = None
    invalid: Localized | None = None


def _digit_as_text(value: Any) -> Any:
    # YAML reads `key: 1` as an int; a key is always text ("1", "#", "*").
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


DtmfKey = Annotated[str, BeforeValidator(_digit_as_text)]


class Option(Strict):
    key: DtmfKey | None = None
    """The DTMF key (or keys) that picks this option."""
    speech: dict[str, list[str]] = Field(default_factory=dict)
    """Language -> spoken keywords that pick this option."""
    then: Actions


class Collect(Strict):
    """Multi-digit entry stored on the call under `name` (shown to the agent later)."""

    name: str
    num_digits: int | None = Field(default=None, ge=1, le=64)
    finish_on_key: str = "#"
    pattern: str | None = None
    then: Actions


class Input(Strict):
    mode: Literal["dtmf", "speech", "dtmf speech"] = "dtmf speech"
    timeout: int = Field(default=DEFAULT_TIMEOUT_S, ge=1, le=60)
    max_no_input: int = Field(default=DEFAULT_MAX_RETRIES, ge=1, le=10)
    max_invalid: int = Field(default=DEFAULT_MAX_RETRIES, ge=1, le=10)
    on_no_input: Actions | None = None
    on_invalid: Actions | None = None
    min_confidence: float | None = Field(default=None, ge=0, le=1)
    """Speech heard with less confidence counts as no match; unset: `menu.min_confidence`."""


class Node(Strict):
    """A menu step: a question with options, a digit collection, a message, or an hours branch."""

    prompts: NodePrompts = Field(default_factory=NodePrompts)
    options: list[Option] = Field(default_factory=list)
    collect: Collect | None = None
    input: Input = Field(default_factory=Input)
    then: Actions | None = None
    """For a message node: what happens after the prompts play."""
    hours: str | None = None
    """For an hours branch: the schedule to test."""
    open: Actions | None = None
    closed: Actions | None = None

    @property
    def kind(self) -> str:
        if self.hours is not None:
            return "hours"
        if self.collect is not None:
            return "collect"
        if self.options:
            return "menu"
        return "message"


class Language(Strict):
    name: str
    say_language: str
    """The TTS language code for `<Say language>`, e.g. `ms-MY`."""
    voice: str | None = None
    speech_language: str | None = None
    """The recogniser language for `<Gather language>` (defaults to `say_language`)."""


class Languages(Strict):
    default: str
    available: dict[str, Language]

    def of(self, code: str) -> Language:
        """The language `code`, or the default one when `code` is not declared."""
        return self.available.get(code) or self.available[self.default]


class MenuSettings(Strict):
    start: str
    """Where every call begins."""
    known_start: str | None = None
    """Where recognised callers with a known language begin (skipping language choice)."""
    greeting_known: Localized | None = None
    """Said first to recognised callers; `{name}` is replaced by their name."""
    goodbye: Localized | None = None
    """Said before hanging up when a node's retries run out and it names no action."""
    sorry: Localized | None = None
    """Said when something went wrong on our side before the menu starts again."""
    thanks: Localized | None = None
    """Said after a caller's voicemail is recorded, before hanging up."""
    on_no_input: Actions | None = None
    on_invalid: Actions | None = None
    min_confidence: float = Field(default=DEFAULT_MIN_CONFIDENCE, ge=0, le=1)
    """Speech heard with less confidence than this counts as no match (0 accepts all)."""


DEFAULT_FALLBACK_DIAL_TIMEOUT_S = 30


def _e164(value: str | None) -> str | None:
    if value is None:
        return None
    number = numbers.e164(value, valid=True) if value.startswith("+") else None
    if number is None:
        raise ValueError(f"{value!r} is not a valid phone number in E.164 form, e.g. +60322345000")
    return number


class Fallback(Strict):
    """Degraded mode (`ivr.voice.fallback`): what callers hear when the store cannot be reached,
    and what Twilio's Fallback URL (`/voice/fallback`) answers."""

    message: Localized | None = None
    """The apology, in the caller's language when the config knows it (`customers`)."""
    dial: Annotated[str | None, AfterValidator(_e164)] = None
    """A backup number the caller is put through to after the message; unset: hang up."""
    dial_timeout: int = Field(default=DEFAULT_FALLBACK_DIAL_TIMEOUT_S, ge=5, le=600)
    hold_message: Localized | None = None
    """Said once to a caller waiting in a queue, who keeps their place for a while."""


class Company(Strict):
    name: str
    timezone: str = "UTC"


class Customer(Strict):
    name: str
    language: str | None = None
