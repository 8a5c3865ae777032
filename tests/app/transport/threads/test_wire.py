"""The thread streaming protocol on the wire (httpx and websockets, no SDK):
command envelopes and errors, event shapes, cursors, filters, the
WebSocket's commands, and ``GET /threads/{id}/stream``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.settings import EventLogSettings
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

ALL = ["values", "updates", "messages", "tools", "lifecycle", "input", "checkpoints", "tasks"]
ALL_WITH_CUSTOM = [*ALL, "custom"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with run_server(make_settings(tmp_path_factory.mktemp("wire"))) as running:
        yield running


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def command(
    http: httpx.AsyncClient, tid: str, method: str, params: dict[str, Any], cid: int = 1
) -> httpx.Response:
    return await http.post(
        f"/threads/{tid}/commands", json={"id": cid, "method": method, "params": params}
    )


async def start(http: httpx.AsyncClient, tid: str, assistant: str, graph_input: Any) -> str:
    response = await command(
        http, tid, "run.start", {"assistant_id": assistant, "input": graph_input}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "success"
    return str(body["result"]["run_id"])


def _root_end(event: dict[str, Any]) -> bool:
    return (
        event.get("method") == "lifecycle"
        and event["params"]["namespace"] == []
        and event["params"]["data"]["event"] in ("completed", "failed", "interrupted")
    )


async def events_until(
    http: httpx.AsyncClient,
    tid: str,
    body: dict[str, Any],
    *,
    runs: int = 1,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Protocol events (and error frames) until ``runs`` runs have ended."""
    seen: list[dict[str, Any]] = []
    async with http.stream(
        "POST", f"/threads/{tid}/stream/events", json=body, headers=headers
    ) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = orjson.loads(line[6:])
            seen.append(event)
            if event.get("type") == "error" or (_root_end(event) and (runs := runs - 1) == 0):
                return seen
    return seen


def _ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


# -- commands ------------------------------------------------------------------


