"""Assistants through the official langgraph-sdk against a real server: versions,
search, the read-only system assistants, config/context reaching the graph,
version pinning, subgraphs and integer xray."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import ConflictError, NotFoundError, UnprocessableEntityError

from tests.support.platform import platform_settings
from tests.support.server import RunningServer, run_server


@pytest.fixture(scope="module")
def platform_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(platform_settings(tmp_path_factory.mktemp("assistants"))) as running:
        yield running


def as_dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


@pytest.fixture
async def sdk(platform_server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=platform_server.url)
    yield client
    await client.aclose()


async def test_update_when_called_twice_then_versions_listed_newest_first_and_latest_settable(
    sdk: LangGraphClient,
) -> None:
    created = await sdk.assistants.create(
        "profile", config={"configurable": {"greeting_word": "hi"}}, name="greeter"
    )
    aid = created["assistant_id"]
    assert (created["version"], created["graph_id"], created["name"]) == (1, "profile", "greeter")
    await sdk.assistants.update(aid, metadata={"stage": "beta"})
    third = await sdk.assistants.update(aid, config={"configurable": {"greeting_word": "yo"}})
    assert third["version"] == 3
    assert third["metadata"] == {"stage": "beta"}
    versions = await sdk.assistants.get_versions(aid)
    assert [v["version"] for v in versions] == [3, 2, 1]
    back = await sdk.assistants.set_latest(aid, 1)
    assert back["version"] == 1
    assert back["config"] == {"configurable": {"greeting_word": "hi"}}
    assert (await sdk.assistants.get(aid))["version"] == 1
    with pytest.raises(NotFoundError):
        await sdk.assistants.set_latest(aid, 42)


async def test_search_when_filtered_and_sorted_then_matching_page_and_count(
    sdk: LangGraphClient,
) -> None:
    tag = {"suite": "search"}
    for name in ("zeta helper", "alpha helper", "mid"):
        await sdk.assistants.create("steps", name=name, metadata=tag)
    found = await sdk.assistants.search(metadata=tag, sort_by="name", sort_order="asc")
    assert [a["name"] for a in found] == ["alpha helper", "mid", "zeta helper"]
    helpers = await sdk.assistants.search(metadata=tag, name="HELPER", select=["name"])
    assert sorted(cast(list[dict[str, Any]], helpers), key=lambda a: a["name"]) == [
        {"name": "alpha helper"},
        {"name": "zeta helper"},
    ]
    page = await sdk.assistants.search(
        metadata=tag, sort_by="name", sort_order="desc", limit=1, offset=1, response_format="object"
    )
    assert [a["name"] for a in page["assistants"]] == ["mid"]
    assert page["next"] == "2"
    assert await sdk.assistants.count(metadata=tag) == 3
    assert await sdk.assistants.count(graph_id="steps", metadata=tag, name="mid") == 1
    system = await sdk.assistants.search(metadata={"created_by": "system"}, limit=100)
    assert {a["graph_id"] for a in system} == {"profile", "deep", "steps", "slow"}


async def test_system_assistant_when_changed_then_409_and_unchanged(sdk: LangGraphClient) -> None:
    system = await sdk.assistants.get("steps")
    with pytest.raises(ConflictError) as raised:
        await sdk.assistants.update(system["assistant_id"], name="mine")
    assert "read-only" in raised.value.response.json()["detail"]
    with pytest.raises(ConflictError):
        await sdk.assistants.delete("steps")
    assert (await sdk.assistants.get(system["assistant_id"]))["name"] == "steps"


async def test_run_when_assistant_has_config_and_context_then_graph_sees_them_merged(
    sdk: LangGraphClient,
) -> None:
    assistant = await sdk.assistants.create(
        "profile",
        config={"configurable": {"greeting_word": "ahoy"}},
        context={"tone": "dry", "language": "en"},
    )
    aid = assistant["assistant_id"]
    out = as_dict(await sdk.runs.wait(None, aid, input={"user": "ann"}))
    assert out["greeting"] == "ahoy ann"
    assert out["context"] == {"tone": "dry", "language": "en"}
    # The run's own config and context win key by key.
    out = as_dict(
        await sdk.runs.wait(
            None,
            aid,
            input={"user": "ann"},
            config={"configurable": {"greeting_word": "hey"}},
            context={"tone": "warm"},
        )
    )
    assert out["greeting"] == "hey ann"
    assert out["context"] == {"tone": "warm", "language": "en"}


async def test_run_when_assistant_updated_after_creation_then_run_keeps_its_version(
    sdk: LangGraphClient,
) -> None:
    aid = (
        await sdk.assistants.create("profile", config={"configurable": {"greeting_word": "v1"}})
    )["assistant_id"]
    thread = await sdk.threads.create()
    # A delayed start (the API's after_seconds) keeps the run pending while the
    # assistant moves on to version 2.
    run = await sdk.runs.create(thread["thread_id"], aid, input={"user": "bo"}, after_seconds=1)
    await sdk.assistants.update(aid, config={"configurable": {"greeting_word": "v2"}})
    assert (await sdk.runs.get(thread["thread_id"], run["run_id"]))["status"] == "pending"
    out = as_dict(await sdk.runs.join(thread["thread_id"], run["run_id"]))
    assert out["greeting"] == "v1 bo"
    later = as_dict(await sdk.runs.wait(thread["thread_id"], aid, input={"user": "bo"}))
    assert later["greeting"] == "v2 bo"


async def test_subgraphs_when_nested_twice_then_namespaces_and_recurse(
    sdk: LangGraphClient,
) -> None:
    top = await sdk.assistants.get_subgraphs("deep")
    assert list(top) == ["outer"]
    assert "steps" in as_dict(top["outer"]["state_schema"])["properties"]
    everything = await sdk.assistants.get_subgraphs("deep", recurse=True)
    assert sorted(everything) == ["outer", "outer|inner"]
    only = await sdk.assistants.get_subgraphs("deep", namespace="outer")
    assert list(only) == ["outer"]


async def test_graph_when_xray_is_a_depth_then_subgraphs_drawn_to_that_depth(
    sdk: LangGraphClient,
) -> None:
    def node_ids(drawing: dict[str, list[dict[str, object]]]) -> set[str]:
        return {str(node["id"]) for node in drawing["nodes"]}

    flat = node_ids(await sdk.assistants.get_graph("deep"))
    one = node_ids(await sdk.assistants.get_graph("deep", xray=1))
    two = node_ids(await sdk.assistants.get_graph("deep", xray=2))
    assert "outer" in flat
    assert not any(":" in n for n in flat)
    assert "outer:before" in one
    assert not any(n.startswith("outer:inner:") for n in one)
    assert "outer:inner:two" in two


async def test_delete_when_delete_threads_then_its_threads_are_gone(sdk: LangGraphClient) -> None:
    aid = (await sdk.assistants.create("steps"))["assistant_id"]
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], aid, input={"steps": []})
    other = await sdk.threads.create()
    await sdk.runs.wait(other["thread_id"], "steps", input={"steps": []})
    await sdk.assistants.delete(aid, delete_threads=True)
    with pytest.raises(NotFoundError):
        await sdk.assistants.get(aid)
    with pytest.raises(NotFoundError):
        await sdk.threads.get(thread["thread_id"])
    assert (await sdk.threads.get(other["thread_id"]))["status"] == "idle"


async def test_create_when_input_bad_then_4xx_naming_the_problem(sdk: LangGraphClient) -> None:
    with pytest.raises(NotFoundError):
        await sdk.assistants.create("no-such-graph")
    with pytest.raises(UnprocessableEntityError) as raised:
        await sdk.assistants.create("steps", config={"bogus": 1})  # type: ignore[arg-type]
    assert "bogus" in raised.value.response.json()["detail"]
    with pytest.raises(UnprocessableEntityError):
        await sdk.assistants.create("steps", assistant_id="not-a-uuid")
    aid = (await sdk.assistants.create("steps"))["assistant_id"]
    with pytest.raises(ConflictError):
        await sdk.assistants.create("steps", assistant_id=aid)
    same = await sdk.assistants.create("steps", assistant_id=aid, if_exists="do_nothing")
    assert same["assistant_id"] == aid
