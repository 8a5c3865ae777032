"""The run-stream details today's clients rely on, against one real server.

* ``Last-Event-ID`` of ``-``, ``-1``, ``0`` and ``0-0`` replays from the start
  (LangGraph's "replay everything" and the React hook's ``joinStream`` default);
* joining a finished run replays its retained events and ends; a reconnect
  after ``end`` is a 204 (what makes a browser ``EventSource`` stop);
* ``join_stream`` honours ``stream_mode`` and keeps subgraph events;
* ``stream_mode="messages"`` (``messages/metadata|partial|complete``) beside
  ``messages-tuple``, and ``stream_mode="events"``;
* ``POST /runs/cancel`` cancels many runs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from langgraph_sdk.schema import StreamPart

from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

CHAT_INPUT: dict[str, Any] = {"messages": [{"role": "user", "content": "hello there"}]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(make_settings(tmp_path_factory.mktemp("run-stream"))) as running:
        yield running


@pytest.fixture
async def sdk(server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=server.url)
    yield client
    await client.aclose()


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def _collect(stream: AsyncIterator[StreamPart]) -> list[StreamPart]:
    return [part async for part in stream]


async def _sse(http: httpx.AsyncClient, url: str, **kwargs: Any) -> tuple[int, list[str]]:
    """Status and the ``id:`` of every event, reading a stream to its end."""
    async with http.stream("GET", url, **kwargs) as response:
        body = (await response.aread()).decode()
    ids = [line[4:] for line in body.split("\r\n") if line.startswith("id: ")]
    return response.status_code, ids


async def _finished_run(http: httpx.AsyncClient) -> tuple[str, list[str]]:
    """A finished run's stream URL and the ids its live stream carried."""
    thread = (await http.post("/threads", json={})).json()
    async with http.stream(
        "POST",
        f"/threads/{thread['thread_id']}/runs/stream",
        json={"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["values"]},
    ) as response:
        body = (await response.aread()).decode()
        location = response.headers["location"]
    ids = [line[4:] for line in body.split("\r\n") if line.startswith("id: ")]
    return location, ids


@pytest.mark.parametrize("cursor", ["-", "-1", "0", "0-0"])
async def test_join_when_last_event_id_means_everything_then_replays_from_start(
    http: httpx.AsyncClient, cursor: str
) -> None:
    location, live_ids = await _finished_run(http)
    status, header_ids = await _sse(http, location, headers={"Last-Event-ID": cursor})
    assert status == 200
    assert header_ids == live_ids
    status, query_ids = await _sse(http, location, params={"last_event_id": cursor})
    assert (status, query_ids) == (200, live_ids)


async def test_join_when_last_event_id_is_garbage_then_422_says_what_to_send(
    http: httpx.AsyncClient,
) -> None:
    location, _ = await _finished_run(http)
    response = await http.get(location, headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert "'-'" in response.json()["detail"]


async def test_join_when_run_finished_then_replays_retained_events_and_ends(
    sdk: LangGraphClient, http: httpx.AsyncClient
) -> None:
    location, live_ids = await _finished_run(http)
    _, tid, _, rid, _ = location.strip("/").split("/")
    parts = await _collect(sdk.runs.join_stream(tid, rid))
    assert parts[0].event == "metadata"
    assert parts[-1].event == "end"
    assert [p.data for p in parts if p.event == "values"][-1] == {"steps": ["one", "two", "three"]}
    # Halfway through, the rest follows; after `end`, nothing is left: 204.
    status, rest = await _sse(http, location, headers={"Last-Event-ID": live_ids[2]})
    assert (status, rest) == (200, live_ids[3:])
    status, after_end = await _sse(http, location, headers={"Last-Event-ID": live_ids[-1]})
    assert (status, after_end) == (204, [])


async def test_join_stream_when_stream_mode_given_then_only_those_modes_and_subgraphs_kept(
    sdk: LangGraphClient,
) -> None:
    """langgraph#7778: a join that names stream_mode dropped subgraph events."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    run = await sdk.runs.create(
        tid,
        "nested",
        input={"steps": []},
        stream_mode=["values", "updates"],
        stream_subgraphs=True,
    )
    await sdk.runs.join(tid, run["run_id"])
    parts = await _collect(sdk.runs.join_stream(tid, run["run_id"], stream_mode="updates"))
    events = [p.event for p in parts]
    assert events[0] == "metadata"
    assert events[-1] == "end"
    assert not any(e.startswith("values") for e in events)
    nested = [e for e in events if e.startswith("updates|inner:")]
    assert len(nested) == 3
    assert events.count("updates") == 2  # before, inner


async def test_join_stream_when_mode_not_streamed_then_422_names_the_runs_modes(
    http: httpx.AsyncClient,
) -> None:
    location, _ = await _finished_run(http)
    response = await http.get(location, params={"stream_mode": "updates"})
    assert response.status_code == 422
    assert "['values']" in response.json()["detail"]


async def test_stream_messages_when_langgraph_server_shape_then_metadata_partials_and_tuples(
    sdk: LangGraphClient,
) -> None:
    parts = await _collect(
        sdk.runs.stream(None, "chat", input=CHAT_INPUT, stream_mode=["messages", "messages-tuple"])
    )
    events = [p.event for p in parts]
    metadata = [p.data for p in parts if p.event == "messages/metadata"]
    partials = [p.data[0] for p in parts if p.event == "messages/partial"]
    tuples = [p.data for p in parts if p.event == "messages"]
    assert len(metadata) == 1
    (message_id,) = metadata[0]
    assert metadata[0][message_id]["metadata"]["langgraph_node"] == "respond"
    assert events.index("messages/metadata") < events.index("messages/partial")
    assert len(partials) == len(tuples) > 1, "one partial per token, beside each tuple"
    contents = [p["content"] for p in partials]
    assert all(a and b.startswith(a) for a, b in itertools.pairwise(contents))
    assert contents[-1] == "".join(chunk[0]["content"] for chunk in tuples)
    assert "hello there" in contents[-1]
    assert {p["id"] for p in partials} == {message_id}
    assert partials[-1]["type"] == "ai"


async def test_stream_messages_when_node_returns_whole_message_then_complete(
    sdk: LangGraphClient,
) -> None:
    """A node's output message arrives whole, not as tokens: messages/complete."""
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    ask: dict[str, Any] = {"messages": [{"role": "user", "content": "please approve"}]}
    await sdk.runs.wait(tid, "agent", input=ask)
    parts = await _collect(
        sdk.runs.stream(tid, "agent", command={"resume": "yes"}, stream_mode="messages")
    )
    complete = [p.data[0] for p in parts if p.event == "messages/complete"]
    assert [m["content"] for m in complete] == ["The request was approved."]
    metadata = [p.data for p in parts if p.event == "messages/metadata"]
    assert [next(iter(m)) for m in metadata] == [complete[0]["id"]]
    assert "messages/partial" not in [p.event for p in parts]


async def test_stream_events_when_requested_then_callback_events_beside_values(
    sdk: LangGraphClient,
) -> None:
    parts = await _collect(
        sdk.runs.stream(None, "chat", input=CHAT_INPUT, stream_mode=["events", "values"])
    )
    kinds = [p.data["event"] for p in parts if p.event == "events"]
    assert "on_chat_model_stream" in kinds
    assert kinds[0] == "on_chain_start"
    assert "on_chain_stream" not in [
        p.data["event"] for p in parts if p.event == "events" and not p.data["parent_ids"]
    ], "the root graph's stream parts are the other modes' events"
    values = [p.data for p in parts if p.event == "values"]
    assert "hello there" in str(values[-1]["messages"][-1]["content"])
    tokens = [
        p.data["data"]["chunk"]["content"]
        for p in parts
        if p.event == "events" and p.data["event"] == "on_chat_model_stream"
    ]
    assert len(tokens) > 1


async def test_cancel_many_when_run_ids_on_thread_then_each_interrupted(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    first = await sdk.runs.create(tid, "slow", input={"sleep_s": 60})
    second = await sdk.runs.create(tid, "slow", input={"sleep_s": 60})
    await sdk.runs.cancel_many(thread_id=tid, run_ids=[first["run_id"], second["run_id"]])
    for run in (first, second):
        await sdk.runs.join(tid, run["run_id"])
        assert (await sdk.runs.get(tid, run["run_id"]))["status"] == "interrupted"


async def test_cancel_many_when_status_running_then_pending_runs_stay(
    sdk: LangGraphClient,
) -> None:
    thread = await sdk.threads.create()
    tid = thread["thread_id"]
    running = await sdk.runs.create(tid, "slow", input={"sleep_s": 60})
    queued = await sdk.runs.create(tid, "slow", input={"sleep_s": 0})
    # Its first event (metadata) is sent once it runs.
    async for part in sdk.runs.join_stream(tid, running["run_id"]):
        assert part.event == "metadata"
        break
    await sdk.runs.cancel_many(thread_id=tid, status="running")
    await sdk.runs.join(tid, queued["run_id"])
    assert (await sdk.runs.get(tid, running["run_id"]))["status"] == "interrupted"
    assert (await sdk.runs.get(tid, queued["run_id"]))["status"] == "success"


async def test_cancel_many_when_nothing_named_or_unknown_run_then_4xx(
    http: httpx.AsyncClient,
) -> None:
    empty = await http.post("/runs/cancel", json={})
    assert empty.status_code == 422
    assert "name the runs" in empty.json()["detail"]
    both = await http.post("/runs/cancel", json={"run_ids": ["x"], "status": "all"})
    assert both.status_code == 422
    missing = await http.post("/runs/cancel", json={"run_ids": ["no-such-run"]})
    assert missing.status_code == 404
    assert missing.json()["code"] == "run_not_found"
    bad_action = await http.post("/runs/cancel?action=explode", json={"status": "all"})
    assert bad_action.status_code == 422
