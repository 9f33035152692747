"""`ivr demo`: the newcomer's first command tells the story of a scripted day and exits cleanly.

The demo runs for real, as a newcomer runs it (`python -m ivr.cli demo`): the app on
uvicorn, the embedded Valkey, the emulator, the job runner. The checks read its output.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ivr.config.loader import load
from ivr.config.model import Config
from ivr.core.session import CallSession
from ivr.core.store import EmbeddedStore
from ivr.devtools import coaching, recap, scenario, story
from queues.metrics.rollups import Totals

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config"
IVR = [sys.executable, "-m", "ivr.cli"]


def run(
    *args: str, data_dir: Path | None = None, config_dir: Path = SAMPLE
) -> subprocess.CompletedProcess[str]:
    """`ivr <args>` on the sample config, on its own store (REDIS_URL unset)."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env["IVR_CONFIG_DIR"] = str(config_dir)
    if data_dir is not None:
        env["IVR_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [*IVR, *args], capture_output=True, text=True, timeout=180, env=env, cwd=ROOT
    )


@pytest.fixture(name="config", scope="module")
def fixture_config() -> Config:
    return load(SAMPLE)


@pytest.fixture(name="out", scope="module")
def fixture_out() -> str:
    """The output of one plain `ivr demo`, shared by the checks below."""
    result = run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_exits_cleanly_with_callers_in_three_languages(out: str) -> None:
    """Known callers in English, Malay and Thai call; the emulator saw no protocol error."""
    assert "Oliver calls" in out and "Aisyah calls" in out and "Somchai calls" in out
    assert "Emulator errors: 0." in out


@pytest.mark.parametrize("language", ["en", "ms", "th"])
def test_demo_prints_the_menu_prompt_in_each_language(
    out: str, config: Config, language: str
) -> None:
    """What a caller hears is printed in their language: the main menu, as the config says it."""
    prompt = config.nodes["main"].prompts.long
    assert prompt is not None
    text = prompt[language][0].say
    assert f'hears ({language}) "{text}"' in out


def test_demo_leaves_no_twilio_queue_behind(out: str) -> None:
    """Every caller's own Twilio queue is deleted by the end of the day."""
    assert "Twilio queues left behind: 0." in out


def test_demo_says_what_each_key_means(out: str) -> None:
    """A key is printed with what it picks, and digits entered with what they are."""
    assert "Oliver presses 1 (Billing)" in out
    assert "Oliver enters account number 20261124#" in out
    assert 'Aisyah says "saya perlukan sokongan" (Technical support)' in out
    assert "presses 3 (ภาษาไทย)" in out
    assert "presses 4 (leave a message)" in out


def test_demo_names_each_queue(out: str, config: Config) -> None:
    """Every queue of the sample is named, by its display name, as callers join it."""
    for name in config.queues:
        assert f"waits in the {story.queue_name(config, name)} queue" in out


def test_demo_narrates_a_callback_and_a_voicemail(out: str) -> None:
    """One caller is called back, keeping their place; another leaves a message that is stored."""
    assert "(call me back, keeping my place)" in out
    assert "a callback keeps their place in Technical support" in out
    assert "Acme Telco calling back" in out
    assert re.search(r"message \(\d+ s, ms\) is in the voicemail box with their number", out)


def test_demo_narrates_an_escalation_and_a_decline(out: str) -> None:
    """A Thai caller waits for a Thai billing expert, then the queue widens; alice declines once."""
    assert (
        "Somchai has waited 30 s in Billing for an agent with billing 4+ who speaks th, and none "
        "is free: the call escalates, and now an agent with billing 1+ in any language may answer"
    ) in out
    assert "alice declines the call; Oliver stays on hold" in out
    assert "Offers an agent declined: 1," in out


def test_demo_narrates_a_supervisor_whisper(out: str) -> None:
    """The supervisor whispers to an agent on a call: the agent hears it, the caller not."""
    assert re.search(rf'whispers "{coaching.WHISPER}": \w+ hears it, \w+ does not\n', out), out
    assert "stops monitoring and leaves" in out


def test_demo_shows_a_low_score_with_its_comment(out: str) -> None:
    """A low survey score gets the follow-up question; the comment reaches the supervisors."""
    assert f'replies "{scenario.COMMENT}"' in out
    assert re.search(rf'lists a low score: .*, CES [1-3], agent \w+: "{scenario.COMMENT}"', out)
    assert re.search(r"Low scores \(3 or less\): [1-9]", out)


def test_demo_summary_explains_each_figure(out: str) -> None:
    """The summary says what FRT, ASA, service level, abandonment and CES mean."""
    summary = out.split("\nSummary\n")[1]
    assert "FRT (first response time: from dialling in to talking to a person" in summary
    assert "ASA (average speed of answer)" in summary
    assert "of callers who waited were answered within the target wait (20 s)" in summary
    assert "an abandonment rate of" in summary and "callers who hung up while waiting" in summary
    assert "CES (customer effort score)" in summary
    assert "voicemail from hold: 0" not in summary.lower()
    answered = int(summary.split("Answered by an agent: ")[1].split(".")[0])
    assert answered >= 5


def test_demo_keep_leaves_its_day_for_ivr_report(tmp_path: Path) -> None:
    """After `ivr demo --keep`, the `ivr report` command it prints shows the demo's calls."""
    data_dir = tmp_path / "var"
    kept = run("demo", "--keep", "--minutes", "4", data_dir=data_dir)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    command = re.search(r"`ivr report (--from \S+ --to \S+)`", kept.stdout)
    assert command is not None, kept.stdout
    report = run("report", *command.group(1).split(), "--format", "json", data_dir=data_dir)
    assert report.returncode == 0, report.stdout + report.stderr
    queues = json.loads(report.stdout)["queues"]
    answered = int(kept.stdout.split("Answered by an agent: ")[1].split(".")[0])
    assert answered > 0
    assert sum(q["answered"] for q in queues.values()) == answered
    table = run("report", *command.group(1).split(), data_dir=data_dir)
    assert "billing" in table.stdout and "10:00" in table.stdout


