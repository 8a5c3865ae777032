"""Store items and crons are their user's: ``store.*`` and ``crons.*`` handlers as
LangGraph's documentation writes them, through the official langgraph-sdk
against a real server.

* ``store_scoping_auth.py``: the prefix-rewriting store handler (each user's
  ``("memories",)`` is their own) and an owner-stamping crons handler;
* ``docs_auth.py``: the tutorial's explicit-namespace store handler
  (``assert namespace[0] == ctx.user.identity``) and global ``add_owner``.

Another user's item or cron answers exactly as a missing one does, and is
absent from every search, count and namespace list.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, PermissionDeniedError

from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

FIXTURES = Path(__file__).parents[2] / "fixtures" / "auth"
USER1 = {"Authorization": "Bearer user1-token"}
USER2 = {"Authorization": "Bearer user2-token"}
CRON: dict[str, Any] = {"assistant_id": "steps", "input": {"steps": []}, "schedule": "0 0 1 1 *"}


def _serve(tmp: pytest.TempPathFactory, config: str) -> Iterator[RunningServer]:
    settings = make_settings(Path(tmp.mktemp("store-auth")), graphs=FIXTURES / config)
    with run_server(settings) as running:
        yield running


@asynccontextmanager
async def users(running: RunningServer) -> AsyncIterator[tuple[LangGraphClient, LangGraphClient]]:
    one = get_client(url=running.url, headers=USER1)
    two = get_client(url=running.url, headers=USER2)
    try:
        yield one, two
    finally:
        await one.aclose()
        await two.aclose()


@pytest.fixture(scope="module")
def rewriting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from _serve(tmp_path_factory, "store_scoping.json")


@pytest.fixture(scope="module")
def explicit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    yield from _serve(tmp_path_factory, "langgraph.json")


async def test_prefix_rewriting_when_two_users_write_same_namespace_then_each_has_their_own(
    rewriting: RunningServer,
) -> None:
    async with users(rewriting) as (one, two):
        await _rewriting(one, two)


async def _rewriting(one: LangGraphClient, two: LangGraphClient) -> None:
    key = uuid.uuid4().hex
    await one.store.put_item(("memories",), key, {"said": "one"})
    await two.store.put_item(("memories",), key, {"said": "two"})
    mine = await one.store.get_item(("memories",), key)
    assert (mine["namespace"], mine["value"]) == (["user1", "memories"], {"said": "one"})
    theirs = await two.store.get_item(("memories",), key)
    assert theirs["value"] == {"said": "two"}
    # Naming the other user's namespace outright lands in one's own, where it is missing.
    with pytest.raises(NotFoundError) as hidden:
        await two.store.get_item(("user1", "memories"), key)
    with pytest.raises(NotFoundError) as unknown:
        await two.store.get_item(("user1", "memories"), uuid.uuid4().hex)
    assert hidden.value.response.json()["code"] == unknown.value.response.json()["code"]
    searched = await two.store.search_items((), limit=1000)
    assert {i["namespace"][0] for i in searched["items"]} == {"user2"}
    assert all(i["value"] != {"said": "one"} for i in searched["items"])
    assert (await two.store.search_items(("user1",), limit=1000))["items"] == []
    listed = await two.store.list_namespaces(limit=1000)
    assert listed["namespaces"]
    assert all(ns[0] == "user2" for ns in listed["namespaces"])
    # user2 deleting "the same" item deletes their own; user1's stays.
    await two.store.delete_item(("memories",), key)
    await two.store.delete_item(("user1", "memories"), key)
    assert (await one.store.get_item(("memories",), key))["value"] == {"said": "one"}
    with pytest.raises(NotFoundError):
        await two.store.get_item(("memories",), key)


async def test_explicit_namespace_when_other_users_namespace_then_refused_alike(
    explicit: RunningServer,
) -> None:
    async with users(explicit) as (one, two):
        await _explicit(one, two)


async def _explicit(one: LangGraphClient, two: LangGraphClient) -> None:
    key = uuid.uuid4().hex
    await one.store.put_item(("user1", "notes"), key, {"n": 1})
    assert (await one.store.get_item(("user1", "notes"), key))["value"] == {"n": 1}
    # The handler's assert refuses any namespace not the caller's, existing or not.
    refusals = []
    for namespace, k in ((("user1", "notes"), key), (("user1", "notes"), "nothing-here")):
        with pytest.raises(PermissionDeniedError) as refused:
            await two.store.get_item(namespace, k)
        refusals.append(refused.value.response.json())
    assert refusals[0] == refusals[1]
    with pytest.raises(PermissionDeniedError):
        await two.store.put_item(("user1", "notes"), key, {"n": "overwritten"})
    with pytest.raises(PermissionDeniedError):
        await two.store.delete_item(("user1", "notes"), key)
    with pytest.raises(PermissionDeniedError):
        await two.store.search_items(("user1",))
    # No prefix: the handler indexes None, which breaks it; a broken handler grants nothing.
    with pytest.raises(PermissionDeniedError):
        await two.store.list_namespaces()
    assert (await two.store.list_namespaces(prefix=["user2"]))["namespaces"] == []
    assert (await one.store.get_item(("user1", "notes"), key))["value"] == {"n": 1}


@pytest.mark.parametrize("server", ["rewriting", "explicit"])
async def test_crons_of_another_user_look_missing(
    server: str, request: pytest.FixtureRequest
) -> None:
    running: RunningServer = request.getfixturevalue(server)
    async with users(running) as (one, two):
        await _crons(running, one, two)


async def _crons(running: RunningServer, one: LangGraphClient, two: LangGraphClient) -> None:
    cron: dict[str, Any] = cast(
        dict[str, Any],
        await one.crons.create(CRON["assistant_id"], schedule=CRON["schedule"], input={}),
    )
    cron_id = cron["cron_id"]
    assert cron["metadata"]["owner"] == "user1"
    assert cron["user_id"] == "user1"
    mine: dict[str, Any] = cast(
        dict[str, Any],
        await two.crons.create(CRON["assistant_id"], schedule=CRON["schedule"], input={}),
    )
    async with httpx.AsyncClient(base_url=running.url, headers=USER2) as http:
        hidden = await http.get(f"/runs/crons/{cron_id}")
        unknown = await http.get(f"/runs/crons/{uuid.uuid4()}")
        assert hidden.status_code == unknown.status_code == 404
        assert hidden.json()["code"] == unknown.json()["code"]
        patched = await http.patch(f"/runs/crons/{cron_id}", json={"enabled": False})
        assert patched.status_code == 404
        assert (await http.delete(f"/runs/crons/{cron_id}")).status_code == 404
        # Asking for user1's crons by their metadata finds nothing either.
        asked = await http.post("/runs/crons/search", json={"metadata": {"owner": "user1"}})
        assert asked.json() == []
    found = await two.crons.search(limit=1000)
    assert cron_id not in {c["cron_id"] for c in found}
    assert mine["cron_id"] in {c["cron_id"] for c in found}
    assert await two.crons.count() == len(found)
    still = await one.crons.search(limit=1000)
    assert {c["cron_id"]: c["enabled"] for c in still}[cron_id] is True
    await one.crons.delete(cron_id)
    assert cron_id not in {c["cron_id"] for c in await one.crons.search(limit=1000)}
