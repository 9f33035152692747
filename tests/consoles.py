"""Test helpers for the console API: a logged-in agent or supervisor over real HTTP."""

from __future__ import annotations

from typing import Any

import httpx

from ivr.devtools.liveserver import LiveServer

SECRETS = {"alice": "alice-demo", "budi": "budi-demo", "chai": "chai-demo", "sam": "sam-demo"}


class Console:
    """An API client holding one session (cookie sent by hand: it is Secure, the test is http)."""

    def __init__(
        self,
        server: LiveServer,
        kind: str,
        user: str,
        secret: str | None = None,
        workspace: str = "",
    ) -> None:
        """Log in; `workspace` names the one to log in to, with several (`IVR_WORKSPACES`)."""
        self.http = httpx.Client(base_url=server.url, timeout=10)
        body = {"kind": kind, "user": user, "secret": secret or SECRETS[user]}
        query = f"?workspace={workspace}" if workspace else ""
        response = self.http.post(f"/api/session{query}", json=body)
        assert response.status_code == 200, response.text
        self.cookie = response.cookies["ivr_session"]
        self.csrf = response.json()["csrf"]
        self.set_cookie = response.headers["set-cookie"]

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Cookie": f"ivr_session={self.cookie}", "X-CSRF-Token": self.csrf}
        headers.update(kwargs.pop("headers", {}))
        return self.http.request(method, path, headers=headers, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> httpx.Response:
        return self.request("PUT", path, json=body)

    def view(self) -> dict[str, Any]:
        response = self.get("/api/agent")
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def close(self) -> None:
        self.http.close()
