"""The `ivr` command as an admin runs it: `ivr check` and `ivr serve`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

IVR = [sys.executable, "-m", "ivr.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IVR, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def test_check_passes_the_sample_config(sample_config_dir: Path) -> None:
    """`ivr check` on the shipped config exits 0 and names the version."""
    result = run("check", str(sample_config_dir))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout


def test_check_pinpoints_an_error_and_exits_non_zero(config_dir: Path) -> None:
    """A misspelt key is reported with its file and line, and the exit code is 1."""
    menu = config_dir / "menu.yaml"
    lines = menu.read_text(encoding="utf-8").splitlines()
    index = next(i for i, line in enumerate(lines) if line.strip() == "options:")
    lines[index] = lines[index].replace("options:", "optoins:")
    menu.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run("check", str(config_dir))
    assert result.returncode == 1
    assert f"menu.yaml:{index + 1}:" in result.stdout
    assert "options" in result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_refuses_to_start_on_invalid_config(config_dir: Path, tmp_path: Path) -> None:
    """`ivr serve` exits non-zero, naming the problem, when the config is broken."""
    (config_dir / "menu.yaml").write_text("menu: [unclosed\n", encoding="utf-8")
    result = run(
        "serve",
        "--config",
        str(config_dir),
        "--port",
        str(free_port()),
        env={"IVR_DATA_DIR": str(tmp_path / "var")},
    )
    assert result.returncode == 1
    assert "menu.yaml:" in result.stderr


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_on_the_embedded_store(tmp_path: Path, workers: int) -> None:
    """`ivr serve` with no REDIS_URL starts Valkey under IVR_DATA_DIR and answers /healthz."""
    port = free_port()
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path / "var"), "IVR_PORT": str(port)}
    env.pop("REDIS_URL", None)
    proc = subprocess.Popen(
        [*IVR, "serve", "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        body = wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
        assert body["store"] == "ok"
        assert (tmp_path / "var" / "valkey" / "appendonlydir").is_dir()
    finally:
        proc.terminate()
        proc.communicate(timeout=20)
    assert proc.returncode in (0, -15)


def wait_healthy(url: str, proc: subprocess.Popen[str]) -> dict[str, str]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            body: dict[str, str] = httpx.get(url, timeout=1).json()
            return body
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("ivr serve did not become healthy")
