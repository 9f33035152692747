"""Several web hosts (docs/deploy.md): two `ivr serve --no-worker` processes behind one
Caddy, one `ivr worker`, and the Twilio emulator posting every webhook through the proxy.
One web process is killed with SIGKILL mid-call, between requests or while it holds one;
the other serves the rest of the call, fires the timers, and nothing is lost or done twice.

Everything here runs on the wall clock (the web processes are real), so the queue's ring
timeout, wrap-up and hold-back are seconds, and the emulator speaks fast.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

import httpx
import pytest
import redis
import yaml

from ivr.core.clock import SystemClock
from ivr.core.keys import Keys
from ivr.core.store import free_port
from ivr.devtools import hub
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.emulator.webhooks import Reply, Webhooks
from ivr.devtools.liveserver import LiveServer
from ivr.voice.queue import SHORT_BRIDGE_S
from tests.conftest import AUTH_TOKEN, BUSINESS
from tests.consoles import SECRETS
from tests.streams import entries
from tests.test_deploy import CADDY, ROOT, needs_caddy, stop

RING_TIMEOUT_S = 3
"""The billing queue's ring timeout here: an unanswered ring ends within seconds."""
WRAP_UP_S = 1
TAKEOVER_MS = 1000
"""A timer of a killed host fires on the other this soon after its due time at most (every
web process looks for due timers at least every `background.TIMER_POLL_S`)."""
WAIT_S = 20.0
"""The longest any one step of a call is waited for."""
POLL_S = 0.05
TCP_TABLE = Path("/proc/net/tcp")
"""The kernel's IPv4 sockets: local address, state, and tx:rx queue bytes per line."""
TCP_LISTEN = "0A"
CADDYFILE = """\
{{
	admin off
	http_port {http}
	auto_https off
}}
http://127.0.0.1:{port} {{
	reverse_proxy {upstreams} {{
		lb_policy round_robin
		lb_try_duration 5s
		lb_try_interval 100ms
		fail_duration 5s
		lb_retry_match {{
			path_regexp ^(/w/[^/]+)?/(voice|sms|api)/
			not path */digits
		}}
		lb_retry_match {{
			method GET HEAD
		}}
		request_buffers 64KB
		transport http {{
			dial_timeout 2s
			keepalive off
		}}
	}}
}}
"""
"""docs/deploy.md's "Several web hosts" Caddyfile, on loopback over http."""


def proxy_options(caddyfile: str) -> list[str]:
    """The lines of a Caddyfile's `reverse_proxy` block, without comments or indentation."""
    lines = [line.strip() for line in caddyfile.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("reverse_proxy "))
    options: list[str] = []
    depth = 1
    for line in lines[start + 1 :]:
        depth += line.count("{") - line.count("}")
        if depth == 0:
            return options
        if line and not line.startswith("#"):
            options.append(line)
    raise AssertionError("the reverse_proxy block does not end")


def test_the_caddyfile_is_docs_deploy_md() -> None:
    """The proxy runs here with the options docs/deploy.md's "Several web hosts" shows."""
    section = (ROOT / "docs" / "deploy.md").read_text().split("## Several web hosts", 1)[1]
    shown = section.split("```caddyfile\n", 1)[1].split("```", 1)[0]
    ours = CADDYFILE.format(http=0, port=0, upstreams="")
    assert proxy_options(ours) == proxy_options(shown)


