"""`ivr demo`: the newcomer's first command runs the scripted day and exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_callers_in_three_languages_and_exits_zero() -> None:
    """Callers in three languages wait, are put through or called back, and answer surveys."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Aisyah (ms) calls" in out and "Somchai (th) calls" in out and "Oliver (en) calls" in out
    assert "hears the whisper" in out and "accepts and is connected" in out
    assert "declines the call; the caller stays on hold" in out
    assert "hears: You are next in line." in out
    assert "finishes the call and wraps up" in out
    answered = int(out.split("answered by an agent: ")[1].split()[0])
    assert answered >= 5
    assert "FRT: median" in out and "service level" in out and "abandonment rate" in out
    assert "phone rings: the callback" in out
    assert "callbacks: requested 2, called back 2" in out
    assert "gets the survey and replies" in out
    replies = int(out.split("CES: mean ")[1].split(" from ")[1].split()[0])
    assert replies >= 5
    assert "emulator errors: 0" in out
