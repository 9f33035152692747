"""TwiML rendering, only through the twilio library's classes (never string templates).

The library escapes text, so prompts containing `<` or `&` are safe, and
Thai and Malay text comes through as UTF-8.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.responses import Response
from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.config.menu import Language, Languages
from ivr.config.prompts import Localized, PromptItem, pick

Parent = Any
"""A `VoiceResponse` or a `Gather` (the twilio library ships no type hints)."""


def speak(parent: Parent, items: Iterable[PromptItem], language: Language, name: str = "") -> None:
    """Append `<Say>`/`<Play>` for each prompt item, in the caller's language by default."""
    for item in items:
        if item.play is not None:
            parent.play(item.play, loop=item.loop if item.loop != 1 else None)
            continue
        text = (item.say or "").replace("{name}", name)
        parent.say(
            text,
            voice=item.voice or (language.voice if not item.language else None),
            language=item.language or language.say_language,
            loop=item.loop if item.loop != 1 else None,
        )


def say(parent: Parent, text: str, language: Language) -> None:
    """Append one `<Say>` of `text` in `language`'s TTS language and voice."""
    parent.say(text, language=language.say_language, voice=language.voice)


def speak_localized(
    parent: Parent, languages: Languages, prompt: Localized | None, code: str, name: str = ""
) -> None:
    """Append a config prompt in language `code`. A prompt only written in the default
    language is said in that language's TTS language and voice, never read out by another's."""
    written = code if prompt and prompt.get(code) else languages.default
    speak(parent, pick(prompt, code, languages.default), languages.of(written), name)


def gather(action: str, **attrs: Any) -> Gather:
    """A `<Gather>` that always posts back, even with no input, so no-input is counted."""
    clean = {k: v for k, v in attrs.items() if v is not None}
    return Gather(action=action, method="POST", action_on_empty_result=True, **clean)


def render(response: VoiceResponse) -> str:
    """The TwiML document as text."""
    return str(response.to_xml())


def xml(response: VoiceResponse | str) -> Response:
    """A webhook's answer: the TwiML (rendered, or as rendered before), as application/xml."""
    text = response if isinstance(response, str) else render(response)
    return Response(text, media_type="application/xml")
