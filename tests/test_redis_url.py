"""A wrong REDIS_URL stops `ivr serve`, `ivr worker` and `ivr report` with one plain line
that names REDIS_URL (its password masked) and what is wrong, exit 2 as other settings
errors: a misspelt scheme, nothing listening, a wrong password, a database on a cluster,
a sentinel service name the sentinels do not know (`test_sentinel.py`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ivr import cli
from ivr.core.store import free_port
from tests.conftest import SAMPLE_CONFIG

IVR = [sys.executable, "-m", "ivr.cli"]


def refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, command: str
) -> str:
    """What `ivr <command>` says on stderr, having exited 2, with REDIS_URL=`url`."""
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("IVR_CONFIG_DIR", str(SAMPLE_CONFIG))
    args = [command, "--from", "2026-11-23"] if command == "report" else [command]
    assert cli.main(args) == 2
    said = capsys.readouterr().err.strip()
    assert "\n" not in said and said.startswith(f"ivr {command}: REDIS_URL="), said
    return said


def test_a_misspelt_scheme_names_every_scheme(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    said = refused(monkeypatch, capsys, "redis+clustr://:pw@127.0.0.1:1", "report")
    assert "pw" not in said
    for scheme in ("redis://", "rediss://", "unix://", "redis+cluster://", "redis+sentinel://"):
        assert scheme in said


@pytest.mark.parametrize("scheme", ["redis", "redis+cluster"])
def test_nothing_listening_is_said_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scheme: str
) -> None:
    said = refused(monkeypatch, capsys, f"{scheme}://127.0.0.1:{free_port()}", "report")
    assert "cannot reach" in said


def test_a_wrong_password_is_said_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], redis_url: str
) -> None:
    url = redis_url.replace("redis://", "redis://ivr:wrong-secret@", 1)
    said = refused(monkeypatch, capsys, url, "report")
    assert "wrong-secret" not in said and "ivr:***@" in said
    assert "password" in said


def test_a_database_on_a_cluster_url_is_said_plainly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    said = refused(monkeypatch, capsys, f"redis+cluster://127.0.0.1:{free_port()}/3", "report")
    assert "only database 0" in said


def worker_refused(url: str, tmp_path: Path) -> str:
    """`ivr worker` in a process of its own: what it says, having exited 2 without
    claiming to be ready."""
    env = {**os.environ, "REDIS_URL": url, "IVR_CONFIG_DIR": str(SAMPLE_CONFIG)}
    done = subprocess.run(
        IVR + ["worker"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "ready" not in done.stdout + done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_the_worker_does_not_start_on_a_store_it_cannot_reach(tmp_path: Path) -> None:
    said = worker_refused(f"redis://127.0.0.1:{free_port()}", tmp_path)
    assert said.startswith("ivr worker: REDIS_URL=") and "cannot reach" in said
