"""The OpenAPI document is served, and fuzzing every documented operation never gets a 5xx."""

from __future__ import annotations

from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.core.result import Err

from ivr.devtools.liveserver import LiveServer
from tests.consoles import Console

EXAMPLES = 25
"""Cases per operation: enough to hit every status path, and the run stays well under 30 s."""
STREAMING = "/api/live"
"""Server-sent events never end on their own: its 401 is tested in test_auth instead."""


def bearer(server: LiveServer, kind: str, user: str) -> dict[str, str]:
    console = Console(server, kind, user)
    token = console.post("/api/tokens").json()["token"]
    console.close()
    return {"Authorization": f"Bearer {token}"}


def test_the_openapi_document_describes_every_api_route(server: LiveServer) -> None:
    """GET /api/openapi.json is OpenAPI 3.1 and lists every /api route the app serves."""
    document = httpx.get(server.url + "/api/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    served = {r.path for r in server.app.routes if getattr(r, "path", "").startswith("/api/")}
    assert served - {"/api/openapi.json"} == set(document["paths"])


def test_fuzzing_the_api_finds_no_server_errors(server: LiveServer) -> None:
    """Generated requests, as an agent and as a supervisor, get no undocumented 5xx.

    (A documented 503 "softphone not configured" or 502 "Twilio refused" is an answer.)
    """
    document = httpx.get(server.url + "/api/openapi.json").json()
    schema = schemathesis.openapi.from_dict(document)
    who = {
        "agent": bearer(server, "agent", "alice"),
        "supervisor": bearer(server, "supervisor", "sam"),
    }
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # the document does not describe this operation validly
        operation = result.ok()
        if operation.path == STREAMING:
            continue
        declared = set(operation.definition.raw["responses"])

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(), kind=st.sampled_from(sorted(who)))
        def run(case: schemathesis.Case[Any], kind: str) -> None:
            response = case.call(base_url=server.url, headers=who[kind], timeout=10)
            if response.status_code >= 500 and str(response.status_code) not in declared:  # noqa: B023
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}")

        run()
    assert failures == []
