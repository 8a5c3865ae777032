"""The official clients against a real server with auth on.

* ``langgraph_sdk.get_client(api_key=...)`` (sends ``X-Api-Key``) against the
  built-in API keys, and ``headers={"Authorization": ...}`` against JWTs;
* ``RemoteGraph`` with headers;
* an ``auth.py`` written as LangGraph's documentation writes it
  (``tests/fixtures/auth/docs_auth.py``) served from a ``langgraph.json``:
  owner stamping and filters, the documented tutorial checks, unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.pregel.remote import RemoteGraph
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from app.auth.settings import AuthSettings
from tests.conftest import make_settings
from tests.support.auth import SECRET, bearer, mint
from tests.support.server import RunningServer, run_server

DOCS_AUTH = Path(__file__).parents[2] / "fixtures" / "auth" / "langgraph.json"
STEPS_INPUT: dict[str, Any] = {"steps": []}


@pytest.fixture(scope="module")
def builtin_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    auth = AuthSettings.model_validate(
        {
            "jwt_secret": SECRET,
            "api_keys": [
                {"key": "alice-key-0123456789", "identity": "alice"},
                {"key": "bob-key-0123456789", "identity": "bob"},
            ],
        }
    )
    settings = make_settings(tmp_path_factory.mktemp("sdk-builtin"), auth=auth)
    with run_server(settings) as server:
        yield server


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path_factory.mktemp("sdk-docs"), graphs=DOCS_AUTH)
    with run_server(settings) as server:
        yield server


@pytest.fixture
async def clients(builtin_server: RunningServer) -> AsyncIterator[dict[str, LangGraphClient]]:
    made = {
        "alice_key": get_client(url=builtin_server.url, api_key="alice-key-0123456789"),
        "bob_key": get_client(url=builtin_server.url, api_key="bob-key-0123456789"),
        "alice_jwt": get_client(url=builtin_server.url, headers=bearer(mint("alice"))),
        "anonymous": get_client(url=builtin_server.url, api_key=None),
    }
    yield made
    for client in made.values():
        await client.aclose()


async def test_sdk_with_api_key_then_runs_and_sees_only_its_threads(
    clients: dict[str, LangGraphClient],
) -> None:
    alice, bob = clients["alice_key"], clients["bob_key"]
    thread = await alice.threads.create(metadata={"topic": "sdk"})
    assert (thread["metadata"] or {})["owner"] == "alice"
    parts = [
        part
        async for part in alice.runs.stream(
            thread["thread_id"], "steps", input=STEPS_INPUT, stream_mode="values"
        )
    ]
    values = [part.data for part in parts if part.event == "values"]
    assert values[-1] == {"steps": ["one", "two", "three"]}
    # The same user through a JWT in headers= is the same owner.
    same = await clients["alice_jwt"].threads.get(thread["thread_id"])
    assert same["thread_id"] == thread["thread_id"]
    with pytest.raises(NotFoundError):
        await bob.threads.get(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await bob.threads.get_state(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await bob.runs.list(thread["thread_id"])
    bob_sees = await bob.threads.search(metadata={"topic": "sdk"})
    assert bob_sees == []
    assert await bob.threads.count(metadata={"topic": "sdk"}) == 0
    alice_sees = await alice.threads.search(metadata={"topic": "sdk"})
    assert [t["thread_id"] for t in alice_sees] == [thread["thread_id"]]


async def test_sdk_without_credentials_then_401(clients: dict[str, LangGraphClient]) -> None:
    from httpx import HTTPStatusError

    with pytest.raises(HTTPStatusError) as caught:
        await clients["anonymous"].threads.search()
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["www-authenticate"].startswith("Bearer")


async def test_remote_graph_with_headers_then_runs_as_that_user(
    builtin_server: RunningServer, clients: dict[str, LangGraphClient]
) -> None:
    alice_headers = bearer(mint("alice"))
    remote = RemoteGraph("steps", url=builtin_server.url, headers=alice_headers)
    intruder = RemoteGraph("steps", url=builtin_server.url, headers=bearer(mint("bob")))
    thread = await clients["alice_key"].threads.create()
    config: Any = {"configurable": {"thread_id": thread["thread_id"]}}
    try:
        result = await remote.ainvoke(STEPS_INPUT, config=config)
        assert result == {"steps": ["one", "two", "three"]}
        with pytest.raises(NotFoundError):
            await intruder.ainvoke(STEPS_INPUT, config=config)
    finally:
        for graph in (remote, intruder):  # RemoteGraph made these clients from url=
            assert graph.client is not None
            assert graph.sync_client is not None
            await graph.client.aclose()
            graph.sync_client.close()
    state = await clients["alice_key"].threads.get_state(thread["thread_id"])
    assert state["values"] == {"steps": ["one", "two", "three"]}  # bob's run never happened


# --- an auth.py from LangGraph's documentation -------------------------------------------


@pytest.fixture
async def docs_users(docs_server: RunningServer) -> AsyncIterator[dict[str, LangGraphClient]]:
    made = {
        "alice": get_client(url=docs_server.url, headers={"Authorization": "Bearer user1-token"}),
        "bob": get_client(url=docs_server.url, headers={"Authorization": "Bearer user2-token"}),
        "nobody": get_client(url=docs_server.url, headers={"Authorization": "Bearer bad"}),
        "anonymous": get_client(url=docs_server.url, api_key=None),
    }
    yield made
    for client in made.values():
        await client.aclose()


async def test_docs_auth_when_users_chat_then_conversations_are_private(
    docs_users: dict[str, LangGraphClient],
) -> None:
    """The documentation's own checks: each user creates and chats in their threads,
    cannot see the other's, and listing shows only their own."""
    alice, bob = docs_users["alice"], docs_users["bob"]
    thread = await alice.threads.create()
    assert (thread["metadata"] or {})["owner"] == "user1"  # on_thread_create stamped it
    run = await alice.runs.create(thread["thread_id"], "steps", input=STEPS_INPUT)
    assert (run["metadata"] or {})["owner"] == "user1"  # add_owner runs for create_run
    await alice.runs.join(thread["thread_id"], run["run_id"])
    with pytest.raises(NotFoundError):
        await bob.threads.get(thread["thread_id"])
    with pytest.raises(NotFoundError):
        await bob.runs.get(thread["thread_id"], run["run_id"])
    with pytest.raises(NotFoundError):
        await bob.runs.create(thread["thread_id"], "steps", input=STEPS_INPUT)
    bob_thread = await bob.threads.create()
    alice_ids = {t["thread_id"] for t in await alice.threads.search(limit=100)}
    bob_ids = {t["thread_id"] for t in await bob.threads.search(limit=100)}
    assert thread["thread_id"] in alice_ids
    assert bob_thread["thread_id"] in bob_ids
    assert not alice_ids & bob_ids