async def test_commands_when_unknown_or_malformed_then_4xx_envelopes_say_what_to_fix(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    unknown = await command(http, tid, "run.explode", {}, cid=7)
    assert unknown.status_code == 400
    assert unknown.json()["type"] == "error"
    assert unknown.json()["id"] == 7
    assert unknown.json()["error"] == unknown.json()["code"] == "unknown_command"
    assert "run.start" in unknown.json()["detail"]
    missing = await command(http, tid, "run.start", {"input": {}})
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_argument")
    assert "assistant_id" in missing.json()["message"]
    extra = await command(http, tid, "run.start", {"assistant_id": "steps", "nope": 1})
    assert "nope" in extra.json()["message"]
    garbage = await http.post(f"/threads/{tid}/commands", content=b"{not json")
    assert (garbage.status_code, garbage.json()["error"]) == (400, "invalid_argument")
    over_http = await command(http, tid, "subscription.subscribe", {"channels": ["values"]})
    assert (over_http.status_code, over_http.json()["error"]) == (400, "not_supported")
    no_graph = await command(http, tid, "run.start", {"assistant_id": "nope", "input": {}})
    assert no_graph.status_code == 404


async def test_stream_events_when_thread_unknown_or_channel_bad_then_404_422(
    http: httpx.AsyncClient,
) -> None:
    missing = await http.post(f"/threads/{uuid.uuid4()}/stream/events", json={"channels": ALL})
    assert (missing.status_code, missing.json()["code"]) == (404, "thread_not_found")
    tid = str(uuid.uuid4())
    await start(http, tid, "steps", {"steps": []})
    bad = await http.post(f"/threads/{tid}/stream/events", json={"channels": ["gossip"]})
    assert bad.status_code == 422
    assert "custom:<name>" in bad.json()["detail"]


async def test_interrupt_when_requested_then_input_channel_and_respond_by_id(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    await start(http, tid, "agent", _ask("please approve"))
    first = await events_until(http, tid, {"channels": ["lifecycle", "input"]})
    (requested,) = [e for e in first if e["method"] == "input.requested"]
    data = requested["params"]["data"]
    assert data["payload"] == data["value"] == {"question": "approve?"}
    assert first[-1]["params"]["data"]["event"] == "interrupted"
    wrong = await command(
        http, tid, "input.respond", {"namespace": [], "interrupt_id": "nope", "response": "yes"}
    )
    assert (wrong.status_code, wrong.json()["error"]) == (404, "no_such_interrupt")
    assert data["interrupt_id"] in wrong.json()["message"]
    answer = {"namespace": [], "interrupt_id": data["interrupt_id"], "response": "yes"}
    assert (await command(http, tid, "input.respond", answer)).status_code == 200
    after = await events_until(http, tid, {"channels": ["lifecycle", "values"]})
    assert after[-1]["params"]["data"]["event"] == "completed"
    assert after[-2]["params"]["data"]["approved"] is True


# -- cursors -------------------------------------------------------------------


async def test_since_when_cursor_mid_run_then_rest_without_gap(http: httpx.AsyncClient) -> None:
    tid = str(uuid.uuid4())
    await start(http, tid, "agent", _ask("hello there"))
    everything = await events_until(http, tid, {"channels": ALL_WITH_CUSTOM})
    middle = everything[len(everything) // 2]
    rest = await events_until(http, tid, {"channels": ALL_WITH_CUSTOM, "since": middle["seq"]})
    ids = [e["event_id"] for e in everything]
    resumed = [e["event_id"] for e in rest]
    assert resumed == ids[ids.index(resumed[0]) :], "the tail, in order"
    assert ids.index(resumed[0]) <= ids.index(middle["event_id"]) + 1, "nothing skipped"
    assert all(e["seq"] >= middle["seq"] // 1000 * 1000 for e in rest)
    by_header = await events_until(
        http, tid, {"channels": ALL_WITH_CUSTOM}, headers={"Last-Event-ID": middle["event_id"]}
    )
    assert [e["event_id"] for e in by_header] == resumed


async def test_since_zero_when_two_runs_then_both_replayed_in_order(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    first = await start(http, tid, "steps", {"steps": []})
    await events_until(http, tid, {"channels": ["lifecycle"]})
    second = await start(http, tid, "steps", {"steps": ["again"]})
    latest = await events_until(http, tid, {"channels": ["lifecycle"]})
    assert [e["params"]["data"]["run_id"] for e in latest] == [second, second]
    both = await events_until(http, tid, {"channels": ["lifecycle"], "since": 0}, runs=2)
    assert [e["params"]["data"]["run_id"] for e in both] == [first, first, second, second]
    seqs = [e["seq"] for e in both]
    assert seqs == sorted(seqs)


async def test_since_when_history_trimmed_then_resume_gap_error(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = make_settings(tmp_path_factory.mktemp("gap"), events=EventLogSettings(max_events=4))
    with run_server(settings) as small:
        async with httpx.AsyncClient(base_url=small.url, timeout=30) as http:
            tid = str(uuid.uuid4())
            run_id = await start(http, tid, "steps", {"steps": []})
            await http.get(f"/threads/{tid}/runs/{run_id}/join")  # ended: nothing trims now
            # Without a cursor: what is retained (the run's end, at least).
            seen = await events_until(http, tid, {"channels": ["lifecycle"]})
            assert seen[-1]["params"]["data"]["event"] == "completed"
            # A cursor before the oldest retained event: a gap, said as such.
            gap = await events_until(http, tid, {"channels": ALL, "since": 1})
    assert gap[-1]["type"] == "error"
    assert gap[-1]["error"] == "resume_gap"
    assert "re-read the thread state" in gap[-1]["message"]


# -- filters, subgraphs, tree --------------------------------------------------


async def test_filter_when_namespaces_and_depth_then_only_that_subgraph(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    await start(http, tid, "nested", {"steps": []})
    everything = await events_until(http, tid, {"channels": ["updates", "lifecycle"]})
    inner = [e for e in everything if e["params"]["namespace"]]
    assert {e["params"]["namespace"][0].partition(":")[0] for e in inner} == {"inner"}
    lifecycle = [e["params"]["data"]["event"] for e in inner if e["method"] == "lifecycle"]
    assert lifecycle == ["started", "completed"]
    root = {"channels": ["updates", "lifecycle"], "namespaces": [[]], "depth": 0}
    root_only = await events_until(http, tid, root)
    assert all(e["params"]["namespace"] == [] for e in root_only)
    assert len(root_only) == len(everything) - len(inner)
    scoped = {"channels": ["updates"], "namespaces": [["inner"]]}
    async with http.stream("POST", f"/threads/{tid}/stream/events", json=scoped) as response:
        lines = []
        async for line in response.aiter_lines():
            if line.startswith("data: "):
                lines.append(orjson.loads(line[6:]))
            if len(lines) == 3:
                break
    assert [list(e["params"]["data"]) for e in lines] == [["one"], ["two"], ["three"]]

    tree = (await command(http, tid, "agent.getTree", {})).json()["result"]["tree"]
    assert tree["status"] == "completed"
    assert tree["graph_name"] == "nested"
    assert [c["graph_name"] for c in tree["children"]] == ["inner"]
    assert tree["children"][0]["status"] == "completed"


async def test_state_commands_when_fork_from_checkpoint_then_new_branch(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    await start(http, tid, "steps", {"steps": ["a"]})
    seen = await events_until(http, tid, {"channels": ["lifecycle", "checkpoints"]})
    envelopes = [e["params"]["data"] for e in seen if e["method"] == "checkpoints"]
    # The protocol's envelope, what the JS client forks from; chained by parent_id.
    assert [c["step"] for c in envelopes] == [-1, 0, 1, 2, 3]
    assert all(set(c) <= {"id", "parent_id", "step", "source"} for c in envelopes)
    assert [c.get("parent_id") for c in envelopes[1:]] == [c["id"] for c in envelopes[:-1]]
    state = (await command(http, tid, "state.get", {"namespace": []})).json()["result"]
    assert state["values"]["steps"] == ["a", "one", "two", "three"]
    listed = await command(http, tid, "state.listCheckpoints", {"limit": 10})
    checkpoints = listed.json()["result"]["checkpoints"]
    assert [c["step"] for c in checkpoints][:2] == [3, 2]
    first_input = next(c for c in checkpoints if c["step"] == -1)
    forked = await command(
        http, tid, "state.fork", {"checkpoint_id": first_input["id"], "input": {"steps": ["b"]}}
    )
    assert forked.status_code == 200, forked.text
    assert forked.json()["result"]["thread_id"] == tid
    await events_until(http, tid, {"channels": ["lifecycle"]})
    after = (await command(http, tid, "state.get", {"namespace": []})).json()["result"]
    assert after["values"]["steps"] == ["b", "one", "two", "three"]
    missing = await command(http, tid, "state.fork", {"checkpoint_id": "nope"})
    assert (missing.status_code, missing.json()["error"]) == (404, "no_such_checkpoint")


# -- WebSocket -----------------------------------------------------------------


async def _ws_until(socket: ClientConnection, done: Any) -> list[dict[str, Any]]:
    seen = []
    while True:
        message = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
        seen.append(message)
        if done(message):
            return seen


async def test_ws_when_commands_over_the_socket_then_envelopes_and_events(
    server: RunningServer,
) -> None:
    """The JavaScript SDK sends every command on the socket, run.start included."""
    tid = str(uuid.uuid4())
    url = f"ws://127.0.0.1:{server.port}/threads/{tid}/stream/events"
    async with connect(url) as socket:
        subscribe = {"id": 1, "method": "subscription.subscribe", "params": {"channels": ALL}}
        await socket.send(orjson.dumps(subscribe).decode())
        (ack,) = await _ws_until(socket, lambda m: m.get("id") == 1)
        assert ack["type"] == "success"
        assert ack["result"]["subscription_id"]
        run = {"id": 2, "method": "run.start", "params": {"assistant_id": "steps", "input": {}}}
        await socket.send(orjson.dumps(run).decode())
        seen = await _ws_until(socket, _root_end)
        started = next(m for m in seen if m.get("id") == 2)
        assert started["result"]["run_id"]
        events = [m for m in seen if m.get("type") == "event"]
        assert [e["params"]["data"] for e in events if e["method"] == "values"][-1] == {
            "steps": ["one", "two", "three"]
        }
        bad = {"id": 3, "method": "subscription.unsubscribe", "params": {"subscription_id": "x"}}
        await socket.send(orjson.dumps(bad).decode())
        (error,) = await _ws_until(socket, lambda m: m.get("id") == 3)
        assert error["error"] == "no_such_subscription"
        await socket.send("not json")
        (garbled,) = await _ws_until(socket, lambda m: m.get("type") == "error")
        assert garbled["id"] is None


async def test_ws_when_reconnect_from_last_event_id_then_replays_after_it(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    tid = str(uuid.uuid4())
    await start(http, tid, "steps", {"steps": []})
    everything = await events_until(http, tid, {"channels": ["values", "lifecycle"]})
    url = f"ws://127.0.0.1:{server.port}/threads/{tid}/stream/events"
    async with connect(url) as socket:
        params = {"channels": ["values", "lifecycle"], "since": everything[-1]["seq"] + 1000}
        await socket.send(
            orjson.dumps({"id": 1, "method": "subscription.subscribe", "params": params}).decode()
        )
        await _ws_until(socket, lambda m: m.get("id") == 1)
        cursor = everything[2]["event_id"]
        reconnect = {
            "id": 2,
            "method": "subscription.reconnect",
            "params": {"run_id": "any", "last_event_id": cursor},
        }
        await socket.send(orjson.dumps(reconnect).decode())
        seen = await _ws_until(socket, _root_end)
    assert next(m for m in seen if m.get("id") == 2)["result"] == {"restored": True}
    replayed = [m["event_id"] for m in seen if m.get("type") == "event"]
    ids = [e["event_id"] for e in everything]
    assert replayed == ids[ids.index(replayed[0]) :]
    assert ids.index(replayed[0]) <= 3


async def test_ws_when_history_gone_then_error_and_close_4410(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = make_settings(
        tmp_path_factory.mktemp("ws-gap"), events=EventLogSettings(max_events=4)
    )
    with run_server(settings) as small:
        async with httpx.AsyncClient(base_url=small.url, timeout=30) as http:
            tid = str(uuid.uuid4())
            run_id = await start(http, tid, "steps", {"steps": []})
            await http.get(f"/threads/{tid}/runs/{run_id}/join")
        url = f"ws://127.0.0.1:{small.port}/threads/{tid}/stream/events"
        async with connect(url) as socket:
            params = {"channels": ALL, "since": 1}
            await socket.send(
                orjson.dumps(
                    {"id": 1, "method": "subscription.subscribe", "params": params}
                ).decode()
            )
            messages = [orjson.loads(await asyncio.wait_for(socket.recv(), 30)) for _ in "ab"]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), 30)
    assert messages[0]["type"] == "success"
    assert messages[1]["error"] == "resume_gap"
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4410


# -- GET /threads/{id}/stream -------------------------------------------------------


async def _join(
    http: httpx.AsyncClient, tid: str, count: int, **kwargs: Any
) -> list[tuple[str, str, Any]]:
    """The first ``count`` (id, event, data) of a thread join."""
    frames: list[tuple[str, str, Any]] = []
    current: dict[str, str] = {}
    async with http.stream("GET", f"/threads/{tid}/stream", **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        async for line in response.aiter_lines():
            if line.startswith(("id: ", "event: ", "data: ")):
                name, _, value = line.partition(": ")
                current[name] = value
            elif not line and "data" in current:
                frames.append((current["id"], current["event"], orjson.loads(current["data"])))
                current = {}
                if len(frames) == count:
                    return frames
    return frames


async def _background(http: httpx.AsyncClient, tid: str, steps: list[str]) -> str:
    """A run created through the run API (values only), on a thread made if need be."""
    body = {"assistant_id": "steps", "input": {"steps": steps}, "if_not_exists": "create"}
    response = await http.post(f"/threads/{tid}/runs", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["run_id"])


async def test_thread_join_when_modes_then_run_events_run_done_and_states(
    http: httpx.AsyncClient,
) -> None:
    tid = str(uuid.uuid4())
    run_id = await _background(http, tid, [])
    everything = await _join(http, tid, 6)
    assert [name for _, name, _ in everything] == ["metadata", *["values"] * 4, "run_done"]
    assert everything[-1][2] == {"run_id": run_id, "status": "success"}
    lifecycle = await _join(http, tid, 2, params={"stream_mode": "lifecycle"})
    assert [name for _, name, _ in lifecycle] == ["metadata", "run_done"]
    states = await _join(http, tid, 4, params={"stream_mode": "state_update"})
    assert [data for _, _, data in states][-1] == {"steps": ["one", "two", "three"]}
    rest = await _join(http, tid, 2, headers={"Last-Event-ID": everything[3][0]})
    assert rest == everything[4:]
    bad = await http.get(f"/threads/{tid}/stream", params={"stream_mode": "gossip"})
    assert bad.status_code == 422


async def test_thread_join_when_next_run_starts_then_it_follows(http: httpx.AsyncClient) -> None:
    tid = str(uuid.uuid4())
    first = await _background(http, tid, [])
    joined = asyncio.ensure_future(_join(http, tid, 4, params={"stream_mode": "lifecycle"}))
    await http.get(f"/threads/{tid}/runs/{first}/join")
    second = await _background(http, tid, ["b"])
    frames = await asyncio.wait_for(joined, 30)
    assert [(name, data["run_id"]) for _, name, data in frames] == [
        ("metadata", first),
        ("run_done", first),
        ("metadata", second),
        ("run_done", second),
    ]
