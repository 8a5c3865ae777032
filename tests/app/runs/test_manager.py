"""The run path's fast paths keep everything a client can observe.

* A stateless run that is not kept stores nothing (no thread, run or
  checkpoint in SQLite), yet it is read, joined, cancelled, deleted and its
  stream resumed like any run, while it runs and after it ended, and
  ``interrupt()`` works inside it.
* Its events are the events the stored path produces for the same input
  (a kept stateless run still takes the stored path: the reference).
* Stateful runs leave the thread's cached values, status and interrupts as
  the checkpointer has them, whichever way the run ended.
* SSE frames are byte for byte what sse-starlette's ``ServerSentEvent`` encodes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from sse_starlette import ServerSentEvent
from starlette.applications import Starlette

from app import serde
from app.events import Event
from app.main import create_app
from app.services import Services
from app.settings import RunSettings
from app.transport.sse import frame
from tests.conftest import make_settings

SLOW = {"assistant_id": "slow", "input": {"sleep_s": 600}, "stream_mode": ["values", "updates"]}


def _services(app: Starlette) -> Services:
    services: Services = app.state.services
    return services


def _events(body: bytes) -> list[tuple[str, Any, str | None]]:
    """(event, data, id) of every SSE event in a body; heartbeats skipped."""
    parsed: list[tuple[str, Any, str | None]] = []
    for block in body.decode().split("\r\n\r\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\r\n") if ": " in line)
        if "event" in fields:
            parsed.append((fields["event"], orjson.loads(fields["data"]), fields.get("id")))
    return parsed


async def _started(app: Starlette, run_id: str) -> list[str]:
    """Read the run's log until its ``metadata`` event: the run is running then."""
    seen: list[str] = []
    async for event in _services(app).runs.read_events(run_id):
        seen.append(event.id)
        if event.event == "metadata":
            break
    return seen


async def _nothing_stored(app: Starlette, thread_id: str, run_id: str) -> None:
    storage = _services(app).storage
    assert await storage.threads.get(thread_id) is None
    assert await storage.runs.get(run_id) is None
    config: Any = {"configurable": {"thread_id": thread_id, "checkpoint_ns": ""}}
    assert await storage.checkpointer.aget_tuple(config) is None


@pytest.fixture
async def running(app: Starlette, client: httpx.AsyncClient) -> AsyncIterator[dict[str, Any]]:
    """A stateless background run of ``slow`` that is executing (until cancelled)."""
    response = await client.post("/runs", json=SLOW)
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    await _started(app, run["run_id"])
    yield run
    if _services(app).runs.is_active(run["run_id"]):
        await _services(app).runs.cancel(run["thread_id"], run["run_id"], wait=True)


async def test_stateless_run_when_running_then_answered_from_memory_and_nothing_stored(
    app: Starlette, client: httpx.AsyncClient, running: dict[str, Any]
) -> None:
    url = f"/threads/{running['thread_id']}/runs/{running['run_id']}"
    got = await client.get(url)
    assert got.status_code == 200
    assert got.json()["status"] == "running"
    assert got.json()["kwargs"]["stream_mode"] == ["values", "updates"]
    assert got.json()["created_at"] == running["created_at"]
    await _nothing_stored(app, running["thread_id"], running["run_id"])
    # On another thread it is not found.
    other = f"/threads/00000000-0000-0000-0000-000000000000/runs/{running['run_id']}"
    assert (await client.get(other)).status_code == 404


