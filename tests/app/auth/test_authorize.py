"""``app.auth.authorize``: the built-in owner policy and LangGraph's handler dispatch."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk import Auth

from app.auth.authorize import HandlerAuthorizer, HandlerError, OwnerAuthorizer
from app.auth.user import AuthUser
from app.errors import AccessDenied

ALICE = AuthUser({"identity": "alice"})
ROOT = AuthUser({"identity": "root", "permissions": ["admin"]})


async def test_owner_policy_stamps_filters_prefixes_and_guards_assistants() -> None:
    policy = OwnerAuthorizer("admin")
    value: dict[str, Any] = {"metadata": {"owner": "mallory", "x": 1}}
    assert await policy.authorize(ALICE, "threads", "create", value) == {"owner": "alice"}
    assert value["metadata"] == {"owner": "alice", "x": 1}  # cannot create for someone else
    cron: dict[str, Any] = {"payload": {}}
    assert await policy.authorize(ALICE, "crons", "create", cron) == {"owner": "alice"}
    assert cron["metadata"] == {"owner": "alice"}
    assert await policy.authorize(ALICE, "threads", "read", {}) == {"owner": "alice"}
    store: dict[str, Any] = {"namespace": ("notes",)}
    assert await policy.authorize(ALICE, "store", "put", store) is None
    assert store["namespace"] == ("alice", "notes")
    own: dict[str, Any] = {"namespace": ("alice", "notes")}
    await policy.authorize(ALICE, "store", "search", own)
    assert own["namespace"] == ("alice", "notes")
    assert await policy.authorize(ALICE, "assistants", "search", {}) is None
    with pytest.raises(AccessDenied, match="admin"):
        await policy.authorize(ALICE, "assistants", "update", {})
    assert await policy.authorize(ROOT, "assistants", "update", {}) is None


async def test_handlers_when_several_match_then_most_specific_runs() -> None:
    auth = Auth()
    calls: list[str] = []

    @auth.on
    async def anything(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
        calls.append("global")
        return True

    @auth.on.threads
    async def threads(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> dict[str, str]:
        calls.append(f"threads:{ctx.action}")
        return {"owner": ctx.user.identity}

    @auth.on(actions="search")
    async def searches(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
        calls.append(f"search:{ctx.resource}")

    @auth.on.threads.delete  # type: ignore[arg-type]  # the SDK types values as TypedDicts
    async def no_delete(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> bool:
        calls.append("delete")
        return False

    authorizer = HandlerAuthorizer(auth)
    assert await authorizer.authorize(ALICE, "threads", "read", {}) == {"owner": "alice"}
    assert await authorizer.authorize(ALICE, "threads", "search", {}) == {"owner": "alice"}
    assert await authorizer.authorize(ALICE, "assistants", "search", {}) is None
    assert await authorizer.authorize(ALICE, "crons", "read", {}) is None
    with pytest.raises(AccessDenied) as denied:
        await authorizer.authorize(ALICE, "threads", "delete", {})
    assert denied.value.http_status == 403
    assert calls == ["threads:read", "threads:search", "search:assistants", "global", "delete"]


async def test_handler_results_map_to_statuses_and_bad_filters_are_server_errors() -> None:
    auth = Auth()

    @auth.on.threads.read  # type: ignore[arg-type]  # the SDK types values as TypedDicts
    async def teapot(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
        raise Auth.exceptions.HTTPException(status_code=418, detail="short and stout")

    @auth.on.threads.update  # type: ignore[arg-type]  # the SDK types values as TypedDicts
    async def asserting(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> None:
        assert value.get("ok"), "not ok"

    @auth.on.threads.search  # type: ignore[arg-type]  # the SDK types values as TypedDicts
    async def bad_filter(ctx: Auth.types.AuthContext, value: dict[str, Any]) -> Any:
        return {"owner": {"$regex": ".*"}}

    authorizer = HandlerAuthorizer(auth)
    with pytest.raises(AccessDenied) as teapot_error:
        await authorizer.authorize(ALICE, "threads", "read", {})
    assert (teapot_error.value.http_status, teapot_error.value.message) == (418, "short and stout")
    with pytest.raises(AccessDenied, match="not ok"):
        await authorizer.authorize(ALICE, "threads", "update", {})
    assert await authorizer.authorize(ALICE, "threads", "update", {"ok": True}) is None
    with pytest.raises(HandlerError, match="regex"):
        await authorizer.authorize(ALICE, "threads", "search", {})
