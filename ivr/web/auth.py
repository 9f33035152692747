"""Who is asking: console logins, server-side sessions, CSRF, bearer tokens, hashed secrets.

Agents (`config/agents.yaml`) and supervisors (`config/supervisors.yaml`) log in
with an id and a secret; only a scrypt hash of the secret is in the config
(`ivr hash-secret` prints one). A login starts a session kept in Redis under
the SHA-256 of a random cookie value, so a leaked store does not leak cookies.
With several workspaces a cookie and a token start with their workspace's id
(`ivr.service.credential_prefix`), and are only looked up in its store.
A session ends on logout or after `console_idle_s` without a request (the open
page's live stream counts as use). Every state-changing request made with the
cookie must carry the session's CSRF token in the `X-CSRF-Token` header (or a
`csrf` form field); bearer tokens, sent by scripts and never by browsers on
their own, need none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

import anyio.to_thread
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from ivr.config.model import Config
from ivr.service import SESSION_COOKIE as SESSION_COOKIE  # the name pages and the API use
from ivr.service import TOKEN_PREFIX, Services, credential_prefix, held_workspace, services

LOGIN_COOKIE = "ivr_login"
"""Holds the login form's CSRF value until the login (a double-submit cookie)."""
CSRF_HEADER = "x-csrf-token"
AGENT = "agent"
SUPERVISOR = "supervisor"
KINDS = (AGENT, SUPERVISOR)
TOKEN_TTL_S = 30 * 86400
"""Bearer tokens live this long unless revoked."""
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LOGIN_LIMIT = 5
"""Login attempts a user may make in `LOGIN_WINDOW_S`; the next ones get 429 until it ends."""
ADDRESS_LIMIT = 30
"""Failed logins one address may make in `LOGIN_WINDOW_S` (successful ones do not count: a
whole office shares one address)."""
LOGIN_WINDOW_S = 60
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
"""OWASP's scrypt minimum (16 MiB, about 50 ms a hash)."""
_DUMMY_HASH = ""
"""Checked against when the user is unknown, so a wrong id takes as long as a wrong secret."""


def hash_secret(secret: str) -> str:
    """The `secret_hash` to put in the config for `secret` (`scrypt$n$r$p$salt$hash`)."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether `secret` matches a `hash_secret` result; a malformed hash never matches."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = _scrypt(secret, _unb64(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(got, _unb64(digest))


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=2**26)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """A logged-in agent or supervisor, and how they proved it."""

    kind: str
    user: str
    csrf: str = ""
    """The session's CSRF token; empty for bearer tokens (which need none)."""
    session: str = ""
    """The hash of the session cookie it came with; empty for a bearer token."""

    @property
    def by(self) -> str:
        """How the event stream names them (`supervisor:sam`)."""
        return f"{self.kind}:{self.user}"


def stored_hash(config: Config, kind: str, user: str) -> str | None:
    """The configured secret hash of a user, or None when there is no such user."""
    if kind == AGENT:
        agent = config.agents.get(user)
        return agent.secret_hash if agent else None
    supervisor = config.supervisors.get(user)
    return supervisor.secret_hash if supervisor else None


def check_credentials(config: Config, kind: str, user: str, secret: str) -> bool:
    """Whether the id and secret match a configured agent or supervisor."""
    global _DUMMY_HASH
    if kind not in KINDS:
        return False
    stored = stored_hash(config, kind, user)
    if not stored:
        _DUMMY_HASH = _DUMMY_HASH or hash_secret("dummy")
        verify_secret(secret, _DUMMY_HASH)
        return False
    return verify_secret(secret, stored)


async def login(svc: Services, kind: str, user: str, secret: str, address: str) -> bool:
    """Whether the id and secret match, rate-limited: after `LOGIN_LIMIT` attempts for a
    user (or `ADDRESS_LIMIT` failed ones from an address) within `LOGIN_WINDOW_S`, 429 until
    the window ends, right secret or not. The scrypt hash runs off the event loop."""
    user_key = svc.keys.login_attempts(f"user:{kind}:{user}")
    address_key = svc.keys.login_attempts(f"addr:{address}")
    await _count_attempt(svc, user_key, LOGIN_LIMIT)
    await _count_attempt(svc, address_key, ADDRESS_LIMIT)
    config = svc.registry.current
    ok = await anyio.to_thread.run_sync(check_credentials, config, kind, user, secret)
    if ok:  # a right secret clears the user's count and gives the address its attempt back,
        # so a whole shift logging in behind one office address is never locked out
        async with svc.redis.pipeline(transaction=True) as tx:
            tx.delete(user_key)
            tx.decr(address_key)
            await tx.execute()
    return ok


async def _count_attempt(svc: Services, key: str, limit: int) -> None:
    """Count one attempt in `key`'s window (atomically: concurrent guesses cannot slip
    past the limit); 429 with Retry-After once over `limit`."""
    async with svc.redis.pipeline(transaction=True) as tx:
        tx.incr(key)
        tx.expire(key, LOGIN_WINDOW_S, nx=True)
        tx.ttl(key)
        count, _, ttl = await tx.execute()
    if int(count) > limit:
        wait = str(max(int(ttl), 1))
        raise HTTPException(429, f"too many logins; try again in {wait} s", {"Retry-After": wait})


def fingerprint(config: Config, kind: str, user: str) -> str:
    """A short digest of the user's configured secret hash: a changed secret changes it, and
    every session and token issued before no longer counts."""
    return _digest(stored_hash(config, kind, user) or "")[:16]


