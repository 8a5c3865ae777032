"""Every langgraph-sdk client method, called against a real server.

The list of methods is not written here: it is read from the SDK's own
client (every public method of every resource client of ``get_client()``,
and the client's own), so a method a new SDK release adds fails this file
until the server serves it and a call is added to ``CALLS``. Each call
checks what the server answered, not just that it answered.

Methods that other open issues build are expected to fail, strictly (an
unexpected pass fails too, so the mark goes when the work lands); none are
excused now.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.client import LangGraphClient

from app.settings import PostgresSettings, StorageSettings
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server
from tests.support.storage import empty_tables

Call = Callable[[LangGraphClient], Awaitable[None]]


def _methods(client: Any) -> set[str]:
    """``resource.method`` for every public method of the SDK client."""
    found = {name for name, value in inspect.getmembers(type(client)) if _public(name, value)}
    for resource, value in vars(client).items():
        if resource.startswith("_") or not type(value).__name__.endswith("Client"):
            continue
        if resource == "http":
            continue  # the transport, not the API
        found |= {
            f"{resource}.{name}"
            for name, member in inspect.getmembers(type(value))
            if _public(name, member)
        }
    return found


def _public(name: str, value: Any) -> bool:
    return not name.startswith("_") and callable(value)


def _async_methods() -> set[str]:
    return _methods(get_client(url="http://sdk.invalid"))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """A server on SQLite, then one on Postgres (every store: threads, runs,
    assistants, crons, thread TTLs, the long-term store)."""
    backend: dict[str, object] = {"storage": StorageSettings(backend=request.param)}
    if request.param == "postgres":
        backend["postgres"] = PostgresSettings(url=request.getfixturevalue("postgres_url"))
    settings = make_settings(tmp_path_factory.mktemp("sdk-methods"), **backend)
    with run_server(settings) as running:
        yield running
    if request.param == "postgres":
        empty_tables(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url)
    yield client
    await client.aclose()


# -- one call per method ---------------------------------------------------------


async def _steps_thread(sdk: LangGraphClient) -> str:
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], "steps", input={"steps": []})
    return str(thread["thread_id"])


async def assistants_search(sdk: LangGraphClient) -> None:
    found = await sdk.assistants.search(graph_id="steps", metadata={"created_by": "system"})
    assert [a["graph_id"] for a in found] == ["steps"]


async def assistants_count(sdk: LangGraphClient) -> None:
    assert await sdk.assistants.count(graph_id="steps") == 1


async def assistants_get(sdk: LangGraphClient) -> None:
    assert (await sdk.assistants.get("steps"))["graph_id"] == "steps"


async def assistants_get_graph(sdk: LangGraphClient) -> None:
    graph: Any = await sdk.assistants.get_graph("steps")
    assert {"one", "two", "three"} <= {node["id"] for node in graph["nodes"]}


async def assistants_get_schemas(sdk: LangGraphClient) -> None:
    schemas: Any = await sdk.assistants.get_schemas("steps")
    assert "steps" in schemas["input_schema"]["properties"]


async def assistants_get_subgraphs(sdk: LangGraphClient) -> None:
    subgraphs: Any = await sdk.assistants.get_subgraphs("nested")
    assert list(subgraphs) == ["inner"]


async def assistants_create(sdk: LangGraphClient) -> None:
    made = await sdk.assistants.create("steps", name="mine")
    assert (made["graph_id"], made["name"]) == ("steps", "mine")


async def assistants_update(sdk: LangGraphClient) -> None:
    made = await sdk.assistants.create("steps")
    updated = await sdk.assistants.update(made["assistant_id"], metadata={"v": 2})
    assert updated["version"] == 2


async def assistants_delete(sdk: LangGraphClient) -> None:
    made = await sdk.assistants.create("steps")
    await sdk.assistants.delete(made["assistant_id"])
    assert await sdk.assistants.count(metadata={"made": made["assistant_id"]}) == 0


async def assistants_get_versions(sdk: LangGraphClient) -> None:
    made = await sdk.assistants.create("steps")
    assert len(await sdk.assistants.get_versions(made["assistant_id"])) == 1


async def assistants_set_latest(sdk: LangGraphClient) -> None:
    made = await sdk.assistants.create("steps")
    await sdk.assistants.update(made["assistant_id"], metadata={"v": 2})
    latest = await sdk.assistants.set_latest(made["assistant_id"], 1)
    assert latest["version"] == 1


async def threads_create(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create(metadata={"k": "v"})
    metadata: Any = thread["metadata"]
    assert metadata["k"] == "v"
    assert thread["status"] == "idle"


async def threads_get(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    assert (await sdk.threads.get(thread["thread_id"]))["thread_id"] == thread["thread_id"]


async def threads_update(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    updated = await sdk.threads.update(thread["thread_id"], metadata={"k": 1})
    metadata: Any = updated["metadata"]
    assert metadata["k"] == 1


async def threads_delete(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    await sdk.threads.delete(thread["thread_id"])
    assert await sdk.threads.search(ids=[thread["thread_id"]]) == []


async def threads_search(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create(metadata={"search": "me"})
    found = await sdk.threads.search(metadata={"search": "me"})
    assert thread["thread_id"] in [t["thread_id"] for t in found]


async def threads_count(sdk: LangGraphClient) -> None:
    await sdk.threads.create(metadata={"count": "me"})
    assert await sdk.threads.count(metadata={"count": "me"}) >= 1


async def threads_copy(sdk: LangGraphClient) -> None:
    tid = await _steps_thread(sdk)
    copy: Any = sdk.threads.copy  # the SDK types its result None; the API returns the copy
    copied = await copy(tid)
    assert copied["thread_id"] != tid
    state: Any = await sdk.threads.get_state(copied["thread_id"])
    assert state["values"]["steps"] == ["one", "two", "three"]


async def threads_get_state(sdk: LangGraphClient) -> None:
    state: Any = await sdk.threads.get_state(await _steps_thread(sdk))
    assert state["values"]["steps"] == ["one", "two", "three"]


async def threads_update_state(sdk: LangGraphClient) -> None:
    tid = await _steps_thread(sdk)
    await sdk.threads.update_state(tid, {"steps": ["extra"]}, as_node="three")
    state: Any = await sdk.threads.get_state(tid)
    assert state["values"]["steps"][-1] == "extra"


async def threads_get_history(sdk: LangGraphClient) -> None:
    history = await sdk.threads.get_history(await _steps_thread(sdk), limit=2)
    assert len(history) == 2


async def threads_join_stream(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "steps", input={"steps": []})
    events = []
    joined = await sdk.threads.join_stream(thread["thread_id"], stream_mode="lifecycle")
    async for part in joined:
        events.append(part.event)
        if part.event == "run_done":
            break
    assert events == ["metadata", "run_done"]
    assert (await sdk.runs.get(thread["thread_id"], run["run_id"]))["status"] == "success"


async def threads_stream(sdk: LangGraphClient) -> None:
    async with sdk.threads.stream(assistant_id="steps") as thread:
        await thread.run.start(input={"steps": []})
        output = await thread.output
    assert output["steps"] == ["one", "two", "three"]


async def threads_prune(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    await sdk.threads.prune([thread["thread_id"]])
    assert await sdk.threads.search(ids=[thread["thread_id"]]) == []


async def runs_create(sdk: LangGraphClient) -> None:
    run = await sdk.runs.create(None, "steps", input={"steps": []}, on_completion="keep")
    assert await sdk.runs.join(run["thread_id"], run["run_id"]) == {
        "steps": ["one", "two", "three"]
    }


async def runs_create_batch(sdk: LangGraphClient) -> None:
    payloads: Any = [{"assistant_id": "steps", "input": {"steps": [str(i)]}} for i in range(3)]
    runs = await sdk.runs.create_batch(payloads)
    assert len(runs) == 3


async def runs_stream(sdk: LangGraphClient) -> None:
    parts = [p async for p in sdk.runs.stream(None, "steps", input={}, stream_mode="updates")]
    assert [p.event for p in parts].count("updates") == 3


async def runs_wait(sdk: LangGraphClient) -> None:
    assert await sdk.runs.wait(None, "steps", input={"steps": ["w"]}) == {
        "steps": ["w", "one", "two", "three"]
    }


async def runs_join(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "steps", input={})
    assert await sdk.runs.join(thread["thread_id"], run["run_id"]) == {
        "steps": ["one", "two", "three"]
    }


async def runs_join_stream(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "steps", input={})
    parts = [p async for p in sdk.runs.join_stream(thread["thread_id"], run["run_id"])]
    assert parts[-1].event == "end"
    assert [p.data for p in parts if p.event == "values"][-1]["steps"] == ["one", "two", "three"]


async def runs_get(sdk: LangGraphClient) -> None:
    tid = await _steps_thread(sdk)
    (run,) = await sdk.runs.list(tid)
    assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "success"


async def runs_list(sdk: LangGraphClient) -> None:
    assert [r["status"] for r in await sdk.runs.list(await _steps_thread(sdk))] == ["success"]


async def runs_cancel(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "slow", input={"sleep_s": 60})
    await sdk.runs.cancel(thread["thread_id"], run["run_id"], wait=True)
    assert (await sdk.runs.get(thread["thread_id"], run["run_id"]))["status"] == "interrupted"


async def runs_cancel_many(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(thread["thread_id"], "slow", input={"sleep_s": 60})
    await sdk.runs.cancel_many(thread_id=thread["thread_id"], run_ids=[run["run_id"]])
    await sdk.runs.join(thread["thread_id"], run["run_id"])
    assert (await sdk.runs.get(thread["thread_id"], run["run_id"]))["status"] == "interrupted"


async def runs_delete(sdk: LangGraphClient) -> None:
    tid = await _steps_thread(sdk)
    (run,) = await sdk.runs.list(tid)
    await sdk.runs.delete(tid, run["run_id"])
    assert await sdk.runs.list(tid) == []


async def crons_create(sdk: LangGraphClient) -> None:
    cron: Any = await sdk.crons.create("steps", schedule="* * * * *", input={})
    assert cron["schedule"] == "* * * * *"


async def crons_create_for_thread(sdk: LangGraphClient) -> None:
    thread = await sdk.threads.create()
    cron: Any = await sdk.crons.create_for_thread(
        thread["thread_id"], "steps", schedule="0 * * * *"
    )
    assert cron["thread_id"] == thread["thread_id"]


async def crons_search(sdk: LangGraphClient) -> None:
    await sdk.crons.create("steps", schedule="5 * * * *")
    assert await sdk.crons.search(assistant_id="steps")


async def crons_count(sdk: LangGraphClient) -> None:
    await sdk.crons.create("steps", schedule="6 * * * *")
    assert await sdk.crons.count(assistant_id="steps") >= 1


async def crons_update(sdk: LangGraphClient) -> None:
    cron: Any = await sdk.crons.create("steps", schedule="7 * * * *")
    updated = await sdk.crons.update(cron["cron_id"], schedule="8 * * * *")
    assert updated["schedule"] == "8 * * * *"


async def crons_delete(sdk: LangGraphClient) -> None:
    cron: Any = await sdk.crons.create("steps", schedule="9 * * * *")
    await sdk.crons.delete(cron["cron_id"])
    assert cron["cron_id"] not in [c["cron_id"] for c in await sdk.crons.search()]


async def store_put_item(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["docs"], "a", {"text": "hello"})
    item: Any = await sdk.store.get_item(["docs"], "a")
    assert item["value"] == {"text": "hello"}


async def store_get_item(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["docs"], "b", {"n": 1})
    item: Any = await sdk.store.get_item(["docs"], "b")
    assert item["key"] == "b"


async def store_delete_item(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["docs"], "c", {"n": 1})
    await sdk.store.delete_item(["docs"], "c")
    assert "c" not in [i["key"] for i in (await sdk.store.search_items(["docs"]))["items"]]


async def store_search_items(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["found"], "d", {"n": 1})
    assert [i["key"] for i in (await sdk.store.search_items(["found"]))["items"]] == ["d"]


async def store_list_namespaces(sdk: LangGraphClient) -> None:
    await sdk.store.put_item(["ns", "one"], "e", {"n": 1})
    assert ["ns", "one"] in (await sdk.store.list_namespaces(prefix=["ns"]))["namespaces"]


async def aclose(sdk: LangGraphClient) -> None:
    await sdk.aclose()
    assert sdk.http.client.is_closed


CALLS: dict[str, Call] = {
    name.replace("_", ".", 1) if name != "aclose" else name: fn
    for name, fn in list(globals().items())
    if inspect.iscoroutinefunction(fn)
    and name.split("_", 1)[0] in ("assistants", "threads", "runs", "crons", "store", "aclose")
}

# Methods an open issue builds: none left (issue 15's landed with the platform API).
OTHER_ISSUES: dict[str, str] = {}


def _params() -> list[Any]:
    params = []
    for method in sorted(_async_methods()):
        marks = []
        if method in OTHER_ISSUES:
            marks.append(pytest.mark.xfail(strict=True, reason=OTHER_ISSUES[method]))
        params.append(pytest.param(method, id=method, marks=marks))
    return params


@pytest.mark.parametrize("method", _params())
async def test_sdk_method_when_called_then_server_answers_it(
    sdk: LangGraphClient, method: str
) -> None:
    call = CALLS.get(method)
    if call is None:
        pytest.fail(
            f"langgraph-sdk has {method}() and nothing here calls it: add it to CALLS "
            "(or mark it with the open issue that builds it)"
        )
    await call(sdk)


def test_sdk_methods_when_sync_client_then_same_methods_as_async() -> None:
    """The sync client is driven by the same calls only if it has the same surface."""
    sync = get_sync_client(url="http://sdk.invalid")
    try:
        sync_methods = {m.replace(".close", ".aclose") for m in _methods(sync)}
    finally:
        sync.close()
    assert sync_methods - {"close"} | {"aclose"} == _async_methods()


def test_calls_when_listed_then_each_names_a_real_sdk_method() -> None:
    assert set(CALLS) <= _async_methods(), set(CALLS) - _async_methods()
