"""Console logins, sessions, CSRF, bearer tokens and hashed secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ivr.core.clock import ManualClock
from ivr.core.settings import Settings
from ivr.devtools.liveserver import LiveServer
from ivr.web.auth import LOGIN_COOKIE, hash_secret, verify_secret
from tests.consoles import Console


def test_a_hashed_secret_verifies_only_itself() -> None:
    """The stored hash checks the right secret and no other, and never holds the secret."""
    stored = hash_secret("s3cret")
    assert stored.startswith("scrypt$") and "s3cret" not in stored
    assert verify_secret("s3cret", stored)
    assert not verify_secret("s3cret!", stored)
    assert hash_secret("s3cret") != stored  # salted


@pytest.mark.parametrize(
    "stored",
    [
        pytest.param("", id="empty"),
        pytest.param("plain-text", id="not-a-hash"),
        pytest.param("md5$1$2$3$abc$def", id="other-scheme"),
        pytest.param("scrypt$x$8$1$abc$def", id="bad-number"),
    ],
)
def test_a_malformed_hash_never_matches(stored: str) -> None:
    """A broken secret_hash refuses every secret instead of raising."""
    assert not verify_secret("anything", stored)


def test_sample_agents_log_in_with_their_demo_secrets(server: LiveServer) -> None:
    """The demo secrets documented in docs/console.md match config/agents.yaml."""
    for user in ("alice", "budi", "chai"):
        Console(server, "agent", user).close()
    Console(server, "supervisor", "sam").close()


def login(http: httpx.Client, **body: str) -> httpx.Response:
    return http.post("/api/session", json=body)


@pytest.fixture(name="http")
def fixture_http(server: LiveServer) -> Iterator[httpx.Client]:
    """A plain HTTP client for the live app."""
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"kind": "agent", "user": "alice", "secret": "wrong"}, id="wrong-secret"),
        pytest.param({"kind": "agent", "user": "zed", "secret": "alice-demo"}, id="unknown-user"),
        pytest.param({"kind": "agent", "user": "sam", "secret": "sam-demo"}, id="wrong-kind"),
        pytest.param(
            {"kind": "supervisor", "user": "alice", "secret": "alice-demo"}, id="agent-as-sup"
        ),
    ],
)
def test_bad_credentials_are_refused(http: httpx.Client, body: dict[str, str]) -> None:
    """Wrong secret, unknown id or the wrong kind of account: 401 and no cookie."""
    response = login(http, **body)
    assert response.status_code == 401
    assert "set-cookie" not in response.headers


def test_login_needs_json_so_a_cross_site_form_cannot_log_someone_in(http: httpx.Client) -> None:
    """A form-encoded login (what another site could post) is refused."""
    response = http.post("/api/session", data={"kind": "agent", "user": "alice", "secret": "x"})
    assert response.status_code == 415


def test_the_session_cookie_is_httponly_samesite_and_secure(server: LiveServer) -> None:
    """PUBLIC_BASE_URL is https in the tests, so the cookie is Secure as well."""
    console = Console(server, "agent", "alice")
    cookie = console.set_cookie.lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "secure" in cookie
    console.close()


def test_a_change_without_the_csrf_token_is_refused(server: LiveServer) -> None:
    """With the session cookie, a POST without X-CSRF-Token is 403; with it, it goes through."""
    console = Console(server, "agent", "alice")
    forged = console.request(
        "POST", "/api/agent/status", json={"status": "offline"}, headers={"X-CSRF-Token": ""}
    )
    assert forged.status_code == 403 and "CSRF" in forged.json()["error"]
    assert console.post("/api/agent/status", {"status": "offline"}).status_code == 204
    console.close()


def test_sessions_expire_when_idle(server: LiveServer, clock: ManualClock) -> None:
    """A session unused for longer than the idle timeout is gone; a used one lives on."""
    console = Console(server, "agent", "alice")
    idle = server.app.state.services.settings.console_idle_s
    clock.advance(idle - 10)
    assert console.get("/api/me").status_code == 200
    clock.advance(idle - 10)
    assert console.get("/api/me").status_code == 200
    clock.advance(idle + 1)
    assert console.get("/api/me").status_code == 401
    console.close()


def test_logout_ends_the_session(server: LiveServer) -> None:
    """After DELETE /api/session the cookie no longer works."""
    console = Console(server, "agent", "alice")
    assert console.request("DELETE", "/api/session").status_code == 204
    assert console.get("/api/me").status_code == 401
    console.close()


def test_bearer_tokens_work_without_csrf_until_revoked(server: LiveServer) -> None:
    """A token from POST /api/tokens authenticates scripts; a made-up one does not."""
    console = Console(server, "agent", "alice")
    token = console.post("/api/tokens").json()["token"]
    with httpx.Client(base_url=server.url) as script:
        auth = {"Authorization": f"Bearer {token}"}
        assert script.get("/api/me", headers=auth).json() == {"kind": "agent", "user": "alice"}
        status = script.post("/api/agent/status", json={"status": "offline"}, headers=auth)
        assert status.status_code == 204
        fake = {"Authorization": "Bearer ivr_madeup"}
        assert script.get("/api/me", headers=fake).status_code == 401
    console.close()


def test_nothing_is_open_without_logging_in(http: httpx.Client) -> None:
    """API calls answer 401; pages send the browser to the login form."""
    assert http.get("/api/agent").status_code == 401
    assert http.get("/api/supervisor/floor").status_code == 401
    assert http.get("/api/live").status_code == 401
    page = http.get("/agent")
    assert page.status_code == 303 and page.headers["location"].startswith("/login")


def test_the_login_form_checks_its_csrf_value(http: httpx.Client) -> None:
    """The form login works with the form's own CSRF value and fails without it."""
    form = http.get("/login")
    assert form.status_code == 200 and 'name="secret"' in form.text
    csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
    cookie = form.cookies.get("ivr_login") or form.headers["set-cookie"].split(";")[0].split("=")[1]
    body = {"kind": "agent", "user": "alice", "secret": "alice-demo"}
    headers = {"Cookie": f"ivr_login={cookie}"}
    refused = http.post("/login", data={**body, "csrf": "forged"}, headers=headers)
    assert refused.status_code == 401 and "expired" in refused.text
    done = http.post("/login", data={**body, "csrf": csrf}, headers=headers)
    assert done.status_code == 303 and done.headers["location"] == "/agent"


