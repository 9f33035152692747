"""The `ivr` command as an admin runs it: `ivr check`, `ivr serve` and `ivr worker`."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from ivr import cli
from ivr.app import create_app
from ivr.cli import build_parser
from ivr.core.errors import UnsafeSettings
from ivr.core.settings import Settings
from ivr.core.store import alive, free_port, last_url, sync_client
from ivr.devtools.liveserver import LiveServer

IVR = [sys.executable, "-m", "ivr.cli"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*IVR, *args], capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each `ivr` command's parser, by name."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_ivr_help_describes_what_is_there() -> None:
    """`ivr --help` describes the tool as it is, naming every command, with no promise of
    later work."""
    text = build_parser().format_help()
    assert "later" not in text
    for name in commands():
        assert name in (build_parser().description or ""), name


@pytest.mark.parametrize("name", sorted(commands()))
def test_every_flag_says_what_it_is(name: str) -> None:
    """Each option and argument of every command has help text that says what it is, not
    only its default."""
    command = commands()[name]
    bare = [
        action.option_strings[-1] if action.option_strings else action.dest
        for action in command._actions
        if not isinstance(action, argparse._HelpAction)
        and (not action.help or action.help.startswith("default"))
    ]
    assert bare == []


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


def test_serve_refuses_to_start_on_invalid_config(config_dir: Path, tmp_path: Path) -> None:
    """`ivr serve` exits non-zero, naming the problem, when the config is broken."""
    (config_dir / "menu.yaml").write_text("menu: [unclosed\n", encoding="utf-8")
    result = run(
        "serve",
        "--config",
        str(config_dir),
        "--port",
        str(free_port()),
        env={"IVR_DATA_DIR": str(tmp_path / "var"), "TWILIO_AUTH_TOKEN": "cli-test-token"},
    )
    assert result.returncode == 1
    assert "menu.yaml:" in result.stderr


def test_serve_refuses_to_start_without_an_auth_token(tmp_path: Path) -> None:
    """With no TWILIO_AUTH_TOKEN, `ivr serve` exits 2 saying what to set, and starts nothing."""
    env = {k: v for k, v in os.environ.items() if k not in ("TWILIO_AUTH_TOKEN", "REDIS_URL")}
    env |= {"IVR_DATA_DIR": str(tmp_path / "var"), "IVR_PORT": str(free_port())}
    result = subprocess.run([*IVR, "serve"], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert "TWILIO_AUTH_TOKEN" in result.stderr and "IVR_VALIDATE_SIGNATURES=false" in result.stderr
    assert not (tmp_path / "var").exists(), "no store was started"


def test_an_app_without_an_auth_token_does_not_start(settings: Settings) -> None:
    """`uvicorn ivr.app:create_app` (no `ivr serve`) refuses an unset token too."""
    app = create_app(settings.with_(twilio_auth_token=""), run_timers=False)

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(UnsafeSettings, match="TWILIO_AUTH_TOKEN"):
        asyncio.run(start())


def test_signature_checks_turned_off_on_purpose_start_without_a_token(settings: Settings) -> None:
    """IVR_VALIDATE_SIGNATURES=false is the one way to start with no token (local tries)."""
    app = create_app(
        settings.with_(twilio_auth_token="", validate_signatures=False), run_timers=False
    )
    with LiveServer(app) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_on_the_embedded_store(tmp_path: Path, workers: int) -> None:
    """`ivr serve` with no REDIS_URL starts Valkey under IVR_DATA_DIR and answers /healthz.

    Every process it starts (web workers too) logs JSON lines, with IVR_LOG_JSON."""
    port = free_port()
    env = {**os.environ, "IVR_DATA_DIR": str(tmp_path / "var"), "IVR_PORT": str(port)}
    env.pop("REDIS_URL", None)
    env["IVR_LOG_JSON"] = "1"
    env["TWILIO_AUTH_TOKEN"] = "cli-test-token"
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
        _, err = proc.communicate(timeout=20)
    assert proc.returncode in (0, -15)
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    started = [e for e in entries if e["event"].startswith("Started server process")]
    assert len(started) == workers and {e["logger"] for e in started} == {"uvicorn.error"}


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


def descendants(pid: int) -> dict[int, str]:
    """The processes below `pid` (pid -> command line), read from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        parents[int(stat.parent.name)] = int(fields[1])
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found[child] = command_line(child)
                frontier.append(child)
    return found