async def test_stateless_run_when_cancelled_then_final_status_join_and_resume_from_memory(
    app: Starlette, client: httpx.AsyncClient, running: dict[str, Any]
) -> None:
    url = f"/threads/{running['thread_id']}/runs/{running['run_id']}"
    cancelled = await client.post(url + "/cancel", params={"wait": "true"})
    assert cancelled.status_code == 204
    assert (await client.get(url)).json()["status"] == "interrupted"
    assert (await client.post(url + "/cancel")).status_code == 202  # finished: a no-op
    joined = await client.get(url + "/join")
    assert joined.status_code == 200
    assert orjson.loads(joined.content) == {"sleep_s": 600}
    everything = _events((await client.get(url + "/stream")).content)
    assert [e[0] for e in everything] == ["metadata", "values", "error", "end"]
    assert everything[2][1]["error"] == "RunCancelled"
    resumed = await client.get(url + "/stream", headers={"Last-Event-ID": everything[1][2] or ""})
    assert _events(resumed.content) == everything[2:]
    await _nothing_stored(app, running["thread_id"], running["run_id"])


async def test_stateless_stream_when_finished_then_location_replays_after_last_event_id(
    client: httpx.AsyncClient,
) -> None:
    body = {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["updates", "custom"]}
    response = await client.post("/runs/stream", json=body)
    streamed = _events(response.content)
    names = [e[0] for e in streamed]
    assert names == ["metadata", "updates", "custom", "updates", "updates", "end"]
    location = response.headers["location"]
    resumed = await client.get(location, headers={"Last-Event-ID": streamed[2][2] or ""})
    assert _events(resumed.content) == streamed[3:]
    run = await client.get(response.headers["content-location"])
    assert run.json()["status"] == "success"
    joined = await client.get(response.headers["content-location"] + "/join")
    assert orjson.loads(joined.content) == {"steps": ["one", "two", "three"]}
    # Nothing of it went to the thread store.
    assert (await client.post("/threads/count", json={})).json() == 0


async def test_stateless_run_when_deleted_then_gone_with_its_events(
    client: httpx.AsyncClient, running: dict[str, Any]
) -> None:
    url = f"/threads/{running['thread_id']}/runs/{running['run_id']}"
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert (await client.get(url + "/stream")).status_code == 404


async def test_join_when_stateless_result_no_longer_retained_then_404(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, runs=RunSettings(recent_outputs=1))
    application = create_app(settings)
    async with (
        application.router.lifespan_context(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://switchyard"
        ) as client,
    ):
        body = {"assistant_id": "steps", "input": {"steps": []}}
        first = await client.post("/runs/wait", json=body)
        await client.post("/runs/wait", json=body)
        url = first.headers["content-location"]
        assert (await client.get(url)).json()["status"] == "success"  # still found
        joined = await client.get(url + "/join")
        assert joined.status_code == 404
        assert "no longer retained" in joined.json()["detail"]


