"""`ivr call`: a person walks the sample menu from a terminal, in each language."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from ivr.core.store import free_port
from ivr.devtools import call, hub
from ivr.voice.queue import SHORT_BRIDGE_S


def wall_clock_env(config_dir: Path) -> dict[str, str]:
    """The environment for an `ivr call` on its own store, open whatever the time of day."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    return {**env, "IVR_CONFIG_DIR": str(config_dir)}


def ivr_call(config_dir: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = wall_clock_env(config_dir)
    return subprocess.run(
        [sys.executable, "-m", "ivr.cli", "call", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        pytest.param(
            "1\n3\n",
            ["[en-GB] For billing, press 1", "(on hold)", "Please stay on the line."],
            id="en",
        ),
        pytest.param(
            "2\nsay saya perlukan sokongan\n",
            ["[ms-MY] Untuk bil, tekan 1", "(on hold)", "Sila kekal dalam talian."],
            id="ms",
        ),
        pytest.param(
            "3\n1\n12345678#\n",
            ["[th-TH] ฝ่ายบิล กด 1", "กรุณากดหมายเลขบัญชี", "(on hold)"],
            id="th",
        ),
    ],
)
def test_a_person_walks_the_menu_in_each_language(
    open_config_dir: Path, script: str, expected: list[str]
) -> None:
    """Typed keys and phrases move the call through the menu, and each prompt is printed."""
    result = ivr_call(open_config_dir, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[en-GB] Welcome to Acme Telco. For English, press 1." in result.stdout
    for text in expected:
        assert text in result.stdout
    assert "Call ended (completed)." in result.stdout


def test_a_known_number_is_greeted_by_name(open_config_dir: Path) -> None:
    """Calling from a number in customers.yaml is greeted by name in that caller's language."""
    result = ivr_call(open_config_dir, "hangup\n", "--from", "+60123456789")
    assert "[ms-MY] Selamat kembali ke Acme Telco, Aisyah." in result.stdout


OFFICE_HOUR = "2026-12-07 10:00"
"""A Monday morning in Kuala Lumpur: the sample business is open."""
NIGHT = "2026-12-07 23:00"


def test_at_an_office_hour_reaches_the_main_menu_whatever_the_time(config_dir: Path) -> None:
    """`--at` runs the service on a pretended time, so the sample's own hours let the caller in."""
    result = ivr_call(config_dir, "1\nhangup\n", "--at", OFFICE_HOUR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[en-GB] For billing, press 1" in result.stdout
    assert "closed" not in result.stdout


def test_at_night_a_hint_says_the_business_is_closed(config_dir: Path) -> None:
    """When the sample's hours are closed, one line says so and names a time to pass to --at."""
    result = ivr_call(config_dir, "1\nhangup\n", "--at", NIGHT)
    assert "Our office is closed." in result.stdout
    hint = next(line for line in result.stdout.splitlines() if "--at" in line)
    assert "Acme Telco is closed" in hint and "Mon 23:00" in hint
    assert 'ivr call --at "2026-12-08 08:00"' in hint


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        pytest.param(["--at", "tomorrow"], "--at wants a time like", id="no-time"),
        pytest.param(
            ["--at", OFFICE_HOUR, "--url", "http://127.0.0.1:9"], "not --url", id="with-url"
        ),
    ],
)
def test_an_at_that_cannot_be_had_is_refused(
    config_dir: Path, args: list[str], reason: str
) -> None:
    """An `--at` that is no time, or one for a service running elsewhere, stops with exit 2."""
    result = ivr_call(config_dir, "", *args)
    assert result.returncode == 2 and reason in result.stderr


def test_a_callback_is_confirmed_by_sms_and_read_back_nationally(config_dir: Path) -> None:
    """Keeping one's place reads the Malaysian caller's number back in the national form, and
    the confirmation SMS to the caller's number is printed as it is sent."""
    script = "1\n2\nwait 1\n1\n1\n"
    result = ivr_call(config_dir, script, "--at", OFFICE_HOUR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "We will call you back on 0 1 9 1 2 3 4 5 6 7." in result.stdout
    sms = [line for line in result.stdout.splitlines() if "SMS" in line]
    assert sms and "Acme Telco: we will call you back on" in sms[0], result.stdout


def test_words_typed_instead_of_keys_get_a_hint(config_dir: Path) -> None:
    """Typing words (not digits, `say`, `wait` or `hangup`) says what the phone understands."""
    result = ivr_call(config_dir, "hello\nhangup\n", "--at", OFFICE_HOUR)
    assert "(type digits such as 1 or 12345678#" in result.stdout


def test_the_agent_hint_names_a_hub_on_another_port() -> None:
    """The suggested agent command includes --hub when the hub is not on the default port."""
    assert call.agent_hint("bob", hub.DEFAULT_HUB_PORT) == (
        "Agents: in another terminal run `ivr call --agent bob`."
    )
    assert call.agent_hint("bob", 9000) == (
        "Agents: in another terminal run `ivr call --agent bob --hub http://127.0.0.1:9000`."
    )


class Terminal:
    """A running `ivr call`, its output read as it comes so each prompt is answered when it
    is shown, not after a fixed sleep (which a loaded machine outruns)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.cli", "call", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_for(self, text: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while text not in "".join(self.lines):
            assert time.monotonic() < deadline, f"never showed {text!r}: {''.join(self.lines)}"
            assert self.proc.poll() is None, f"ended before {text!r}: {''.join(self.lines)}"
            time.sleep(0.05)

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def finish(self, text: str, timeout_s: float = 60) -> str:
        """Type the last lines, close the input and wait for the end: all it printed (one
        that ended already, as the agent's does after the call, is not typed to)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        with contextlib.suppress(BrokenPipeError):
            self.send(text)
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.close()
        self.proc.wait(timeout=timeout_s)
        self.reader.join(timeout_s)  # it drains the last lines
        self.proc.stdout.close()
        return "".join(self.lines)


def test_a_second_terminal_is_the_agents_phone(open_config_dir: Path) -> None:
    """`ivr call --agent alice` rings, hears the whisper, accepts, and the caller is put through;
    after the call, the survey SMS to the caller's number is printed as it is sent."""
    path = open_config_dir / "surveys.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["surveys"].update(delay_s=1, min_talk_s=0)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    port = free_port()
    env = wall_clock_env(open_config_dir)
    caller = Terminal(["--hub-port", str(port), "--at", OFFICE_HOUR], env)
    caller.wait_for("press")
    caller.send("1")  # English
    caller.wait_for("For billing, press 1")
    caller.send("2")  # technical support
    caller.wait_for("(on hold)")
    agent = Terminal(["--agent", "alice", "--hub", f"http://127.0.0.1:{port}"], env)
    agent.wait_for("*** RINGING ***")
    agent.send("a")  # answer, and hear the whisper
    agent.wait_for("Press 1 to accept.")
    agent.send("1")
    caller.wait_for("(talking to an agent)")
    # A talk shorter than SHORT_BRIDGE_S counts as a bridge that fell through: no survey.
    caller_out = caller.finish(f"wait {SHORT_BRIDGE_S + 1}\nhangup")
    agent_out = agent.finish("q")
    assert "*** RINGING ***" in agent_out
    assert "Technical support call" in agent_out and "Press 1 to accept." in agent_out
    assert "Connecting you now." in caller_out
    assert "(talking to an agent)" in caller_out
    assert "[SMS from +60312345678] Acme Telco made it easy for me" in caller_out, caller_out


def test_the_hub_keeps_a_repeated_rest_parameter_as_a_list() -> None:
    """A REST form that repeats a field (StatusCallbackEvent, once per event) reaches the
    emulator as a list, as the twilio client hands it in-process: an `ivr serve` ringing
    through the hub is told of each leg's `ringing`, not only its `completed`."""
    body = "To=client%3Aalice&StatusCallbackEvent=initiated&StatusCallbackEvent=ringing"
    assert hub.form_fields(body) == {
        "To": "client:alice",
        "StatusCallbackEvent": ["initiated", "ringing"],
    }


def two_workspaces(open_config_dir: Path, tmp_path: Path) -> dict[str, str]:
    """`ivr call`'s environment with IVR_WORKSPACES naming sales (the sample, on +60312345678)
    and support (Beta Telco, on +60387654321), both open round the clock."""
    support = tmp_path / "support"
    shutil.copytree(open_config_dir, support)
    for path in support.glob("*.yaml"):
        path.write_text(path.read_text().replace("Acme Telco", "Beta Telco"))
    for folder, number in (
        (open_config_dir, "+60312345678"),
        (support, "+60387654321"),
    ):
        path = folder / "business.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["numbers"] = [number]
        path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    env = wall_clock_env(open_config_dir)
    return {**env, "IVR_WORKSPACES": f"sales:{open_config_dir},support:{support}"}


@pytest.mark.parametrize(
    ("args", "status", "said"),
    [
        pytest.param(("--workspace", "support"), 0, "Welcome to Beta Telco", id="support"),
        pytest.param(
            (), 2, "IVR_WORKSPACES names several workspaces: choose one with --workspace"
            " (sales, support)", id="none-named",
        ),
        pytest.param(
            ("--workspace", "billing"), 2, "no workspace 'billing' in IVR_WORKSPACES"
            " (sales, support)", id="unknown",
        ),
    ],
)  # fmt: skip
def test_a_call_to_one_workspace_of_several(
    open_config_dir: Path, tmp_path: Path, args: tuple[str, ...], status: int, said: str
) -> None:
    """With several workspaces, `--workspace` picks the contact centre called (its own
    number, menu and agents); none named, or an unknown one, is refused naming the ids."""
    result = subprocess.run(
        [sys.executable, "-m", "ivr.cli", "call", *args],
        input="hangup\n",
        capture_output=True,
        text=True,
        timeout=90,
        env=two_workspaces(open_config_dir, tmp_path),
    )
    assert result.returncode == status, result.stdout + result.stderr
    assert said in result.stdout + result.stderr


def test_an_agent_terminal_beside_a_running_service_says_how_to_go_available() -> None:
    """Beside a separately running service the hub changes no state: the terminal says how."""
    answer = {"agent": "alice", "device": "client:alice", "state": None}
    assert call.agent_greeting("alice", answer) == (
        "This terminal is alice's phone (client:alice). To take calls, log in as alice"
        " at /agent and go available."
    )


def test_an_agent_terminal_in_process_says_the_state_in_plain_words() -> None:
    """In-process the hub made the agent available: the terminal says so in plain words."""
    answer = {"agent": "alice", "device": "client:alice", "state": "available"}
    assert call.agent_greeting("alice", answer) == (
        "This terminal is alice's phone (client:alice). alice is now available."
    )
