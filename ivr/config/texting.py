"""What each SMS the service sends costs, in every language (`ivr check` lists it).

Every SMS text (callback confirmations and notices, every survey message) is filled in
with typical values, then counted in segments (`ivr.core.segments`): a Thai text is UCS-2,
70 characters per segment (67 once split), where GSM-7 English gets 160 (153). A text over
`sms.max_segments` (`ivr.config.sms`) is a warning: each segment is billed as one message.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import get_args

from ivr.config import phrases
from ivr.config.callbacks import TextKind as CallbackText
from ivr.config.menu import Languages
from ivr.config.model import Config
from ivr.config.surveys import TextKind as SurveyText
from ivr.core import segments
from ivr.core.segments import Segments

SAMPLE_NUMBER = "+60123456789"
"""The callback number a confirmation is filled in with (as long as a Malaysian mobile)."""
SAMPLE_TIME = "10:30"


@dataclass(frozen=True)
class TextCost:
    """One SMS text in one language, filled in, and what it costs."""

    name: str
    language: str
    text: str
    cost: Segments


SURVEY_TEXTS: tuple[SurveyText, ...] = get_args(SurveyText)
CALLBACK_TEXTS: tuple[CallbackText, ...] = tuple(
    kind for kind in get_args(CallbackText) if kind.startswith("sms_")
)
"""The callback texts sent by SMS (the others are spoken)."""


def sms_names() -> list[str]:
    """Every phrase the service sends by SMS: `callbacks.sms_*` and every `surveys.*`."""
    return [*(f"callbacks.{k}" for k in CALLBACK_TEXTS), *(f"surveys.{k}" for k in SURVEY_TEXTS)]


def costs(config: Config) -> Iterator[TextCost]:
    """Every SMS text in every declared language, filled in with typical values."""
    for code in config.languages.available:
        for name, text in filled(config, code):
            yield TextCost(name, code, text, segments.count(text))


def filled(config: Config, code: str) -> Iterator[tuple[str, str]]:
    """Each SMS text as a customer of language `code` would receive it."""
    default, company = config.languages.default, config.company.name
    values = {
        "company": company,
        "number": SAMPLE_NUMBER,
        "time": longest_time(config, code),
        "cancel": next(iter(phrases.keywords(config, "cancel", code)), "CANCEL"),
    }
    for kind in CALLBACK_TEXTS:
        yield f"callbacks.{kind}", config.callbacks.text(kind, code, default, **values)
    for survey in SURVEY_TEXTS:
        yield f"surveys.{survey}", config.surveys.text(survey, code, default, company)


def longest_time(config: phrases.Config, code: str) -> str:
    """A callback time as said on another day, with the language's longest weekday name."""
    days = [phrases.text(config, code, f"time.{day}") for day in phrases.WEEKDAYS]
    return phrases.text(config, code, "time.other_day", day=max(days, key=len), time=SAMPLE_TIME)


def table(found: list[TextCost], languages: Languages) -> Iterator[str]:
    """`ivr check`'s listing: one line per SMS text, its cost in each language."""
    codes = list(languages.available)
    yield f"SMS texts, segments per message ({', '.join(codes)}):"
    width = max(len(name) for name in sms_names())
    by_name: dict[str, dict[str, Segments]] = {}
    for item in found:
        by_name.setdefault(item.name, {})[item.language] = item.cost
    for name, per_language in by_name.items():
        cells = [f"{code} {_cell(per_language[code])}" for code in codes]
        yield f"  {name:<{width}}  " + "".join(cells).rstrip()


def _cell(cost: Segments) -> str:
    return f"{cost.count} ({cost.encoding}, {cost.units} chars)".ljust(24)
