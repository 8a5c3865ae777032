"""A thread left mid-flow resumes on the version (and params) it was on, through a real server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import Command

from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(make_settings(tmp_path_factory.mktemp("versions"))) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url, timeout=60)
    yield client
    await client.aclose()


def asking(flow_id: str, after: list[str], **extra: Any) -> dict[str, Any]:
    """START -> ask (interrupt) -> the ``after`` steps in a row, each appending its name."""
    steps = [
        {
            "id": name,
            "type": "transform",
            "config": {"set": {"trail": [f"{name} {{{{params.tag}}}}"]}},
        }
        for name in after
    ]
    chain = ["ask", *after]
    return {
        "id": flow_id,
        "params": {"tag": {"type": "string", "default": "plain"}},
        "state": {"trail": {"type": "array", "reducer": "append"}, "answer": {"type": "any"}},
        "nodes": [
            {"id": "ask", "type": "interrupt", "config": {"value": "go on?", "write": "answer"}},
            *steps,
        ],
        "edges": [
            {"from": "START", "to": "ask"},
            *({"from": a, "to": b} for a, b in itertools.pairwise(chain)),
        ],
        **extra,
    }


async def _interrupted(sdk: LangGraphClient, flow_id: str, **config: Any) -> str:
    thread = await sdk.threads.create()
    await sdk.runs.wait(thread["thread_id"], flow_id, input={"trail": []}, **config)
    assert (await sdk.threads.get(thread["thread_id"]))["status"] == "interrupted"
    return str(thread["thread_id"])


async def test_resume_when_new_version_put_meanwhile_then_thread_runs_its_old_version(
    http: httpx.AsyncClient, sdk: LangGraphClient
) -> None:
    assert (await http.post("/flows", json=asking("steady", ["one", "two"]))).status_code == 201
    old_thread = await _interrupted(sdk, "steady")
    # Version 2 changes every step after the interrupt.
    changed = asking("steady", ["three"])
    assert (await http.put("/flows/steady", json=changed)).json()["version"] == 2
    # Read with the version that wrote it: still waiting at `ask`.
    assert (await sdk.threads.get_state(old_thread))["next"] == ["ask"]

    resumed: Any = await sdk.runs.wait(old_thread, "steady", command=Command(resume="yes"))
    assert resumed["trail"] == ["one plain", "two plain"]

    new_thread = await _interrupted(sdk, "steady")
    fresh: Any = await sdk.runs.wait(new_thread, "steady", command=Command(resume="yes"))
    assert fresh["trail"] == ["three plain"]
    history: Any = await sdk.threads.get_history(old_thread, limit=1)
    assert history[0]["metadata"]["flow_version"] == 1


async def test_resume_when_params_not_repeated_then_thread_keeps_the_params_it_started_with(
    sdk: LangGraphClient, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/flows", json=asking("tagged", ["one"]))).status_code == 201
    config = {"config": {"configurable": {"flow_params": {"tag": "gold"}}}}
    thread = await _interrupted(sdk, "tagged", **config)
    resumed: Any = await sdk.runs.wait(thread, "tagged", command=Command(resume="yes"))
    assert resumed["trail"] == ["one gold"]


async def test_new_input_when_thread_was_on_old_version_then_runs_the_served_version(
    sdk: LangGraphClient, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/flows", json=asking("moving", ["one"]))).status_code == 201
    thread = await _interrupted(sdk, "moving")
    await sdk.runs.wait(thread, "moving", command=Command(resume="yes"))
    await http.put("/flows/moving", json=asking("moving", ["two"]))
    # New input on a thread that finished on version 1: version 2 runs.
    await sdk.runs.wait(thread, "moving", input={"trail": []})
    done: Any = await sdk.runs.wait(thread, "moving", command=Command(resume="yes"))
    assert done["trail"][-1] == "two plain"


async def test_resume_when_its_version_is_no_longer_stored_then_run_ends_with_error_event(
    sdk: LangGraphClient, http: httpx.AsyncClient
) -> None:
    assert (await http.post("/flows", json=asking("gone", ["one"]))).status_code == 201
    await http.put("/flows/gone", json=asking("gone", ["two"]))
    thread = await _interrupted(sdk, "gone")  # on version 2
    assert (await http.delete("/flows/gone")).status_code == 204
    assert (await http.post("/flows", json=asking("gone", ["again"]))).status_code == 201
    parts = [p async for p in sdk.runs.stream(thread, "gone", command=Command(resume="yes"))]
    errors = [p for p in parts if p.event == "error"]
    assert len(errors) == 1, parts
    assert "version 2 is no longer stored" in str(errors[0].data)


async def test_template_when_required_param_then_schemas_read_and_thread_resumes_without_it(
    sdk: LangGraphClient, http: httpx.AsyncClient
) -> None:
    flow = asking("strict", ["one"])
    flow["params"] = {"tag": {"type": "string"}}  # required: no default
    assert (await http.post("/flows", json=flow)).status_code == 201
    schemas = await http.get("/assistants/strict/schemas")
    assert schemas.status_code == 200, schemas.text
    assert set(schemas.json()["input_schema"]["properties"]) == {"trail", "answer"}
    thread = await _interrupted(
        sdk, "strict", config={"configurable": {"flow_params": {"tag": "t"}}}
    )
    assert (await sdk.threads.get_state(thread))["next"] == ["ask"]
    resumed: Any = await sdk.runs.wait(thread, "strict", command=Command(resume="yes"))
    assert resumed["trail"] == ["one t"]
