"""The `surveys` config section (`config/surveys.yaml`): who is asked, when, and in what words.

Every text is per language; a language without its own text falls back to the
default language's, and then to the English wording built in here. `{company}`
in a text is replaced by the company name.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from ivr.config import phrases

DEFAULT_DELAY_S = 120
"""Seconds between the end of a call and its survey SMS."""
DEFAULT_MIN_TALK_S = 30
"""Calls shorter than this (agent talk time) are not surveyed."""
DEFAULT_CAP_DAYS = 30
"""A number gets at most one survey in this many days."""
DEFAULT_WINDOW_H = 24
"""Replies later than this after the survey was sent are stored as late, not scored."""
CES_SCALE = range(1, 8)
"""The CES 2.0 answers: 1 (strongly disagree) to 7 (strongly agree) that it was easy."""
DEFAULT_LOW_SCORE = 3
"""Scores at or below this get the follow-up question and a supervisor alert."""
SENDER = re.compile(r"^(\+[1-9]\d{6,14}|MG[0-9a-fA-F]{32})$")
"""An E.164 number or a messaging service SID."""
TextKind = Literal[
    "question", "reprompt", "followup", "thanks", "thanks_comment", "late", "help", "stopped",
    "started",
]  # fmt: skip


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SurveyTexts(Strict):
    """The SMS texts in one language; unset ones fall back to the default language."""

    question: str | None = None
    reprompt: str | None = None
    followup: str | None = None
    thanks: str | None = None
    thanks_comment: str | None = None
    late: str | None = None
    help: str | None = None
    stopped: str | None = None
    started: str | None = None


def _quoted_time(value: Any) -> Any:
    # YAML 1.1 reads an unquoted 21:00 as the base-60 integer 1260: refuse it, with a hint.
    if isinstance(value, int):
        raise ValueError('write times in quotes, e.g. "21:00"')
    return value


Clock = Annotated[time, BeforeValidator(_quoted_time)]


class QuietHours(Strict):
    """Local hours (the customer's timezone) when no survey is sent; `start` > `end` wraps."""

    start: Clock = time(21, 0)
    end: Clock = time(9, 0)

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class SurveysConfig(Strict):
    """Post-call CES surveys by SMS."""

    enabled: bool = False
    sender: str | None = None
    """The number or messaging service (MG...) to send from; unset: the number called."""
    delay_s: int = Field(default=DEFAULT_DELAY_S, ge=0, le=7 * 86400)
    min_talk_s: int = Field(default=DEFAULT_MIN_TALK_S, ge=0)
    cap_days: int = Field(default=DEFAULT_CAP_DAYS, ge=0, le=3650)
    response_window_h: float = Field(default=DEFAULT_WINDOW_H, gt=0, le=24 * 30)
    low_score: int = Field(default=DEFAULT_LOW_SCORE, ge=0, le=CES_SCALE[-1])
    quiet_hours: QuietHours | None = Field(default_factory=QuietHours)
    texts: dict[str, SurveyTexts] = Field(default_factory=dict)
    stop_words: dict[str, list[str]] = Field(default_factory=dict)
    """Opt-out keywords per language, on top of STOP, UNSUBSCRIBE, END, QUIT and CANCEL."""
    start_words: dict[str, list[str]] = Field(default_factory=dict)
    help_words: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        if value is not None and not SENDER.match(value):
            raise ValueError("sender must be an E.164 number or a messaging service SID (MG...)")
        return value

    def is_late(self, sent_at: float, replied_at: float) -> bool:
        """Whether a reply came after the response window: `response_window_h` from when the
        survey SMS was sent (not from the call's end: quiet hours may hold it back). The one
        definition, for the reply (`callbacks.surveys`) and the metrics (`fold_surveys`)."""
        return replied_at - sent_at > self.response_window_h * 3600

    def text(self, kind: TextKind, language: str, default: str, company: str) -> str:
        """The text of `kind` in `language` (the config's, else the built-in phrase
        `surveys.<kind>`), falling back to `default`, then to English."""
        for code in (language, default, phrases.REFERENCE):
            texts = self.texts.get(code)
            found: str | None = getattr(texts, kind) if texts is not None else None
            found = found or phrases.built_in_text(code, f"surveys.{kind}")
            if found:
                return found.replace("{company}", company)
        raise KeyError(kind)

    def words(self, kind: Literal["stop", "start", "help"]) -> frozenset[str]:
        """The configured keywords of one kind in every language, casefolded."""
        table = {"stop": self.stop_words, "start": self.start_words, "help": self.help_words}[kind]
        return frozenset(w.strip().casefold() for words in table.values() for w in words)