async def start_session(svc: Services, kind: str, user: str) -> tuple[str, str]:
    """Open a session: returns the cookie value and the session's CSRF token."""
    token = credential_prefix(svc) + secrets.token_urlsafe(32)  # names its workspace
    csrf = secrets.token_urlsafe(24)
    record = {"kind": kind, "user": user, "csrf": csrf, "seen": svc.clock.now()}
    record["secret"] = fingerprint(svc.registry.current, kind, user)
    key = svc.keys.console_session(_digest(token))
    await svc.redis.set(key, json.dumps(record), ex=svc.settings.console_idle_s)
    return token, csrf


async def end_session(svc: Services, token: str) -> None:
    """Log out: the session ends, and every bearer token it minted is revoked."""
    session = _digest(token)
    await revoke_session_tokens(svc, session)
    await svc.redis.delete(svc.keys.console_session(session))


async def issue_token(svc: Services, principal: Principal) -> str:
    """A new bearer token for the user of a session (the store keeps only its hash); only a
    logged-in session mints tokens, and its logout revokes them."""
    if not principal.session:
        raise HTTPException(403, "only a logged-in session can create tokens")
    token = TOKEN_PREFIX + credential_prefix(svc) + secrets.token_urlsafe(32)
    secret = fingerprint(svc.registry.current, principal.kind, principal.user)
    record = {"kind": principal.kind, "user": principal.user, "secret": secret}
    minted = svc.keys.session_tokens(principal.session)
    async with svc.redis.pipeline(transaction=True) as tx:
        tx.set(svc.keys.api_token(_digest(token)), json.dumps(record), ex=TOKEN_TTL_S)
        tx.sadd(minted, _digest(token))
        tx.expire(minted, TOKEN_TTL_S)
        await tx.execute()
    return token


async def revoke_token(svc: Services, token: str) -> bool:
    return bool(await svc.redis.delete(svc.keys.api_token(_digest(token))))


async def revoke_session_tokens(svc: Services, session: str) -> int:
    """Revoke every bearer token a session minted; how many there were."""
    minted = await svc.redis.smembers(svc.keys.session_tokens(session))
    async with svc.redis.pipeline(transaction=True) as tx:
        for token_hash in minted:
            tx.delete(svc.keys.api_token(str(token_hash)))
        tx.delete(svc.keys.session_tokens(session))
        await tx.execute()
    return len(minted)


def client_address(request: Request) -> str:
    """The address a request came from (as the proxy in front reports it to uvicorn)."""
    return request.client.host if request.client else ""


def bearer(request: Request) -> str:
    """The bearer token a request carries, or ''."""
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else ""


async def authenticate(request: Request) -> Principal | None:
    """The principal of a request (bearer token first, then session cookie), or None."""
    svc = services(request)
    if token := bearer(request):
        return await _from_token(svc, token)
    cookie = request.cookies.get(SESSION_COOKIE)
    return await touch(svc, cookie) if cookie else None


async def _from_token(svc: Services, token: str) -> Principal | None:
    raw = await svc.redis.get(svc.keys.api_token(_digest(token)))
    if raw is None:
        return None
    record = json.loads(raw)
    return _known(svc, Principal(record["kind"], record["user"]), record.get("secret"))


async def touch(svc: Services, token: str) -> Principal | None:
    """The session's principal, with its idle timer restarted; None once it idled out."""
    key = svc.keys.console_session(_digest(token))
    raw = await svc.redis.get(key)
    if raw is None:
        return None
    record = json.loads(raw)
    now = svc.clock.now()
    if now - float(record["seen"]) > svc.settings.console_idle_s:
        await svc.redis.delete(key)
        return None
    record["seen"] = now
    await svc.redis.set(key, json.dumps(record), ex=svc.settings.console_idle_s)
    principal = Principal(record["kind"], record["user"], record["csrf"], _digest(token))
    return _known(svc, principal, record.get("secret"))


def _known(svc: Services, principal: Principal, secret: str | None) -> Principal | None:
    """A user removed from the config, or whose secret changed since, loses access at once."""
    config = svc.registry.current
    people = config.agents if principal.kind == AGENT else config.supervisors
    if principal.user not in people:
        return None
    return principal if secret == fingerprint(config, principal.kind, principal.user) else None


async def require(request: Request, kind: str | None = None) -> Principal:
    """The caller, or 401; 403 for the wrong kind of user or a missing CSRF token."""
    principal = await authenticate(request)
    if principal is None and _of_another_workspace(request):
        raise HTTPException(403, "this login is for another workspace")
    if principal is None:
        raise HTTPException(401, "log in first (session cookie or bearer token)")
    if kind is not None and principal.kind != kind:
        raise HTTPException(403, f"only for {kind}s")
    if principal.csrf and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), principal.csrf.encode()):
            raise HTTPException(403, "missing or wrong CSRF token (X-CSRF-Token header)")
    return principal


def _of_another_workspace(request: Request) -> bool:
    """Whether the request holds a credential of a workspace other than the one it asked
    for (only a deployment of several workspaces names them in credentials)."""
    workspace = services(request).workspace
    return bool(workspace) and held_workspace(request) not in ("", workspace)


def secure_cookies(svc: Services) -> bool:
    return svc.settings.public_base_url.startswith("https://")


def set_session_cookie(response: Response, svc: Services, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(svc),
        path="/",
    )


def clear_session_cookie(response: Response, svc: Services) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=secure_cookies(svc), path="/"
    )