def test_agents_cannot_open_the_supervisor_page(server: LiveServer) -> None:
    """The supervisor page answers 403 to an agent's session."""
    console = Console(server, "agent", "alice")
    page = console.get("/supervisor")
    assert page.status_code == 403
    assert console.get("/agent").status_code == 200
    console.close()


@pytest.fixture(name="phone_server")
def fixture_phone_server(settings: Settings, clock: ManualClock, r: object) -> Iterator[LiveServer]:
    """The app with softphone credentials configured."""
    from ivr.app import create_app

    configured = settings.with_(
        twilio_api_key="SK" + "1" * 32, twilio_api_secret="s" * 32, twilio_twiml_app_sid=""
    )
    with LiveServer(create_app(configured, clock=clock, run_timers=False)) as server:
        yield server


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_the_softphone_token_is_short_lived_and_only_for_the_agent(
    phone_server: LiveServer,
) -> None:
    """Alice's token carries her client identity and a Voice grant, for an hour at most."""
    console = Console(phone_server, "agent", "alice")
    body = console.get("/api/agent/token").json()
    data = claims(body["token"])
    grants = data["grants"]
    assert isinstance(grants, dict)
    assert grants["identity"] == "alice" and "voice" in grants
    assert int(data["exp"]) - int(data["nbf"] if "nbf" in data else data["iat"]) <= 3600
    console.close()


def test_an_agent_on_a_phone_number_gets_no_softphone_token(phone_server: LiveServer) -> None:
    """Chai's device is a phone number, so there is no client identity to give: 409."""
    console = Console(phone_server, "agent", "chai")
    assert console.get("/api/agent/token").status_code == 409
    console.close()


def test_the_supervisor_softphone_token_is_for_their_own_device(phone_server: LiveServer) -> None:
    """Sam's token carries the identity of his monitoring device (client:sam); agents get 403."""
    console = Console(phone_server, "supervisor", "sam")
    response = console.get("/api/supervisor/token")
    assert response.headers["cache-control"] == "no-store"
    assert claims(response.json()["token"])["grants"]["identity"] == "sam"
    console.close()
    agent = Console(phone_server, "agent", "alice")
    assert agent.get("/api/supervisor/token").status_code == 403
    agent.close()


