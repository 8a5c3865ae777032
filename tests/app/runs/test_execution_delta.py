"""``delta`` over the wire: the ops of each namespace rebuild its ``values`` exactly.

Every test asks for ``["values", "delta"]`` (plus whatever else), applies each
``delta`` event's ops with the independent ``jsonpatch`` library starting from
``null``, and compares the state after each delta with the ``values`` event
LangGraph produced for the same step and namespace.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jsonpatch
import orjson
import pytest
from starlette.applications import Starlette

from app.runs.execution import GraphRun, build_config
from app.schemas import RunCreate
from app.serde import jsonable
from app.services import Services
from tests.support.server import RunningServer


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


def _events(body: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in body.decode().split("\r\n\r\n"):
        lines = [line for line in block.split("\r\n") if line and not line.startswith(":")]
        fields = dict(line.split(": ", 1) for line in lines)
        if "event" in fields:
            out.append((fields["event"], orjson.loads(fields["data"])))
    return out


def _split(name: str) -> tuple[str, str]:
    """``"delta|inner:abc"`` → ``("delta", "|inner:abc")``."""
    mode, bar, namespace = name.partition("|")
    return mode, bar + namespace


def replay(events: list[tuple[str, Any]]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Per namespace: the ``values`` snapshots, and the states after each ``delta``."""
    values: dict[str, list[Any]] = defaultdict(list)
    rebuilt: dict[str, list[Any]] = defaultdict(list)
    state: dict[str, Any] = {}
    for name, data in events:
        mode, namespace = _split(name)
        if mode == "values":
            values[namespace].append(data)
        elif mode == "delta":
            state[namespace] = jsonpatch.apply_patch(state.get(namespace), data["ops"])
            rebuilt[namespace].append(state[namespace])
    return values, rebuilt


async def _stream(
    http: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> list[tuple[str, Any]]:
    response = await http.post(path, json=body)
    assert response.status_code == 200, response.text
    events = _events(response.content)
    assert events[-1][0] == "end"
    assert "error" not in [name for name, _ in events]
    return events


async def test_delta_when_steps_then_every_values_snapshot_is_rebuilt(
    http: httpx.AsyncClient,
) -> None:
    events = await _stream(
        http,
        "/runs/stream",
        {"assistant_id": "steps", "input": {"steps": ["x"]}, "stream_mode": ["values", "delta"]},
    )
    values, rebuilt = replay(events)
    assert rebuilt == values
    assert len(values[""]) == 4
    deltas = [data["ops"] for name, data in events if name == "delta"]
    assert deltas[0] == [{"op": "replace", "path": "", "value": {"steps": ["x"]}}]
    assert deltas[1] == [{"op": "add", "path": "/steps/-", "value": "one"}]  # an append


async def test_delta_when_nested_with_subgraphs_then_each_namespace_is_rebuilt(
    http: httpx.AsyncClient,
) -> None:
    events = await _stream(
        http,
        "/runs/stream",
        {
            "assistant_id": "nested",
            "input": {"steps": []},
            "stream_mode": ["values", "delta", "custom"],
            "stream_subgraphs": True,
        },
    )
    values, rebuilt = replay(events)
    assert rebuilt == values
    subgraphs = [ns for ns in values if ns.startswith("|inner:")]
    assert len(subgraphs) == 1
    assert values[subgraphs[0]][-1]["steps"][-3:] == ["one", "two", "three"]
    assert ("custom|" + subgraphs[0][1:], {"progress": "two"}) in events


async def test_delta_when_chat_messages_then_message_list_is_rebuilt(
    http: httpx.AsyncClient,
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    for text in ("hello", "and again"):
        events = await _stream(
            http,
            f"/threads/{tid}/runs/stream",
            {
                "assistant_id": "chat",
                "input": {"messages": [{"role": "user", "content": text}]},
                "stream_mode": ["values", "delta", "messages-tuple"],
            },
        )
        values, rebuilt = replay(events)
        assert rebuilt == values
    messages = values[""][-1]["messages"]
    assert len(messages) == 4  # two turns on one thread: the second stream starts with a keyframe
    first_ops = next(data["ops"] for name, data in events if name == "delta")
    assert first_ops[0]["path"] == ""


async def test_delta_when_no_values_requested_then_final_state_matches_thread_state(
    http: httpx.AsyncClient,
) -> None:
    tid = (await http.post("/threads", json={})).json()["thread_id"]
    events = await _stream(
        http,
        f"/threads/{tid}/runs/stream",
        {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["delta", "updates"]},
    )
    assert "values" not in [name for name, _ in events]
    state: Any = None
    for name, data in events:
        if name == "delta":
            state = jsonpatch.apply_patch(state, data["ops"])
    assert state == (await http.get(f"/threads/{tid}/state")).json()["values"]


async def test_delta_when_keyframes_repeat_every_two_events_then_still_exact(
    app: Starlette,
) -> None:
    # The executor repeats keyframes so a trimmed log stays resumable; each
    # namespace's stream must remain exact across them.
    services: Services = app.state.services
    graph = await services.registry.get_subgraph("nested")
    body = RunCreate(
        assistant_id="nested",
        input={"steps": []},
        stream_mode=["values", "delta"],
        stream_subgraphs=True,
    )
    run_id = str(uuid.uuid4())
    config = build_config(
        body, thread_id=run_id, run_id=run_id, graph_id="nested", assistant_id="nested"
    )
    run = GraphRun(graph=graph, body=body, config=config, keyframe_every=2)
    events = [(name, jsonable(payload)) async for name, payload in run.events()]
    values, rebuilt = replay(events)
    assert rebuilt == values
    keyframes = [
        name
        for name, data in events
        if _split(name)[0] == "delta" and data["ops"][:1] and data["ops"][0]["path"] == ""
    ]
    assert len(keyframes) > len(values)  # more than the one each namespace starts with
