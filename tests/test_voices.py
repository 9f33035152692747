"""Twilio's voices per language, from the list kept in ivr/core/voices.yaml."""

from __future__ import annotations

from ivr.core import voices


def test_sample_voices_are_offered_for_their_languages() -> None:
    """The sample's three voices are ones Twilio offers for English, Malay and Thai."""
    assert voices.exists("Polly.Amy", "en-GB")
    assert voices.exists("Google.ms-MY-Standard-A", "ms-MY")
    assert voices.exists("Google.th-TH-Standard-A", "th-TH")


def test_polly_has_no_malay_or_thai_voice() -> None:
    """Amazon Polly speaks neither Malay nor Thai: those need a Google voice."""
    assert not any(v.startswith("Polly.") for v in voices.offered("ms-MY"))
    assert not any(v.startswith("Polly.") for v in voices.offered("th-TH"))
    assert voices.offered("ms-MY")


def test_a_voice_of_another_language_is_not_offered() -> None:
    """An English voice is not a Malay one, and says where it belongs."""
    assert not voices.exists("Polly.Joanna", "ms-MY")
    assert voices.languages_of("Polly.Joanna") == ["en-US"]


def test_names_compare_without_case() -> None:
    """`<Say language="ms-my" voice="google.ms-MY-standard-a">` names the same voice."""
    assert voices.exists("google.ms-my-standard-a", "MS-my")


def test_a_language_twilio_cannot_speak_has_no_voices() -> None:
    """A made-up language has no voice at all."""
    assert voices.offered("xx-XX") == ()
