"""The console on a real `ivr serve`, with `ivr call --url` as the caller: as a person runs them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ivr.core.store import free_port


def wait_up(url: str) -> None:
    for _ in range(150):
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{url} never came up")


def test_an_agent_takes_a_call_from_the_console_on_ivr_serve(
    tmp_path: Path, open_config_dir: Path
) -> None:
    """Alice logs in to a running service, a terminal caller reaches her, she accepts on screen."""
    port, hub = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "TWILIO_AUTH_TOKEN": "console-test-token",
        "PUBLIC_BASE_URL": base,
        "IVR_TWILIO_API_URL": f"http://127.0.0.1:{hub}",  # the service rings the terminal's phones
        "IVR_PORT": str(port),
        "IVR_DATA_DIR": str(tmp_path / "var"),
        "IVR_CONFIG_DIR": str(open_config_dir),  # open whatever the time of day
    }
    ivr = [sys.executable, "-m", "ivr.cli"]
    serve = subprocess.Popen(
        [*ivr, "serve", "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    stack = contextlib.ExitStack()
    caller: subprocess.Popen[str] | None = None
    try:
        wait_up(base + "/healthz")
        api = stack.enter_context(httpx.Client(base_url=base, timeout=10))
        login = api.post(
            "/api/session", json={"kind": "agent", "user": "alice", "secret": "alice-demo"}
        )
        headers = {
            "Cookie": f"ivr_session={login.cookies['ivr_session']}",
            "X-CSRF-Token": login.json()["csrf"],
        }
        assert (
            api.post("/api/agent/status", json={"status": "available"}, headers=headers).status_code
            == 204
        )
        caller = subprocess.Popen(
            [*ivr, "call", "--url", base, "--hub-port", str(hub)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert caller.stdin is not None
        wait_up(f"http://127.0.0.1:{hub}/device/client:alice")
        for line in ["1", "1", "20261124#"]:
            caller.stdin.write(line + "\n")
            caller.stdin.flush()
            time.sleep(1.5)
        offer = None
        for _ in range(40):
            offer = api.get("/api/agent", headers=headers).json().get("offer")
            if offer:
                break
            time.sleep(0.25)
        assert offer is not None and offer["data"] == {"account_number": "20261124"}
        accepted = api.post(f"/api/agent/offers/{offer['id']}/accept", headers=headers)
        assert accepted.status_code == 200, accepted.text
        phone = stack.enter_context(httpx.Client(base_url=f"http://127.0.0.1:{hub}", timeout=10))
        for _ in range(40):
            if phone.get("/device/client:alice").json()["ringing"]:
                break
            time.sleep(0.25)
        assert phone.post("/device/client:alice/answer").status_code == 200
        time.sleep(3)
        out, _ = caller.communicate(input="hangup\n", timeout=30)
        assert "Connecting you now." in out and "(talking to an agent)" in out
    finally:
        stack.close()
        if caller is not None and caller.poll() is None:  # a failed assertion left it up
            caller.kill()
            caller.communicate(timeout=30)
        serve.terminate()
        serve.wait(timeout=30)
