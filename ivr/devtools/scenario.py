"""The scripted day of `ivr demo`: who calls, and what each caller does.

The first round of callers carries the story (a declined offer, a language-blind
escalation, a stored voicemail, a keep-my-place callback); later rounds repeat the
paths with new numbers. Steps wait for the call to listen, as a person would.
"""

from __future__ import annotations

from dataclasses import dataclass

SCORES = (7, 6, 2, 5, 7, 6)
"""The survey replies, in turn: the third is low, so a comment and an alert follow."""
COMMENT = "I had to wait too long and explain twice"


@dataclass(frozen=True)
class Step:
    """One thing a caller does: press keys, say words (to the menu or into a recording),
    or wait. `means` says what a key does where the menu cannot (on hold, in a dialogue)."""

    kind: str
    value: str
    means: str = ""


def press(keys: str, means: str = "") -> Step:
    return Step("press", keys, means)


def say(words: str) -> Step:
    return Step("say", words)


def speak(words: str) -> Step:
    return Step("speak", words)


def wait(seconds: float) -> Step:
    return Step("wait", str(seconds))


@dataclass(frozen=True)
class Script:
    language: str
    known: str
    """A known caller's name (greeted by name, no language menu), or ""."""
    steps: tuple[Step, ...]


SCRIPTS = (
    Script("en", "Oliver", (press("1"), press("20261124#"))),
    Script("ms", "Aisyah", (say("saya perlukan sokongan"),)),
    Script("th", "Somchai", (press("1"), press("31415926#"))),  # no Thai billing expert: escalates
    Script("en", "", (press("2"),)),
    Script(
        "ms",
        "",
        (
            press("4"),
            speak("Helo, saya mahu menukar pelan telefon saya. Sila hubungi saya."),
            wait(3),
            press("#", "ends the message"),
        ),
    ),
    Script("th", "", (say("เทคนิค"),)),
    Script(
        "ms",
        "",
        (
            press("2"),
            wait(20),
            press("1", "call me back, keeping my place"),
            wait(1),
            press("1", "yes, on this number"),
        ),
    ),
    Script("en", "", (say("I want to buy a phone"),)),
)
AFTER_HOURS = (
    speak("Hello, please call me back about my bill when you open."),
    wait(3),
    press("#", "ends the message"),
)
"""What every caller does when the office is closed (`--at` at night): leave a message."""
KNOWN = {"Oliver": "+447700900123", "Aisyah": "+60123456789", "Somchai": "+66812345678"}
LANGUAGE_KEYS = {"en": "1", "ms": "2", "th": "3"}