def eventually(check: Callable[[], object], what: str, within: float = WAIT_S) -> None:
    """Wait (wall clock) until `check()` is true."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never: {what}")
        time.sleep(POLL_S)


def heard(call: Call, text: str) -> Callable[[], bool]:
    return lambda: any(text in line for line in call.transcript())


def press(call: Call, digits: str) -> None:
    """Press keys once the call listens for them."""
    eventually(lambda: call.runner is not None and call.runner.accepts("dtmf"), "a gather")
    call.press(digits)


class Hosts:
    """Caddy on one port in front of two `ivr serve --no-worker`, with one `ivr worker`."""

    def __init__(self, home: Path, redis_url: str, config_dir: Path) -> None:
        self.home = home
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.hub_port = free_port()
        self.web_ports = [free_port(), free_port()]
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "PUBLIC_"))},
            "REDIS_URL": redis_url,
            "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
            "PUBLIC_BASE_URL": self.origin,
            "IVR_TWILIO_API_URL": f"http://127.0.0.1:{self.hub_port}",
            "IVR_CONFIG_DIR": str(config_dir),
            "IVR_DATA_DIR": str(home / "var"),
        }
        self.logs: list[IO[bytes]] = []
        self.webs = [self._start(["serve", "--no-worker"], port) for port in self.web_ports]
        self.worker = self._start(["worker"], None)
        self.caddy = self._caddy()

    def _log(self, name: str) -> IO[bytes]:
        log = open(self.home / f"{name}.log", "wb")  # noqa: SIM115 (closed in close())
        self.logs.append(log)
        return log

    def _start(self, args: list[str], port: int | None) -> subprocess.Popen[bytes]:
        env = dict(self.env)
        if port is not None:
            env["IVR_PORT"] = str(port)
        log = self._log(f"{args[0]}-{port or 'worker'}")
        command = [sys.executable, "-m", "ivr.cli", *args]
        return subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=self.home)

    def _caddy(self) -> subprocess.Popen[bytes]:
        upstreams = " ".join(f"127.0.0.1:{port}" for port in self.web_ports)
        text = CADDYFILE.format(http=free_port(), port=self.port, upstreams=upstreams)
        (self.home / "Caddyfile").write_text(text)
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(self.home)}
        command = [str(CADDY), "run", "--config", "Caddyfile", "--adapter", "caddyfile"]
        log = self._log("caddy")
        return subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=self.home)

    def wait_ready(self) -> None:
        """Every web process answers /healthz directly, and Caddy answers it too."""
        urls = [f"http://127.0.0.1:{port}/healthz" for port in self.web_ports]
        for url in [*urls, self.origin + "/healthz"]:
            eventually(functools.partial(self._up, url), f"{url} answers", within=60)

    def _up(self, url: str) -> bool:
        for process in [*self.webs, self.worker, self.caddy]:
            assert process.poll() is None, self.output()
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def pause(self, index: int) -> None:
        """SIGSTOP one web process: the kernel still accepts connections to it, and the
        requests sent on them wait, unanswered."""
        self.webs[index].send_signal(signal.SIGSTOP)

    def holding(self, index: int) -> bool:
        """Whether a request sent to one web process waits on a connection it has not
        read: a socket on its port, not the listening one, with bytes received."""
        return any(
            fields[1].endswith(f":{self.web_ports[index]:04X}")
            and fields[3] != TCP_LISTEN
            and int(fields[4].split(":")[1], 16) > 0
            for fields in (line.split() for line in TCP_TABLE.read_text().splitlines()[1:])
        )

    def kill(self, index: int) -> None:
        """SIGKILL one web process: no shutdown, no goodbye."""
        self.webs[index].send_signal(signal.SIGKILL)
        self.webs[index].wait()

    def output(self) -> str:
        for log in self.logs:
            if not log.closed:
                log.flush()
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.home.glob("*.log"))
        )

    def close(self) -> None:
        for process in [self.caddy, self.worker, *self.webs]:
            if process.poll() is None:
                stop(process)
        for log in self.logs:
            log.close()


class Agent:
    """An agent's console session, through the proxy (so on either host)."""

    def __init__(self, origin: str, name: str) -> None:
        self.name = name
        self.http = httpx.Client(base_url=origin, timeout=10)
        body = {"kind": "agent", "user": name, "secret": SECRETS[name]}
        login = self.http.post("/api/session", json=body)
        assert login.status_code == 200, login.text
        self.headers = {
            "Cookie": f"ivr_session={login.cookies['ivr_session']}",
            "X-CSRF-Token": login.json()["csrf"],
        }

    def available(self, r: redis.Redis) -> None:
        """Go available, then close the console: offers ring the agent's phone. (Its
        presence would lapse on its own within `presence.PRESENCE_TTL_S`; the test does not
        wait for that.)"""
        body = {"status": "available"}
        answer = self.http.post("/api/agent/status", json=body, headers=self.headers)
        assert answer.status_code == 204, answer.text
        r.delete(Keys().console_presence(self.name))

    def close(self) -> None:
        self.http.close()


def short_timers(config_dir: Path) -> None:
    """Billing rings 3 s, wraps up 1 s; Alice is held back 1 s after a missed ring."""
    queues_file, agents_file = config_dir / "queues.yaml", config_dir / "agents.yaml"
    queues = yaml.safe_load(queues_file.read_text())
    queues["queues"]["billing"].update(ring_timeout_s=RING_TIMEOUT_S, wrap_up_s=WRAP_UP_S)
    queues_file.write_text(yaml.safe_dump(queues, allow_unicode=True))
    agents = yaml.safe_load(agents_file.read_text())
    agents["agents"]["alice"].update(no_answer_delay_s=1)
    agents_file.write_text(yaml.safe_dump(agents, allow_unicode=True))


