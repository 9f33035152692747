"""Several contact centres in one deployment (`IVR_WORKSPACES`): each number reaches its own
workspace's menu and agents, and a console user of one workspace gets 403 or 404 on every
object of another. Real app, real store, the Twilio emulator, controlled clock."""

from __future__ import annotations

import io
import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import redis
import redis.asyncio as aioredis
import yaml
from starlette.routing import Route

from callbacks import jobs, worker
from ivr.app import create_app
from ivr.config import command
from ivr.core.clock import ManualClock
from ivr.core.errors import SettingsError
from ivr.core.keys import Keys
from ivr.core.outage import Outage
from ivr.core.settings import Settings, Workspace
from ivr.devtools.emulator import Emulator
from ivr.devtools.emulator.calls import Call
from ivr.devtools.liveserver import LiveServer
from ivr.handlers import HANDLERS
from ivr.service import Services, Workspaces
from ivr.voice import offers
from ivr.web import api
from tests.conftest import (
    AUTH_TOKEN,
    METRICS_TOKEN,
    PUBLIC_BASE,
    SAMPLE_CONFIG,
    Twilio,
    tick_unless_store_down,
)
from tests.consoles import Console
from tests.streams import entries
from tests.test_jobs import run_on_store

SALES, SUPPORT = "+60312345678", "+60387654321"
"""The numbers of the two workspaces."""
RENAMED = {"alice": "dina", "budi": "eko", "chai": "fay", "sam": "sue"}
"""Support's people: the sample's, renamed, with the same demo secrets."""
CALLER = "+60199999999"
NO_AGENTS_S = 61
"""Just over the queues' `no_agents_after_s`: an unstaffed queue's caller is moved on."""


def workspace_dir(target: Path, number: str, renamed: dict[str, str]) -> Path:
    """A copy of the sample config that owns `number`, its people renamed."""
    shutil.copytree(SAMPLE_CONFIG, target)
    business = target / "business.yaml"
    business.write_text(business.read_text() + f'\nnumbers: ["{number}"]\n')
    for name in ("agents.yaml", "supervisors.yaml"):
        text = (target / name).read_text()
        for old, new in renamed.items():
            text = text.replace(f"{old}:", f"{new}:").replace(f"client:{old}", f"client:{new}")
        (target / name).write_text(text)
    return target


@pytest.fixture(name="spaces")
def fixture_spaces(tmp_path: Path) -> tuple[Workspace, ...]:
    """Sales (the sample's people) and support (its own people), on their own numbers."""
    return (
        Workspace("sales", workspace_dir(tmp_path / "sales", SALES, {})),
        Workspace("support", workspace_dir(tmp_path / "support", SUPPORT, RENAMED)),
    )


@pytest.fixture(name="settings")
def fixture_settings(settings: Settings, spaces: tuple[Workspace, ...]) -> Settings:
    """The test settings with the two workspaces."""
    return settings.with_(workspaces=spaces)


@pytest.fixture(name="server")
def fixture_server(settings: Settings, clock: ManualClock, r: redis.Redis) -> Iterator[LiveServer]:
    """The real app with two workspaces on a flushed store."""
    with LiveServer(create_app(settings, clock=clock, run_timers=False)) as server:
        yield server


def each(server: LiveServer) -> dict[str, Services]:
    spaces: Workspaces = server.app.state.workspaces
    return spaces.by_id


@pytest.fixture(name="tw")
def fixture_tw(server: LiveServer, clock: ManualClock) -> Iterator[Emulator]:
    """The emulator with both numbers on the shared paths, every workspace's timers on its
    clock."""
    with Emulator(
        server.url, public_base_url=PUBLIC_BASE, auth_token=AUTH_TOKEN, clock=clock
    ) as emulator:
        for number in (SALES, SUPPORT):
            emulator.add_number(
                number,
                voice_url="/voice/incoming",
                voice_status_callback="/voice/status",
                sms_url="/sms/incoming",
            )
        for svc in each(server).values():
            wire(emulator, svc)
        yield emulator


def wire(tw: Emulator, svc: Services) -> None:
    svc.twilio_http_client = tw.http_client()
    outage = Outage("emulator clock")
    tw.on_tick(lambda now: svc.run(tick_unless_store_down(svc, outage)))
    tw.on_settle(offers.settle_hook(svc))


def billing_caller(tw: Emulator, to: str, number: str = CALLER) -> Call:
    """An English caller who keys an account number and joins billing."""
    call = tw.dial(from_=number, to=to)
    call.press("1")
    call.hears("For billing, press 1")
    call.press("1")
    call.hears("8 digit account number")
    call.press("20261124#")
    return call


