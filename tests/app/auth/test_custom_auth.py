"""A langgraph.json ``auth`` object: what authenticate receives, and LangGraph's dispatch."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.auth.user import AuthUser
from app.main import create_app
from tests.conftest import make_settings

CONFIG = Path(__file__).parents[2] / "fixtures" / "auth" / "recording.json"


def _seen() -> list[dict[str, Any]]:
    """What the server's copy of recording_auth.py recorded (imported like a graph spec)."""
    (module,) = [m for name, m in sys.modules.items() if "recording_auth" in name]
    seen: list[dict[str, Any]] = module.SEEN
    return seen


async def test_custom_auth_receives_request_parts_and_scopes_by_its_own_field(
    tmp_path: Path,
) -> None:
    application = create_app(make_settings(tmp_path, graphs=CONFIG))
    ann, bob = {"Authorization": "Bearer ann@acme"}, {"Authorization": "Bearer bob@initech"}
    ann_too = {"Authorization": "Bearer zed@acme"}
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://sy") as http:
            thread = (await http.post("/threads", json={}, headers=ann)).json()
            assert thread["metadata"]["org"] == "acme"  # @auth.on.threads.create stamped it
            tid = thread["thread_id"]
            _seen().clear()
            got = await http.get(f"/threads/{tid}/history?limit=3", headers={**ann, "X-Extra": "1"})
            assert got.status_code == 200
            seen = _seen()[-1]
            assert seen["path"] == f"/threads/{tid}/history"
            assert seen["method"] == "GET"
            assert seen["path_params"] == {"thread_id": tid}
            assert seen["query_params"] == {"limit": "3"}
            assert seen["headers"][b"x-extra"] == b"1"
            assert seen["authorization"] == "Bearer ann@acme"
            assert seen["request"].url.path == f"/threads/{tid}/history"
            # (*, read) filters by org: a colleague sees it, another org does not.
            assert (await http.get(f"/threads/{tid}", headers=ann_too)).status_code == 200
            assert (await http.get(f"/threads/{tid}", headers=bob)).status_code == 404
            found = (await http.post("/threads/search", json={}, headers=bob)).json()
            assert tid not in {t["thread_id"] for t in found}
            # False from a handler is a 403; the global handler answers the rest.
            refused = await http.delete(f"/threads/{tid}", headers=ann)
            assert refused.status_code == 403
            assert refused.json()["code"] == "forbidden"
            patched = await http.patch(f"/threads/{tid}", json={"metadata": {"x": 1}}, headers=bob)
            assert patched.status_code == 404
            assert (await http.get(f"/threads/{tid}", headers=ann)).json()["metadata"] == {
                "org": "acme"
            }
            # HTTPException(401) from authenticate, with its own detail.
            nobody = await http.get(f"/threads/{tid}", headers={"Authorization": "Bearer x"})
            assert nobody.status_code == 401
            assert nobody.json()["detail"] == "who are you?"
            # A run as another org on this thread is a 404 like an unknown id.
            run = await http.post(
                f"/threads/{tid}/runs/wait",
                json={"assistant_id": "steps", "input": {"steps": []}},
                headers=bob,
            )
            assert run.status_code == 404
            missing = await http.get(f"/threads/{uuid.uuid4()}", headers=bob)
            assert missing.json()["code"] == run.json()["code"] == "thread_not_found"


def test_auth_user_wraps_every_shape_an_authenticate_handler_may_return() -> None:
    class Principal:
        identity = "obj"
        permissions = ("p",)
        tenant = "t1"

    assert AuthUser.from_result("plain").identity == "plain"
    from_dict = AuthUser.from_result({"identity": "d", "org": "o", "permissions": ["a"]})
    assert (from_dict.org, from_dict["org"], "org" in from_dict) == ("o", "o", True)
    assert from_dict.display_name == "d"
    assert from_dict.is_authenticated is True
    wrapped = AuthUser.from_result(Principal())
    assert (wrapped.identity, wrapped.permissions, wrapped["tenant"]) == ("obj", ["p"], "t1")
    with pytest.raises(TypeError):
        AuthUser.from_result(42)
    with pytest.raises(TypeError):
        AuthUser.from_result({"identity": ""})


DOCS_CONFIG = Path(__file__).parents[2] / "fixtures" / "auth" / "langgraph.json"


async def test_studio_auth_scheme_header_grants_nothing_and_makes_no_studio_user(
    tmp_path: Path,
) -> None:
    """LangGraph Server's Studio sign-in (``X-Auth-Scheme: langsmith`` with a
    LangSmith key) is not supported: the request authenticates like any other,
    whatever ``disable_studio_auth`` says (false is LangGraph's default)."""
    fixtures = DOCS_CONFIG.parent
    config = tmp_path / "langgraph.json"
    config.write_text(
        json.dumps(
            {
                "graphs": {"steps": str(fixtures.parent / "graphs" / "steps.py") + ":build_steps"},
                "auth": {"path": f"{fixtures / 'docs_auth.py'}:auth", "disable_studio_auth": False},
            }
        )
    )
    application = create_app(make_settings(tmp_path, graphs=config))
    studio = {"X-Auth-Scheme": "langsmith", "X-Api-Key": "lsv2_pt_0123456789abcdef"}
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://sy") as http:
            refused = await http.post("/threads", json={}, headers=studio)
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
            # With credentials the auth.py accepts, the user is that user (stamped
            # by its threads.create handler), not a StudioUser.
            signed_in = {**studio, "Authorization": "Bearer user1-token"}
            thread = await http.post("/threads", json={}, headers=signed_in)
            assert thread.status_code == 200, thread.text
            assert thread.json()["metadata"]["owner"] == "user1"