def test_after_demo_keep_a_plain_ivr_report_shows_its_calls(
    tmp_path: Path, open_config_dir: Path
) -> None:
    """With `--keep` and no `--at` the demo plays this morning, so `ivr report` (today, no
    dates) shows the calls the demo answered."""
    data_dir = tmp_path / "var"
    kept = run("demo", "--keep", "--minutes", "4", data_dir=data_dir, config_dir=open_config_dir)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "today's `ivr report` shows these calls" in kept.stdout
    answered = int(kept.stdout.split("Answered by an agent: ")[1].split(".")[0])
    report = run("report", "--format", "json", data_dir=data_dir, config_dir=open_config_dir)
    assert report.returncode == 0, report.stdout + report.stderr
    queues = json.loads(report.stdout)["queues"]
    assert answered > 0 and sum(q["answered"] for q in queues.values()) == answered


def test_demo_keep_refuses_a_store_in_use(tmp_path: Path) -> None:
    """`--keep` on a data directory whose store another process runs (`ivr serve`) is refused."""
    with EmbeddedStore(tmp_path):
        result = run("demo", "--keep", data_dir=tmp_path)
    assert result.returncode == 1
    assert "`ivr serve` is running on this data directory" in result.stdout


def test_demo_at_night_reaches_the_closed_message() -> None:
    """`--at` a night hour: callers hear the office is closed and leave messages."""
    result = run("demo", "--at", "2026-12-07 03:00", "--minutes", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Monday 07 December 2026 03:00 (Asia/Kuala_Lumpur)" in result.stdout
    assert "The office is closed then" in result.stdout
    assert 'Oliver hears (en) "Our office is closed.' in result.stdout
    assert "is in the voicemail box" in result.stdout


def test_demo_with_a_voice_twilio_lacks_says_so_in_one_line(tmp_path: Path) -> None:
    """A Malay voice Twilio does not offer (Polly has none) stops the demo with one line
    naming the voice and pointing at `ivr check`, never a traceback."""
    config_dir = tmp_path / "config"
    shutil.copytree(SAMPLE, config_dir)
    business = config_dir / "business.yaml"
    text = business.read_text(encoding="utf-8")
    business.write_text(text.replace("Google.ms-MY-Standard-A", "Polly.Joanna"), encoding="utf-8")
    result = run("demo", "--minutes", "3", config_dir=config_dir)
    assert result.returncode == 1
    assert "Twilio would refuse what the service answered" in result.stdout
    assert "Polly.Joanna" in result.stdout and "ivr check" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_demo_rejects_an_at_that_is_no_time() -> None:
    """`--at tomorrow` is refused with the format to use."""
    result = run("demo", "--at", "tomorrow")
    assert result.returncode == 2
    assert "give 'YYYY-MM-DD HH:MM' (Asia/Kuala_Lumpur)" in result.stdout


# -- the words, without the demo ------------------------------------------------------


def session(node: str, outcome: str | None = None) -> CallSession:
    return CallSession("CA1", "+60123456789", "+60312345678", 0.0, "v", "ms", node, outcome=outcome)


@pytest.mark.parametrize(
    ("node", "kind", "value", "means"),
    [
        pytest.param("language", "press", "2", "Bahasa Melayu", id="language"),
        pytest.param("main", "press", "1", "Billing", id="goto-collect-queue"),
        pytest.param("main", "press", "4", "leave a message", id="voicemail"),
        pytest.param("main", "say", "saya mahu beli", "Sales", id="speech"),
        pytest.param("main", "press", "7", "", id="no-such-key"),
    ],
)
def test_key_meaning_follows_the_menu(
    config: Config, node: str, kind: str, value: str, means: str
) -> None:
    """A key or phrase is described by the option it picks at the caller's node."""
    assert story.key_meaning(config, session(node), kind, value) == means


def test_key_meaning_is_empty_once_the_call_left_the_menu(config: Config) -> None:
    """On hold, a key is not a menu choice: the menu gives it no meaning."""
    assert story.key_meaning(config, session("main", outcome="queued"), "press", "1") == ""


def test_who_may_answer_follows_the_escalation_steps(config: Config) -> None:
    """Billing asks for a billing expert in the caller's language first, then anyone in billing."""
    first = story.who_may_answer(config, "billing", 0, "th")
    assert first == "an agent with billing 4+ who speaks th"
    assert story.who_may_answer(config, "billing", 1, "th") == (
        "an agent with billing 1+ in any language"
    )


def test_recap_of_a_closed_day_says_why_figures_are_missing(config: Config) -> None:
    """With nobody queued and no survey replies, the recap says so instead of printing dashes."""
    day = recap.Day(
        config=config,
        totals=Totals().figures(),
        queues={name: Totals().figures() for name in config.queues},
        languages=Counter({"en": 2}),
        events=Counter(),
        voicemails=2,
        handled={"alice": 0},
    )
    text = "\n".join(recap.lines(day))
    assert "2 calls: 2 in English." in text
    assert "Voicemails: 2" in text
    assert (
        "Nobody waited in a queue, so there is no FRT, ASA, service level or abandonment." in text
    )
    assert "CES (customer effort score, from an SMS survey after the call): no replies." in text
    assert " - " not in text