async def test_interrupt_when_inside_stateless_run_then_streamed_and_run_succeeds(
    client: httpx.AsyncClient,
) -> None:
    body = {"assistant_id": "approval", "input": {"draft": "post"}, "stream_mode": "updates"}
    response = await client.post("/runs/stream", json=body)
    events = _events(response.content)
    assert [e[0] for e in events] == ["metadata", "updates", "updates", "end"]
    interrupt = events[2][1]["__interrupt__"]
    assert interrupt[0]["value"] == {"question": "approve?", "draft": "draft of post"}
    assert (await client.get(response.headers["content-location"])).json()["status"] == "success"
    waited = orjson.loads((await client.post("/runs/wait", json=body)).content)
    assert waited["draft"] == "draft of post"
    assert waited["__interrupt__"][0]["value"] == interrupt[0]["value"]
    kept = await client.post("/runs/wait", json={**body, "on_completion": "keep"})
    assert _comparable([("wait", orjson.loads(kept.content), None)]) == _comparable(
        [("wait", waited, None)]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["values", "delta"]},
        {
            "assistant_id": "nested",
            "input": {"steps": []},
            "stream_mode": ["updates", "custom", "debug", "values"],
            "stream_subgraphs": True,
        },
        {
            "assistant_id": "nested",
            "input": {"steps": []},
            "stream_mode": ["updates", "custom", "values"],
            "stream_subgraphs": True,
        },
        {"assistant_id": "approval", "input": {"draft": "x"}, "stream_mode": ["values", "updates"]},
        {"assistant_id": "failing", "input": {"value": 1}, "stream_mode": "updates"},
        {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["checkpoints"]},
        {
            "assistant_id": "steps",
            "input": {"steps": []},
            "stream_mode": ["updates", "values"],
            "interrupt_before": ["two"],
        },
        {
            "assistant_id": "chat",
            "input": {"messages": [{"role": "user", "content": "hi"}]},
            "stream_mode": ["messages-tuple", "values", "updates"],
        },
    ],
    ids=[
        "steps",
        "nested-debug",
        "nested",
        "approval",
        "failing",
        "checkpoints",
        "breakpoint",
        "chat",
    ],
)
async def test_stateless_events_when_not_kept_then_same_as_stored_path(
    client: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    memory = _events((await client.post("/runs/stream", json=body)).content)
    kept = {**body, "on_completion": "keep"}
    stored = _events((await client.post("/runs/stream", json=kept)).content)
    assert _comparable(memory) == _comparable(stored)


def _comparable(events: list[tuple[str, Any, str | None]]) -> list[tuple[str, Any]]:
    """Events without what differs between two runs: ids, run/thread ids, timestamps."""
    volatile = {"run_id", "thread_id", "id", "task_id", "timestamp", "checkpoint_id", "config"}
    volatile |= {"parent_config", "checkpoint", "parent_checkpoint", "checkpoint_ns", "parents"}

    def scrub(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scrub(v) for k, v in value.items() if k not in volatile}
        if isinstance(value, list):
            return [scrub(v) for v in value]
        if isinstance(value, str) and value.count(":") == 1 and len(value) > 36:
            return value.split(":")[0]  # "node:<task id>" in namespaces
        return value

    return [(name.split(":")[0], scrub(data)) for name, data, _ in events]


# -- stateful runs: the thread's cached values, status and interrupts ---------


async def _thread_matches_checkpoint(client: httpx.AsyncClient, thread_id: str) -> dict[str, Any]:
    """The cached thread equals what the checkpointer says (``/state`` reads it)."""
    thread = (await client.get(f"/threads/{thread_id}")).json()
    state = (await client.get(f"/threads/{thread_id}/state")).json()
    assert thread["values"] == state["values"]
    pending = {t["id"]: t["interrupts"] for t in state["tasks"] if t["interrupts"]}
    assert thread["interrupts"] == pending
    expected = "interrupted" if pending else "idle"
    assert thread["status"] in (expected, "error")
    result: dict[str, Any] = thread
    return result


async def _on_thread(client: httpx.AsyncClient, thread_id: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/threads/{thread_id}/runs/wait", json=body)
    assert response.status_code == 200, response.text
    return orjson.loads(response.content)


async def _new_thread(client: httpx.AsyncClient) -> str:
    thread_id: str = (await client.post("/threads", json={})).json()["thread_id"]
    return thread_id


async def test_thread_when_stateful_runs_succeed_then_cached_values_are_the_checkpoint(
    client: httpx.AsyncClient,
) -> None:
    tid = await _new_thread(client)
    once = ["x", "one", "two", "three"]
    for graph, steps in (("steps", once), ("steps", once * 2), ("nested", None)):
        await _on_thread(client, tid, {"assistant_id": graph, "input": {"steps": ["x"]}})
        thread = await _thread_matches_checkpoint(client, tid)
        assert thread["status"] == "idle"
        if steps is not None:
            assert thread["values"] == {"steps": steps}


async def test_thread_when_run_interrupts_then_interrupted_and_resume_makes_it_idle(
    client: httpx.AsyncClient,
) -> None:
    tid = await _new_thread(client)
    await _on_thread(client, tid, {"assistant_id": "approval", "input": {"draft": "post"}})
    thread = await _thread_matches_checkpoint(client, tid)
    assert thread["status"] == "interrupted"
    (interrupts,) = thread["interrupts"].values()
    assert interrupts[0]["value"] == {"question": "approve?", "draft": "draft of post"}
    resumed = {"assistant_id": "approval", "command": {"resume": True}}
    assert (await _on_thread(client, tid, resumed))["result"] == "published"
    thread = await _thread_matches_checkpoint(client, tid)
    assert thread["status"] == "idle"
    assert thread["interrupts"] == {}


async def test_thread_when_static_breakpoint_then_same_as_checkpoint(
    client: httpx.AsyncClient,
) -> None:
    tid = await _new_thread(client)
    body = {"assistant_id": "steps", "input": {"steps": []}, "interrupt_before": ["two"]}
    await _on_thread(client, tid, body)
    thread = await _thread_matches_checkpoint(client, tid)
    assert thread["values"] == {"steps": ["one"]}
    assert (await client.get(f"/threads/{tid}/state")).json()["next"] == ["two"]


async def test_thread_when_run_fails_or_is_cancelled_then_status_from_checkpoint(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    tid = await _new_thread(client)
    await _on_thread(client, tid, {"assistant_id": "steps", "input": {"steps": []}})
    await _on_thread(client, tid, {"assistant_id": "failing", "input": {"value": 1}})
    thread = await _thread_matches_checkpoint(client, tid)
    assert thread["status"] == "error"
    run = (await client.post(f"/threads/{tid}/runs", json=SLOW)).json()
    await _started(app, run["run_id"])
    url = f"/threads/{tid}/runs/{run['run_id']}/cancel"
    assert (await client.post(url, params={"wait": "true"})).status_code == 204
    thread = await _thread_matches_checkpoint(client, tid)
    assert thread["status"] == "idle"
    assert thread["values"] == {"sleep_s": 600}


async def test_rollback_when_run_is_running_then_restarts_from_its_start_checkpoint(
    app: Starlette, client: httpx.AsyncClient
) -> None:
    tid = await _new_thread(client)
    await _on_thread(client, tid, {"assistant_id": "steps", "input": {"steps": ["a"]}})
    before = (await client.get(f"/threads/{tid}/state")).json()
    first = (await client.post(f"/threads/{tid}/runs", json=SLOW)).json()
    await _started(app, first["run_id"])
    body = {"assistant_id": "steps", "input": {"steps": ["b"]}, "multitask_strategy": "rollback"}
    after = await _on_thread(client, tid, body)
    assert after == {"steps": ["a", "one", "two", "three", "b", "one", "two", "three"]}
    assert (await client.get(f"/threads/{tid}/runs/{first['run_id']}")).status_code == 404
    history = (await client.post(f"/threads/{tid}/history", json={"limit": 100})).json()
    parents = {h["checkpoint"]["checkpoint_id"]: h["parent_checkpoint"] for h in history}
    # The rolled-back run's own first checkpoint hangs off the state it started from.
    assert before["checkpoint"]["checkpoint_id"] in {
        (p or {}).get("checkpoint_id") for p in parents.values()
    }
    await _thread_matches_checkpoint(client, tid)


# -- SSE framing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("metadata", {"run_id": "r", "attempt": 1}),
        ("updates|inner:6f1c", {"one": {"steps": ["é", "日本", "\n", "\r\n", "\u2028"]}}),
        ("end", None),
        ("messages", [{"content": "line one\nline two"}, {"emoji": "\U0001f600"}]),
    ],
)
def test_frame_when_one_line_json_then_bytes_equal_server_sent_event(name: str, data: Any) -> None:
    event = Event("1700000000000-3", name, serde.dumps(data))
    reference = ServerSentEvent(data=event.data.decode(), event=name, id=event.id).encode()
    assert frame(event) == reference


@pytest.mark.parametrize(
    ("name", "data"),
    [("odd\nname", b'{"a":1}'), ("values", b'{"a":\n1}'), ("values", b'{"a":\r1}')],
)
def test_frame_when_not_one_line_then_framed_by_server_sent_event(name: str, data: bytes) -> None:
    event = Event("1-0", name, data)
    reference = ServerSentEvent(data=data.decode(), event=name, id=event.id).encode()
    assert frame(event) == reference