def command_line(pid: int) -> str:
    try:
        return (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode()
    except OSError:
        return ""


def start_serve(
    data_dir: Path, config_dir: Path, port: int, workers: int = 1
) -> subprocess.Popen[str]:
    env = {**os.environ, "IVR_DATA_DIR": str(data_dir), "IVR_PORT": str(port)}
    env.pop("REDIS_URL", None)
    env["TWILIO_AUTH_TOKEN"] = "cli-test-token"
    return subprocess.Popen(
        [*IVR, "serve", "--config", str(config_dir), "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_children(proc: subprocess.Popen[str]) -> dict[int, str]:
    """The store and the job worker of a healthy `ivr serve`, once both run."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        children = descendants(proc.pid)
        kinds = [kind_of(cmd) for cmd in children.values()]
        if "valkey" in kinds and "worker" in kinds:
            return children
        time.sleep(0.1)
    raise AssertionError(f"no store and worker under ivr serve: {descendants(proc.pid)}")


def kind_of(command: str) -> str:
    return "valkey" if "valkey-server" in command else "worker" if " worker" in command else ""


@pytest.mark.parametrize("workers", [1, 2])
def test_killed_serve_leaves_nothing_running_and_restarts_on_its_data(
    tmp_path: Path, open_config_dir: Path, workers: int
) -> None:
    """SIGKILL `ivr serve`: all it started is gone in 5 s; a restart has one store, the data."""
    data, port = tmp_path / "var", free_port()
    first = start_serve(data, open_config_dir, port, workers)
    wait_healthy(f"http://127.0.0.1:{port}/healthz", first)
    children = wait_for_children(first)
    client = sync_client(str(last_url(data / "valkey" / "valkey.conf")))
    client.set("ivr:{main}:probe", "a waiting caller")
    client.close()
    first.kill()
    first.communicate(timeout=10)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [cmd for pid, cmd in children.items() if alive(pid)] == []
    second = start_serve(data, open_config_dir, port, workers)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", second)
        kinds = sorted(kind_of(cmd) for cmd in wait_for_children(second).values())
        assert kinds.count("valkey") == 1 and kinds.count("worker") == 1, kinds
        client = sync_client(str(last_url(data / "valkey" / "valkey.conf")))
        assert client.get("ivr:{main}:probe") == "a waiting caller"
        client.close()
    finally:
        second.terminate()
        second.communicate(timeout=20)


def test_serve_stops_within_5_s_of_sigterm(tmp_path: Path, open_config_dir: Path) -> None:
    """SIGTERM `ivr serve`: it, its worker and its store have all exited within 5 s."""
    port = free_port()
    proc = start_serve(tmp_path / "var", open_config_dir, port)
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc)
    children = wait_for_children(proc)
    proc.terminate()
    proc.communicate(timeout=5)
    assert proc.returncode == 0
    assert [cmd for pid, cmd in children.items() if alive(pid)] == []


def test_worker_stops_within_5_s_of_sigterm(redis_url: str, sample_config_dir: Path) -> None:
    """SIGTERM `ivr worker` while it waits for jobs: it exits 0 within 5 s."""
    env = {**os.environ, "REDIS_URL": redis_url, "IVR_CONFIG_DIR": str(sample_config_dir)}
    proc = subprocess.Popen(
        [*IVR, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    line = ""
    while "worker ready" not in line:
        line = proc.stderr.readline()
        assert line, "ivr worker exited before it was ready"
    proc.terminate()
    proc.communicate(timeout=5)
    assert proc.returncode == 0


@pytest.mark.parametrize("command", ["demo", "simulate"])
def test_demo_and_simulate_refuse_several_workspaces(
    command: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ivr demo` and `ivr simulate` run one contact centre: with IVR_WORKSPACES set they
    exit 2 saying how to run them for one workspace, and start nothing."""
    monkeypatch.setenv("IVR_WORKSPACES", "sales:config,support:config")
    assert cli.main([command]) == 2
    err = capsys.readouterr().err
    assert f"ivr {command}: runs one contact centre" in err
    assert "IVR_CONFIG_DIR" in err