def test_each_number_reaches_its_own_workspace_and_agents(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """A sales caller rings Alice (sales), a support caller rings Dina (support); each is
    bridged, and each workspace's events are under its own hash tag."""
    consoles = [sales_console(server, "agent", "alice"), support_console(server, "agent", "dina")]
    try:
        for console in consoles:
            assert console.post("/api/agent/status", {"status": "available"}).status_code == 204
        for number, agent, other in ((SALES, "alice", "dina"), (SUPPORT, "dina", "alice")):
            call = billing_caller(tw, number)
            tw.advance(1)
            console, idle = consoles if agent == "alice" else consoles[::-1]
            assert idle.view()["offer"] is None, "an agent of the other workspace is not offered"
            offer = console.view()["offer"]
            assert offer is not None and offer["call"] == call.sid
            assert console.post(f"/api/agent/offers/{offer['id']}/accept").status_code == 200
            tw.advance(1)
            assert tw.device(f"client:{other}").ringing is None
            tw.device(f"client:{agent}").answer()
            call.hears("Connecting you now")
            tw.advance(2)
            assert call.bridge is not None
            call.hangup()
            tw.advance(1)
    finally:
        for console in consoles:
            console.close()
    for tenant, agent in (("sales", "alice"), ("support", "dina")):
        connects = [f for _, f in entries(r, Keys(tenant).events()) if f["type"] == "CONNECT"]
        assert [c["agent"] for c in connects] == [agent]
    assert r.exists(Keys().events()) == 0, "nothing is left under the default tenant"
    tw.assert_no_errors()


def support_console(server: LiveServer, kind: str, user: str) -> Console:
    """A console of the support workspace: its login names the workspace."""
    secret = {new: f"{old}-demo" for old, new in RENAMED.items()}[user]
    return Console(server, kind, user, secret, workspace="support")


def sales_console(server: LiveServer, kind: str, user: str) -> Console:
    return Console(server, kind, user, workspace="sales")


def test_a_number_no_workspace_lists_is_refused_politely(server: LiveServer) -> None:
    """A call to a number no workspace lists hears it is not in service (200, not a 500)."""
    twilio = Twilio(server.url)
    form = {"CallSid": "CAnowhere", "From": CALLER, "To": "+60300000000", "CallStatus": "ringing"}
    try:
        answer = twilio.post("/voice/incoming", form)
        texted = twilio.post("/sms/incoming", {"MessageSid": "SMx", "From": CALLER, "To": "+1"})
    finally:
        twilio.close()
    assert answer.status_code == 200 and "not in service" in answer.text
    assert "<Hangup" in answer.text
    assert texted.status_code == 200 and "<Message" not in texted.text


def test_a_text_is_handled_by_the_workspace_of_the_number_texted(
    server: LiveServer, r: redis.Redis
) -> None:
    """An inbound text to support's number is handled (and remembered) in support alone."""
    twilio = Twilio(server.url)
    form = {"MessageSid": "SMsupport", "From": CALLER, "To": SUPPORT, "Body": "hello"}
    try:
        assert twilio.post("/sms/incoming", form).status_code == 200
    finally:
        twilio.close()
    assert r.exists(Keys("support").survey_inbound("SMsupport")) == 1
    assert r.exists(Keys("sales").survey_inbound("SMsupport")) == 0


def test_a_login_is_for_one_workspace(server: LiveServer) -> None:
    """Alice logs in to sales by default naming; Dina's id is unknown there, and a sales
    cookie on support's own paths is refused."""
    http = httpx.Client(base_url=server.url, timeout=10)
    try:
        dina = {"kind": "agent", "user": "dina", "secret": "alice-demo"}
        assert http.post("/api/session?workspace=sales", json=dina).status_code == 401
        assert http.post("/api/session", json=dina).status_code == 404, "no workspace named"
    finally:
        http.close()
    alice = sales_console(server, "agent", "alice")
    try:
        assert alice.cookie.startswith("sales.")
        assert alice.get("/w/support/api/agent").status_code == 403
        assert alice.get("/w/sales/api/agent").status_code == 200
        assert alice.get("/api/agent?workspace=support").status_code == 403
        token = alice.post("/api/tokens").json()["token"]
        assert token.startswith("ivr_sales.")
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{server.url}/api/agent", headers=bearer).status_code == 200
        assert httpx.get(f"{server.url}/w/support/api/agent", headers=bearer).status_code == 403
    finally:
        alice.close()


# -- the console of one workspace, on every object of another ---------------------------
def support_objects(tw: Emulator, server: LiveServer) -> dict[str, str]:
    """Real objects of the support workspace: a voicemail, a missed call, a caller offered
    to Dina, a callback made from the voicemail and a caller waiting; by route parameter."""
    sue, dina = (
        support_console(server, "supervisor", "sue"),
        support_console(server, "agent", "dina"),
    )
    try:
        billing_caller(tw, SUPPORT, "+60199999991")
        tw.advance(NO_AGENTS_S)
        tw.run_until_idle()
        (voicemail,) = sue.get("/api/supervisor/voicemails").json()["voicemails"]
        missed = billing_caller(tw, SUPPORT, "+60199999992")
        tw.advance(20)
        missed.hangup()
        tw.advance(2)
        assert dina.post("/api/agent/status", {"status": "available"}).status_code == 204
        offered = billing_caller(tw, SUPPORT, "+60199999993")
        tw.advance(1)
        offer = dina.view()["offer"]
        assert offer is not None and offer["call"] == offered.sid
        made = dina.post(f"/api/agent/voicemails/{voicemail['id']}/callback")
        assert made.status_code in (200, 201), made.text
        waiting = billing_caller(tw, SUPPORT, "+60199999994")
        floor = sue.get("/api/supervisor/floor").json()
        assert waiting.sid in [w["call"] for w in floor["waiting"]]
        assert [c["id"] for c in floor["callbacks"]] == [made.json()["callback"]]
        return {
            "offer": str(offer["id"]),
            "call": waiting.sid,
            "voicemail": str(voicemail["id"]),
            "agent": "dina",
            "callback": str(made.json()["callback"]),
            "missed": missed.sid,
        }
    finally:
        sue.close()
        dina.close()


def object_routes() -> list[Route]:
    """Every /api route that takes an object id."""
    found = [r for r in api.routes if isinstance(r, Route) and "{" in r.path]
    assert len(found) >= 12, "the list of /api routes with an object id shrank"
    return found


def test_a_console_user_of_one_workspace_gets_403_or_404_on_every_object_of_another(
    tw: Emulator, server: LiveServer, r: redis.Redis
) -> None:
    """Alice (agent) and Sam (supervisor) of sales ask for each of support's objects on
    every /api route that takes an id (on its plain path, under `/w/support/`, and with
    `?workspace=support`): 403 or 404 each time, and support's objects are as they were;
    sales' floor, inboxes and reports show nothing of support."""
    objects = support_objects(tw, server)
    alice, sam = sales_console(server, "agent", "alice"), sales_console(server, "supervisor", "sam")
    try:
        for route in object_routes():
            (method,) = route.methods - {"HEAD"} if route.methods else set()
            path = route.path
            for name in route.param_convertors:
                key = "missed" if "/missed/" in path else name
                path = path.replace(f"{{{name}}}", objects[key])
            console = alice if path.startswith("/api/agent/") else sam
            body = {"priority": 5, "notes": "x", "disposition": "resolved", "reason": "x"}
            body |= {"hold": True, "mute": True, "digits": "1", "mode": "listen"}
            body |= {"to": "queue", "target": "billing", "warm": False}
            for asked in (path, f"/w/support{path}", f"{path}?workspace=support"):
                answer = console.request(method, asked, json=body)
                assert answer.status_code in (403, 404), (asked, answer.status_code, answer.text)
        floor = sam.get("/api/supervisor/floor").json()
        assert floor["waiting"] == [] and floor["callbacks"] == []
        assert "dina" not in {a["id"] for a in floor["agents"]}
        assert sam.get("/api/supervisor/voicemails").json() == {"voicemails": []}
        assert alice.get("/api/agent/voicemails").json() == {"voicemails": []}
        assert alice.get("/api/agent/missed").json() == {"missed": []}
        reports = sam.get("/api/supervisor/reports")
        assert reports.status_code == 200 and "dina" not in reports.text
    finally:
        alice.close()
        sam.close()
    sue = support_console(server, "supervisor", "sue")
    try:
        floor = sue.get("/api/supervisor/floor").json()
        waiting = next(w for w in floor["waiting"] if w["call"] == objects["call"])
        assert waiting["priority"] != 5
        assert [c["id"] for c in floor["callbacks"]] == [objects["callback"]]
        dina = next(a for a in floor["agents"] if a["id"] == "dina")
        assert dina["state"] != "break"
        (voicemail,) = sue.get("/api/supervisor/voicemails?unhandled=1").json()["voicemails"]
        assert voicemail["id"] == objects["voicemail"]
    finally:
        sue.close()


def test_metrics_are_scoped_to_a_workspace(tw: Emulator, server: LiveServer) -> None:
    """`/w/<id>/metrics` counts that workspace alone; `/metrics` names none: 404."""
    billing_caller(tw, SUPPORT)
    tw.advance(1)
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    sales = httpx.get(f"{server.url}/w/sales/metrics", headers=headers)
    support = httpx.get(f"{server.url}/w/support/metrics", headers=headers)
    assert sales.status_code == 200 and support.status_code == 200
    waiting = 'ivr_queue_waiting{queue="billing"}'
    assert f"{waiting} 1.0" in support.text and f"{waiting} 0.0" in sales.text
    assert httpx.get(f"{server.url}/metrics", headers=headers).status_code == 404


def test_ivr_check_names_a_number_two_workspaces_claim(spaces: tuple[Workspace, ...]) -> None:
    """A number listed by both workspaces is an error at each place it is written."""
    business = spaces[1].config_dir / "business.yaml"
    doc = yaml.safe_load(business.read_text())
    doc["numbers"] = [SUPPORT, SALES]
    business.write_text(yaml.safe_dump(doc, allow_unicode=True))
    out = io.StringIO()
    assert command.run_all(spaces, out) == 1
    clashes = [line for line in out.getvalue().splitlines() if "more than one workspace" in line]
    assert len(clashes) == 2, out.getvalue()
    assert any(str(spaces[0].config_dir / "business.yaml") in c for c in clashes)
    assert any(f"{business}:" in c for c in clashes)


def test_a_reload_claiming_another_workspaces_number_is_refused(
    server: LiveServer, spaces: tuple[Workspace, ...]
) -> None:
    """Support's folder is edited to list sales' number too: the reload is refused as
    `ivr check` would, naming the file and line, and support's last good config stays."""
    support = each(server)["support"]
    live = support.registry.version
    business = spaces[1].config_dir / "business.yaml"
    doc = yaml.safe_load(business.read_text())
    doc["numbers"] = [SUPPORT, SALES]
    business.write_text(yaml.safe_dump(doc, allow_unicode=True))
    assert support.registry.reload() is False
    assert support.registry.version == live
    assert SALES not in support.registry.current.numbers
    error = httpx.get(f"{server.url}/w/support/healthz").json()["config_error"]
    assert error is not None and "business.yaml:" in error, error
    assert f"number {SALES} is claimed by more than one workspace" in error


def test_console_redirects_keep_the_workspace_and_a_bare_login_offers_each(
    server: LiveServer,
) -> None:
    """A console page asked for without a session sends the browser to its own
    workspace's login; `/login` (or `/agent`) naming no workspace is an HTML page linking
    each workspace's login, not a JSON 404."""
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        for kind in ("agent", "supervisor"):
            answer = http.get(f"/w/sales/{kind}")
            assert (answer.status_code, answer.headers["location"]) == (
                303,
                f"/w/sales/login?as={kind}",
            )
            assert http.get(answer.headers["location"]).status_code == 200
        bare = http.get("/login?as=supervisor")
        assert bare.status_code == 200, bare.text
        assert bare.headers["content-type"].startswith("text/html")
        for name in ("sales", "support"):
            assert f'href="/w/{name}/login?as=supervisor"' in bare.text
        agent = http.get("/agent")
        assert (agent.status_code, agent.headers["location"]) == (303, "/login?as=agent")


def test_ivr_check_names_the_workspace_entry_of_a_missing_folder(
    spaces: tuple[Workspace, ...], tmp_path: Path
) -> None:
    """A workspace folder that does not exist is blamed on its IVR_WORKSPACES entry."""
    gone = Workspace("north", tmp_path / "nowhere")
    out = io.StringIO()
    assert command.run_all((*spaces, gone), out) == 1
    said = out.getvalue()
    assert "IVR_WORKSPACES" in said and f"north:{gone.config_dir}" in said, said
    assert "IVR_CONFIG_DIR" not in said


def test_ivr_worker_names_the_workspace_entry_of_a_missing_folder(
    settings: Settings,
    spaces: tuple[Workspace, ...],
    tmp_path: Path,
    redis_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`ivr worker` with a workspace folder that does not exist stops at once (exit 1),
    blaming its IVR_WORKSPACES entry, not IVR_CONFIG_DIR, which it does not read."""
    gone = Workspace("north", tmp_path / "nowhere")
    several = settings.with_(redis_url=redis_url, workspaces=(*spaces, gone))
    assert worker.main(several, HANDLERS) == 1
    said = capsys.readouterr().err
    assert "IVR_WORKSPACES" in said and f"north:{gone.config_dir}" in said, said
    assert "IVR_CONFIG_DIR" not in said


def test_ivr_check_warns_of_a_workspace_with_no_numbers(spaces: tuple[Workspace, ...]) -> None:
    """With several workspaces, one that lists no number can never get a call: a warning."""
    business = spaces[1].config_dir / "business.yaml"
    doc = yaml.safe_load(business.read_text())
    del doc["numbers"]
    business.write_text(yaml.safe_dump(doc, allow_unicode=True))
    out = io.StringIO()
    assert command.run_all(spaces, out) == 0
    warned = [line for line in out.getvalue().splitlines() if "lists no numbers" in line]
    assert len(warned) == 1 and "support" in warned[0], out.getvalue()


def schedule_in(redis_url: str, keys: Keys, job_id: str) -> None:
    """A callback job due at once, under `keys` (a workspace's)."""

    async def step(client: aioredis.Redis) -> bool:
        return await jobs.schedule(client, keys, job_id, "callback", {}, 0)

    run_on_store(redis_url, step)


def test_the_worker_runs_each_workspaces_jobs_in_that_workspace(
    settings: Settings, redis_url: str, r: redis.Redis
) -> None:
    """`ivr worker` claims each workspace's jobs under its keys and runs them with that
    workspace's config: a job scheduled in support runs with support's numbers."""
    ran: dict[str, tuple[str, str, list[str]]] = {}
    done = threading.Event()

    def record(ctx: jobs.JobContext, job_id: str, payload: dict[str, object]) -> None:
        ran[job_id] = (ctx.settings.workspace, ctx.keys.tenant, ctx.config().numbers)
        if len(ran) == 2:
            done.set()

    contexts = [worker.context_from(each, redis_url) for each in settings.each_workspace()]
    for ctx, _ in contexts:
        schedule_in(redis_url, ctx.keys, f"job-{ctx.settings.workspace}")
    handlers = {"callback": record, "survey": record}
    workers = [(jobs.Runner(ctx, handlers), registry) for ctx, registry in contexts]
    stop = threading.Event()
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            handed = pool.submit(worker.run_all, workers, stop)
            assert done.wait(10)
            stop.set()
            assert handed.result(10) == []
    finally:
        for ctx, _ in contexts:
            ctx.redis.close()
    assert ran == {
        "job-sales": ("sales", "sales", [SALES]),
        "job-support": ("support", "support", [SUPPORT]),
    }


@pytest.mark.parametrize(
    ("text", "error"),
    [
        pytest.param("sales", "is not `id:config-folder`", id="no-folder"),
        pytest.param("Sales:config/s", "is not `id:config-folder`", id="upper-case-id"),
        pytest.param("a.b:config/s", "is not `id:config-folder`", id="dotted-id"),
        pytest.param("a:x,a:y", "named twice", id="twice"),
    ],
)
def test_a_malformed_workspaces_setting_is_refused(text: str, error: str) -> None:
    """`IVR_WORKSPACES` is read strictly: each entry `id:folder`, each id once."""
    with pytest.raises(SettingsError, match=error):
        Settings.from_env({"IVR_WORKSPACES": text}, env_file=None)


def test_one_workspace_by_default_as_before() -> None:
    """Without `IVR_WORKSPACES` the deployment is the one of `IVR_CONFIG_DIR` and
    `IVR_TENANT`, unnamed; with it, each workspace's settings carry its folder and id."""
    plain = Settings.from_env({"IVR_TENANT": "acme"}, env_file=None)
    assert plain.workspaces == () and plain.each_workspace() == [plain]
    named = Settings.from_env({"IVR_WORKSPACES": " sales:a , support:b "}, env_file=None)
    assert [(s.workspace, s.tenant, s.config_dir) for s in named.each_workspace()] == [
        ("sales", "sales", Path("a")),
        ("support", "support", Path("b")),
    ]


def test_the_single_workspace_console_is_unchanged(
    r: redis.Redis, settings: Settings, clock: ManualClock
) -> None:
    """With one workspace a session cookie names none, keys keep the `{main}` tag, and
    there are no `/w/<id>/` paths."""
    plain = settings.with_(workspaces=())
    with LiveServer(create_app(plain, clock=clock, run_timers=False)) as server:
        alice = Console(server, "agent", "alice")
        try:
            assert "." not in alice.cookie
            assert alice.get("/w/main/api/agent").status_code == 404
            assert alice.get("/api/agent").status_code == 200
        finally:
            alice.close()
    assert r.keys("ivr:{main}:console:session:*"), "the session is under the default tag"
