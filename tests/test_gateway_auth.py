"""Every route of the gateway (API, OpenAI-compatible, console) refuses a missing and a wrong token.

The app is built as served (Kafka bus, console mounted) but never started: a refused request must not reach
the bus, so none is needed."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Mount

from kaizen.config import Settings
from kaizen.gateway.app import create_app
from kaizen.gateway.auth import tenant_for

TOKENS = {"token-a": "alpha"}
GOOD = {"Authorization": "Bearer token-a"}
WRONG = {"Authorization": "Bearer token-b"}
# Public by design: health for orchestrators, the console's login page, logout (it only clears the caller's own
# cookie), the console's static files. /metrics is public unless gateway_metrics_public is off.
PUBLIC = {("GET", "/healthz"), ("GET", "/console/login"), ("POST", "/console/api/logout")}
LOGIN = ("POST", "/console/api/login")


def _app(tmp_path: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return create_app(Settings(data_dir=tmp_path, api_tokens=TOKENS, topic_prefix="auth", **overrides))


def _routes(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    found = []
    for context in iter_route_contexts(app.routes):  # included routers flattened, with their prefixes
        route = context.original_route
        if isinstance(route, Mount):
            assert context.path == "/console/static", f"unexpected mount {context.path}"
            continue
        assert isinstance(route, APIRoute), f"unexpected route type {route!r}"
        # Path parameters get a value: an unknown one is fine, the token is checked before the path is looked up.
        path = re.sub(r"\{[^}]+\}", "x", context.path or "")
        found += [(method, path) for method in sorted(route.methods - {"HEAD"})]
    return found


def _refused(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    # A console page sends the browser to the login page instead.
    return response.status_code == 303 and response.headers["location"] == "/console/login"


async def _call(app, method: str, path: str, headers: dict[str, str], **kwargs: object) -> httpx.Response:  # type: ignore[no-untyped-def]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as http:
        return await http.request(method, path, headers=headers, **kwargs)  # type: ignore[arg-type]


async def test_every_route_refuses_a_missing_and_a_wrong_token(tmp_path: Path) -> None:
    app = _app(tmp_path, gateway_metrics_public=False)
    routes = _routes(app)
    assert ("POST", "/v1/interactions") in routes and ("GET", "/console/adapters") in routes
    assert ("GET", "/openapi.json") in routes and ("GET", "/metrics") in routes
    guarded = [r for r in routes if r not in PUBLIC and r != LOGIN]
    assert len(guarded) > 20
    for method, path in guarded:
        for headers in ({}, WRONG):
            response = await _call(app, method, path, headers)
            assert _refused(response), f"{method} {path} with {headers or 'no token'}: {response.status_code}"
    # The console login checks the token it is given.
    assert (await _call(app, *LOGIN, {}, json={"token": "token-b"})).status_code == 401
    assert (await _call(app, *LOGIN, {}, json={})).status_code == 400
    # And a right token is let through (the route itself answers).
    schema = await _call(app, "GET", "/openapi.json", GOOD)
    assert schema.status_code == 200 and "/v1/interactions" in schema.json()["paths"]
    assert (await _call(app, "GET", "/metrics", GOOD)).status_code == 200


async def test_only_the_public_routes_answer_without_a_token(tmp_path: Path) -> None:
    app = _app(tmp_path)  # /metrics public: the default, for Prometheus
    for method, path in [*PUBLIC, ("GET", "/metrics"), ("GET", "/console/static/console.css")]:
        response = await _call(app, method, path, {})
        assert response.status_code != 401, f"{method} {path}"
    for path in ("/docs", "/redoc"):
        assert (await _call(app, "GET", path, {})).status_code == 404


@pytest.mark.parametrize("token", ["token-a", "token-", "token-ab", "", "TOKEN-A"])
def test_tokens_are_matched_exactly(token: str) -> None:
    assert tenant_for(token, Settings(api_tokens=TOKENS).api_tokens) == ("alpha" if token == "token-a" else None)
