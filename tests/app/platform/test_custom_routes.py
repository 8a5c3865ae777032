"""langgraph.json's ``http`` section against a real server: a custom app beside
the API (its routes first, its lifespan run), disable_*, CORS, mount_prefix."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from langgraph_sdk import get_client

from app.main import routes
from app.platform.custom_routes import HttpConfig, filter_routes
from graphs.loader import GraphLoadError
from tests.conftest import make_settings
from tests.support.auth import bearer, jwt_settings, mint
from tests.support.server import run_server

CONFIG = Path(__file__).parents[2] / "fixtures" / "custom_routes" / "langgraph.json"
AUTHED = CONFIG.with_name("authed.json")


async def test_http_app_when_configured_then_served_beside_api_under_prefix(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, graphs=CONFIG, builtins=False)
    with run_server(settings) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            hello = await http.get("/api/hello")
            assert hello.json() == {"hello": "from my app", "started": True}
            assert (await http.get("/api/info")).json() == {"mine": True}  # the app's wins
            assert (await http.get("/api/ok")).json() == {"ok": True}
            outside = await http.get("/ok")
            assert outside.status_code == 404
            assert "/api" in outside.json()["detail"]
            store = await http.put(
                "/api/store/items", json={"namespace": ["a"], "key": "k", "value": {}}
            )
            assert store.status_code == 404  # disable_store
            preflight = await http.options(
                "/api/threads",
                headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
            )
            assert preflight.headers["access-control-allow-origin"] == "https://ui.example"
            other = await http.get("/api/ok", headers={"Origin": "https://evil.example"})
            assert "access-control-allow-origin" not in other.headers
        sdk = get_client(url=running.url + "/api")
        try:
            thread = await sdk.threads.create()
            out = await sdk.runs.wait(thread["thread_id"], "steps", input={"steps": []})
            assert out == {"steps": ["one", "two", "three"]}
        finally:
            await sdk.aclose()


def test_filter_routes_when_groups_disabled_then_only_their_routes_go() -> None:
    config = HttpConfig(disable_runs=True, disable_assistants=True, disable_meta=True)
    paths = {getattr(r, "path", "") for r in filter_routes(routes(), config)}
    assert "/threads/{thread_id}" in paths
    assert "/ok" in paths
    assert not any(p.startswith(("/runs", "/assistants")) or "/runs" in p for p in paths)
    assert "/info" not in paths


def test_http_config_when_key_unknown_then_startup_error(tmp_path: Path) -> None:
    from app.main import create_app

    bad = tmp_path / "langgraph.json"
    bad.write_text('{"graphs": {}, "http": {"disable_everything": true}}')
    with pytest.raises(GraphLoadError, match="disable_everything"):
        create_app(make_settings(tmp_path, graphs=bad, builtins=False))


async def test_custom_route_auth_when_enabled_then_routes_need_a_user_and_see_it(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, graphs=AUTHED, builtins=False, auth=jwt_settings())
    with run_server(settings) as running:
        async with httpx.AsyncClient(base_url=running.url) as http:
            refused = await http.get("/whoami")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            bad = await http.get("/whoami", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
            me = await http.get("/whoami", headers=bearer(mint("alice")))
            assert me.status_code == 200, me.text
            assert me.json() == {"identity": "alice"}
