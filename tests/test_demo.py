"""`ivr demo`: the newcomer's first command runs the scripted day and exits cleanly."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_callers_in_three_languages_and_exits_zero() -> None:
    """The demo plays English, Malay and Thai callers through the real app and summarises."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "demo", "--minutes", "5"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "Aisyah (ms) calls" in out and "Somchai (th) calls" in out and "Oliver (en) calls" in out
    assert "joins the support queue" in out
    assert "calls: 14" in out
    assert "emulator errors: 0" in out