@pytest.fixture(name="hosts")
def fixture_hosts(
    tmp_path: Path, redis_url: str, r: redis.Redis, open_config_dir: Path
) -> Iterator[Hosts]:
    short_timers(open_config_dir)
    hosts = Hosts(tmp_path, redis_url, open_config_dir)
    try:
        hosts.wait_ready()
        yield hosts
    finally:
        hosts.close()
        # Shown by pytest only when the test failed: what each process and routing did.
        print(hosts.output())
        print(*(fields for _, fields in entries(r, Keys().events())), sep="\n")


@pytest.fixture(name="tw")
def fixture_tw(hosts: Hosts, open_config_dir: Path) -> Iterator[Emulator]:
    """The emulator on the wall clock: webhooks go to Caddy, the web processes' REST
    requests come to its hub."""
    agents = yaml.safe_load((open_config_dir / "agents.yaml").read_text())["agents"]
    devices = {name: agent["device"] for name, agent in agents.items()}
    stop_event = threading.Event()
    with contextlib.ExitStack() as stack:
        tw = stack.enter_context(
            Emulator(
                hosts.origin,
                public_base_url=hosts.origin,
                auth_token=AUTH_TOKEN,
                clock=SystemClock(),
            )
        )
        tw.say_seconds_per_word = 0.02
        tw.play_seconds = 1.0
        tw.add_number(BUSINESS, voice_url="/voice/incoming", voice_status_callback="/voice/status")
        stack.enter_context(LiveServer(hub.build(tw, None, devices), port=hosts.hub_port))
        runner = threading.Thread(target=tw.run_realtime, args=(stop_event,), daemon=True)
        runner.start()
        stack.callback(runner.join, 5)
        stack.callback(stop_event.set)
        yield tw
        print("emulator errors:", tw.errors)


@pytest.fixture(name="alice")
def fixture_alice(hosts: Hosts) -> Iterator[Agent]:
    """Alice, logged in to the console through the proxy."""
    agent = Agent(hosts.origin, "alice")
    yield agent
    agent.close()


def billing_caller(tw: Emulator) -> Call:
    """An English caller who keys an account number and joins billing."""
    call = tw.dial(from_="+60199999999", to=BUSINESS)
    press(call, "1")
    eventually(heard(call, "For billing, press 1"), "the billing choice")
    press(call, "1")
    eventually(heard(call, "8 digit account number"), "the account prompt")
    press(call, "20261124#")
    return call


def events(r: redis.Redis, kind: str) -> list[dict[str, str]]:
    return [fields for _, fields in entries(r, Keys().events()) if fields["type"] == kind]


def completed(r: redis.Redis) -> list[dict[str, str]]:
    """The ends of connected calls, whichever side hung up first."""
    return events(r, "COMPLETECALLER") + events(r, "COMPLETEAGENT")


def statuses(r: redis.Redis) -> list[str]:
    """Alice's states, in order."""
    return [e["reason"] for e in events(r, "AGENTSTATUS") if e["agent"] == "alice"]


def answer_and_accept(tw: Emulator) -> Call:
    """Alice picks up her ringing phone, hears the whisper and presses 1."""
    alice = tw.device("client:alice")
    eventually(lambda: alice.ringing is not None, "Alice's phone rings")
    leg = alice.answer()
    eventually(heard(leg, "Billing call"), "the whisper")
    press(leg, "1")
    return leg


@needs_caddy
def test_a_ring_timeout_fires_on_the_other_host_and_the_caller_is_connected(
    hosts: Hosts, tw: Emulator, r: redis.Redis, alice: Agent
) -> None:
    """A caller on hold rings Alice; the web process killed while her phone rings takes
    nothing with it: the other one times the ring out once, rings her again, and the caller
    is connected when she answers."""
    alice.available(r)
    call = billing_caller(tw)
    phone = tw.device("client:alice")
    eventually(lambda: phone.ringing is not None, "Alice's phone rings")
    with tw.paused():  # no webhook in flight: the host dies between requests
        hosts.kill(0)
    eventually(lambda: events(r, "RINGNOANSWER"), "the ring times out", RING_TIMEOUT_S + 5)
    eventually(lambda: phone.ringing is None, "the unanswered ring is hung up")
    answer_and_accept(tw)
    eventually(heard(call, "Connecting you now"), "the caller is put through")
    eventually(lambda: call.bridge is not None, "the bridge")
    assert len(events(r, "ENTERQUEUE")) == 1
    (missed,) = events(r, "RINGNOANSWER")
    late_ms = int(missed["ring_ms"]) - RING_TIMEOUT_S * 1000  # the ring began at the offer
    print(f"ring timeout fired {late_ms} ms after it was due, by the surviving host")
    assert late_ms < TAKEOVER_MS
    (connect,) = events(r, "CONNECT")
    assert connect["agent"] == "alice"
    assert sum("Connecting you now" in line for line in call.transcript()) == 1
    call.hangup()
    tw.assert_no_errors()