async def test_docs_auth_stateless_run_and_created_thread_belong_to_the_caller(
    docs_users: dict[str, LangGraphClient],
) -> None:
    alice, bob = docs_users["alice"], docs_users["bob"]
    result = await alice.runs.wait(None, "steps", input=STEPS_INPUT)
    assert result == {"steps": ["one", "two", "three"]}
    # if_not_exists="create": the thread the run makes carries the owner add_owner stamped.
    thread_id = "5d0c8f3e-8a0e-4a57-9c55-3bd2d41a2f10"
    await alice.runs.wait(thread_id, "steps", input=STEPS_INPUT, if_not_exists="create")
    assert ((await alice.threads.get(thread_id))["metadata"] or {})["owner"] == "user1"
    with pytest.raises(NotFoundError):
        await bob.threads.get_state(thread_id)


async def test_docs_auth_when_handler_raises_403_then_403(
    docs_users: dict[str, LangGraphClient],
) -> None:
    with pytest.raises(PermissionDeniedError) as caught:
        await docs_users["alice"].assistants.search()
    assert "lacks the required permissions" in caught.value.response.text


async def test_docs_auth_when_token_bad_or_missing_then_401(
    docs_users: dict[str, LangGraphClient],
) -> None:
    from httpx import HTTPStatusError

    for name in ("nobody", "anonymous"):  # HTTPException(401), and a failed assert
        with pytest.raises(HTTPStatusError) as caught:
            await docs_users[name].threads.search()
        assert caught.value.response.status_code == 401, name
        assert caught.value.response.headers["www-authenticate"].startswith("Bearer")


async def test_docs_auth_graph_sees_the_user_in_its_config_and_clients_cannot_spoof_it(
    docs_users: dict[str, LangGraphClient],
) -> None:
    spoof: Any = {"configurable": {"langgraph_auth_user_id": "user2"}}
    result = await docs_users["alice"].runs.wait(None, "whoami", input={}, config=spoof)
    assert isinstance(result, dict)
    assert result["user_id"] == "user1"
    assert result["permissions"] == []
    assert result["user"]["identity"] == "user1"


async def test_docs_auth_mcp_tool_call_runs_as_the_caller(docs_server: RunningServer) -> None:
    """``/mcp`` ``tools/call`` is a stateless run admitted like ``POST /runs``: the
    graph sees the MCP client's user in its config; without credentials, 401."""
    headers = {"Authorization": "Bearer user1-token"}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{docs_server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        called = await session.call_tool("whoami", {})
        assert not called.isError, called.content
        assert called.structuredContent is not None
        assert called.structuredContent["user_id"] == "user1"
    async with httpx.AsyncClient() as http:
        anonymous = await http.post(f"{docs_server.url}/mcp", json={})
        assert anonymous.status_code == 401
