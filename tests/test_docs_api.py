"""docs/api.md's endpoint table names every route of the JSON API, with each method."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.routing import Route

from ivr.web import api

API_DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def endpoints() -> list[str]:
    """`METHOD /path` for each method of each route of the JSON API."""
    found = []
    for route in api.routes:
        assert isinstance(route, Route)
        found += [f"{m} {route.path}" for m in sorted(route.methods or ()) if m != "HEAD"]
    return found


@pytest.mark.parametrize("endpoint", endpoints())
def test_every_api_route_is_in_the_docs(endpoint: str) -> None:
    """Each method and path the API serves appears, in backticks, in docs/api.md."""
    assert f"`{endpoint}`" in API_DOC.read_text(encoding="utf-8")