def test_the_sixth_wrong_login_in_a_minute_is_refused_even_with_the_right_secret(
    http: httpx.Client,
) -> None:
    """Five wrong guesses get 401; then the account is locked for the window: 429, even for
    the right secret, with a Retry-After."""
    wrong = {"kind": "agent", "user": "alice", "secret": "guess"}
    assert [login(http, **wrong).status_code for _ in range(5)] == [401] * 5
    locked = login(http, **wrong)
    assert locked.status_code == 429
    assert 1 <= int(locked.headers["Retry-After"]) <= 60
    assert login(http, kind="agent", user="alice", secret="alice-demo").status_code == 429


def test_a_lockout_is_per_user(http: httpx.Client) -> None:
    """Guessing at one agent's secret does not lock out a colleague."""
    for _ in range(6):
        login(http, kind="agent", user="alice", secret="guess")
    assert login(http, kind="agent", user="budi", secret="budi-demo").status_code == 200


def test_one_address_cannot_guess_at_many_accounts(http: httpx.Client) -> None:
    """An address that keeps trying ids gets 429 whatever id it tries next."""
    codes = [login(http, kind="agent", user=f"u{i}", secret="x").status_code for i in range(31)]
    assert codes[:30] == [401] * 30 and codes[30] == 429


def test_an_office_logging_in_behind_one_address_is_never_locked_out(http: httpx.Client) -> None:
    """Right secrets do not count against the address: 40 logins in a minute all succeed."""
    people = [("agent", "alice"), ("agent", "budi"), ("agent", "chai"), ("supervisor", "sam")]
    codes = [
        login(http, kind=kind, user=user, secret=f"{user}-demo").status_code
        for _ in range(10)
        for kind, user in people
    ]
    assert codes == [200] * 40


def test_the_login_form_says_when_an_account_is_locked(
    server: LiveServer, http: httpx.Client
) -> None:
    """The HTML login form answers 429 with a message, not a JSON error."""
    for _ in range(6):
        login(http, kind="agent", user="alice", secret="guess")
    with httpx.Client(base_url=server.url) as browser:
        form = browser.get("/login")
        csrf = form.text.split('name="csrf" value="')[1].split('"')[0]
        browser.cookies.set(LOGIN_COOKIE, csrf)  # secure cookies are not sent over http
        body = {"kind": "agent", "user": "alice", "secret": "alice-demo", "csrf": csrf}
        answer = browser.post("/login", data=body)
    assert answer.status_code == 429
    assert "Too many attempts" in answer.text


def test_logout_revokes_the_tokens_its_session_made(server: LiveServer) -> None:
    """A token made in a session stops working when that session logs out."""
    console = Console(server, "agent", "alice")
    token = console.post("/api/tokens").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url) as script:
        assert script.get("/api/me", headers=auth).status_code == 200
        assert console.request("DELETE", "/api/session").status_code == 204
        assert script.get("/api/me", headers=auth).status_code == 401
    console.close()


def test_a_token_can_be_revoked_and_cannot_mint_more(server: LiveServer) -> None:
    """DELETE /api/tokens with a token revokes it; a token cannot make new tokens."""
    console = Console(server, "agent", "alice")
    token = console.post("/api/tokens").json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url) as script:
        assert script.post("/api/tokens", headers=auth).status_code == 403
        assert script.delete("/api/tokens", headers=auth).status_code == 204
        assert script.get("/api/me", headers=auth).status_code == 401
    console.close()


def test_a_changed_secret_ends_every_session_and_token(
    server: LiveServer, config_dir: Path
) -> None:
    """When an admin changes an agent's secret, the old sessions and tokens stop working."""
    console = Console(server, "agent", "alice")
    token = console.post("/api/tokens").json()["token"]
    agents = config_dir / "agents.yaml"
    data = yaml.safe_load(agents.read_text(encoding="utf-8"))
    data["agents"]["alice"]["secret_hash"] = hash_secret("a-new-secret")
    agents.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    server.app.state.services.registry.reload()
    with httpx.Client(base_url=server.url) as script:
        assert (
            script.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )
    assert console.get("/api/me").status_code == 401
    console.close()
