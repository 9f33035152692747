"""`ivr check` on what callers hear and what texts cost: voices Twilio offers for each
language, and the SMS segments of every text in every language."""

from __future__ import annotations

import io
from pathlib import Path

from ivr.config import texting
from ivr.config.command import run
from ivr.config.loader import load, load_checked


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def check(config_dir: Path) -> list[str]:
    out = io.StringIO()
    assert run(config_dir, out) == 0
    return out.getvalue().splitlines()


def test_check_lists_each_sms_texts_segments_per_language(sample_config_dir: Path) -> None:
    """Every SMS text has one line with its segments and encoding in en, ms and th: the
    Thai survey question is UCS-2 and costs two segments where English costs one."""
    lines = check(sample_config_dir)
    listed = {line.split()[0] for line in lines[1:-1]}
    assert listed == set(texting.sms_names())
    (question,) = [line for line in lines if line.split()[0] == "surveys.question"]
    assert "en 1 (GSM-7," in question and "th 2 (UCS-2," in question


def test_a_voice_twilio_lacks_for_the_language_is_a_warning(config_dir: Path) -> None:
    """A Polly voice for Malay (Polly has none) is flagged where it is written, with the
    voices Twilio does offer for Malay."""
    edit(config_dir / "business.yaml", "voice: Google.ms-MY-Standard-A", "voice: Polly.Joanna")
    _config, found = load_checked(config_dir)
    (problem,) = [p for p in found if "voice" in p.message]
    assert (Path(problem.file).name, problem.line, problem.severity) == (
        "business.yaml",
        16,
        "warning",
    )
    assert problem.message == "Twilio has no voice Polly.Joanna for ms-MY"
    assert "Polly.Joanna speaks en-US" in problem.hint
    assert "Google.ms-MY-Standard-A" in problem.hint
    assert any("Polly.Joanna" in line for line in check(config_dir))


def test_a_prompts_own_voice_is_checked_against_its_language(config_dir: Path) -> None:
    """A voice written on one prompt is checked against the language that prompt speaks:
    an English voice on the Thai goodbye is flagged at that prompt."""
    edit(
        config_dir / "menu.yaml",
        '    th: "ขออภัยที่เราไม่สามารถช่วยได้ในครั้งนี้ สวัสดีค่ะ"',
        '    th: {say: "ขออภัยที่เราไม่สามารถช่วยได้ในครั้งนี้", voice: Polly.Amy}',
    )
    _config, found = load_checked(config_dir)
    (problem,) = [p for p in found if "voice" in p.message]
    assert (Path(problem.file).name, problem.line) == ("menu.yaml", 12)
    assert problem.message == "Twilio has no voice Polly.Amy for th-TH"


def test_a_text_over_the_segment_limit_is_a_warning(config_dir: Path) -> None:
    """A Thai survey question of three segments is flagged at its line, with its cost."""
    long_thai = "ก" * 150
    edit(
        config_dir / "surveys.yaml",
        'question: "{company} ทำให้ฉันแก้ปัญหาได้ง่าย',
        f'question: "{long_thai} ทำให้ฉันแก้ปัญหาได้ง่าย',
    )
    _config, found = load_checked(config_dir)
    (problem,) = [p for p in found if "segment" in p.message]
    assert (Path(problem.file).name, problem.line) == ("surveys.yaml", 33)
    assert problem.message.startswith("surveys.question in 'th' costs 4 segments (UCS-2,")
    assert problem.message.endswith("over sms.max_segments 2")


def test_the_segment_limit_is_configurable(config_dir: Path) -> None:
    """With `sms: {max_segments: 1}` every two-segment Thai text is flagged."""
    (config_dir / "sms.yaml").write_text("sms:\n  max_segments: 1\n", encoding="utf-8")
    config, found = load_checked(config_dir)
    flagged = {p.message.split()[0] for p in found if "segment" in p.message}
    over = {c.name for c in texting.costs(config) if c.cost.count > 1}
    assert flagged == over and "surveys.question" in flagged


def test_callback_confirmation_is_priced_with_a_weekday_and_number(sample_config_dir: Path) -> None:
    """A callback confirmation is counted as sent: with a number, a weekday and a time."""
    config = load(sample_config_dir)
    (confirm,) = [
        c for c in texting.costs(config) if (c.name, c.language) == ("callbacks.sms_confirm", "en")
    ]
    assert texting.SAMPLE_NUMBER in confirm.text and "Wednesday 10:30" in confirm.text