@needs_caddy
def test_a_connected_call_ends_and_the_next_is_routed_after_a_host_dies(
    hosts: Hosts, tw: Emulator, r: redis.Redis, alice: Agent
) -> None:
    """A web process killed during a connected call: the hang-up, the wrap-up timer and
    the next caller's offer are all served by the other host, each once."""
    alice.available(r)
    first = billing_caller(tw)
    answer_and_accept(tw)
    eventually(lambda: first.bridge is not None, "the first bridge")
    with tw.paused():
        hosts.kill(1)
    time.sleep(SHORT_BRIDGE_S + 1)  # a bridge shorter than this counts as fallen through
    first.hangup()
    eventually(lambda: completed(r), "the call ends in routing")
    eventually(lambda: statuses(r)[-1] == "available", "the wrap-up timer ends on the other host")
    second = billing_caller(tw)
    answer_and_accept(tw)
    eventually(heard(second, "Connecting you now"), "the second caller is put through")
    eventually(lambda: second.bridge is not None, "the second bridge")
    assert len(events(r, "ENTERQUEUE")) == 2
    assert len(events(r, "CONNECT")) == 2
    assert len(completed(r)) == 1
    assert statuses(r) == ["available", "on_call", "wrap_up", "available", "on_call"]
    assert not events(r, "RINGNOANSWER")
    wrap, back = [int(e["ts"]) for e in events(r, "AGENTSTATUS")][2:4]
    late_ms = back - wrap - WRAP_UP_S * 1000
    print(f"wrap-up ended {late_ms} ms after it was due, by the surviving host")
    assert late_ms < TAKEOVER_MS
    second.hangup()
    tw.assert_no_errors()


NEXT_PROMPT = {"/voice/incoming": "For English, press 1", "/voice/menu": "For billing, press 1"}
"""What the caller hears after each of the call's first two webhooks."""


@needs_caddy
def test_a_webhook_in_flight_when_its_host_dies_is_answered_by_the_other_host(
    hosts: Hosts, tw: Emulator, r: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A web process killed while it holds a webhook: the proxy sends the request again to
    the other host, Twilio gets that host's TwiML (not a 502, the caller's "application
    error"), and the call goes on."""
    replies: list[Reply] = []
    send = Webhooks.send

    def recorded(
        self: Webhooks, url: str, method: str, params: dict[str, str], times: int = 1
    ) -> Reply:
        reply = send(self, url, method, params, times)
        replies.append(reply)
        return reply

    monkeypatch.setattr(Webhooks, "send", recorded)
    hosts.pause(0)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Round robin: the call's first webhook or its second is sent to the stopped host.
        dialled = pool.submit(tw.dial, from_="+60199999999", to=BUSINESS)
        step: Future[Call] | Future[None] = dialled
        eventually(lambda: hosts.holding(0) or dialled.done(), "the first webhook is sent")
        if not hosts.holding(0):
            call = dialled.result()
            step = pool.submit(press, call, "1")
            eventually(lambda: hosts.holding(0), "the second webhook waits on the stopped host")
        held = len(replies)  # the webhook in flight is the next reply
        killed = time.monotonic()
        hosts.kill(0)
        step.result(timeout=WAIT_S)
        answered_ms = (time.monotonic() - killed) * 1000
        call = dialled.result()
    reply = replies[held]
    path = reply.url.removeprefix(hosts.origin).split("?")[0]
    print(f"{path}, in flight on the killed host, answered {answered_ms:.0f} ms after the kill")
    assert reply.status == 200, reply
    assert NEXT_PROMPT[path] in reply.text
    assert (
        f"endpoint={path.rsplit('/', 1)[1]}"
        in (hosts.home / f"serve-{hosts.web_ports[1]}.log").read_text()
    )
    if path == "/voice/incoming":
        press(call, "1")
    eventually(heard(call, "For billing, press 1"), "the billing choice")
    press(call, "1")
    eventually(heard(call, "8 digit account number"), "the account prompt")
    assert all(reply.status == 200 for reply in replies), replies
    call.hangup()
    tw.assert_no_errors()
