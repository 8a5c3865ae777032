"""``WS /ws`` with a real WebSocket client (``websockets``) against a real server."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app.settings import WebSocketSettings
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

STEPS_MODES = ["values", "updates", "custom"]
Message = dict[str, Any]


@asynccontextmanager
async def ws_client(server: RunningServer, **options: Any) -> AsyncIterator[ClientConnection]:
    async with connect(f"ws://127.0.0.1:{server.port}/ws", **options) as socket:
        yield socket


async def send(socket: ClientConnection, message: Message) -> None:
    await socket.send(json.dumps(message))


async def receive(socket: ClientConnection) -> Message:
    async with asyncio.timeout(30):
        message: Message = json.loads(await socket.recv())
        return message


async def until_closed(socket: ClientConnection) -> tuple[list[Message], ConnectionClosed]:
    """Every message up to the close, and the close itself."""
    messages: list[Message] = []
    async with asyncio.timeout(30):
        while True:
            try:
                messages.append(json.loads(await socket.recv()))
            except ConnectionClosed as closed:
                return messages, closed


def close_of(closed: ConnectionClosed) -> tuple[int, str]:
    """The code and reason of the close frame the server sent."""
    assert closed.rcvd is not None, "the server sent no close frame"
    return closed.rcvd.code, closed.rcvd.reason


async def until(socket: ClientConnection, kind: str, **fields: Any) -> list[Message]:
    """Messages up to and including the first of ``kind`` with ``fields``."""
    seen: list[Message] = []
    while True:
        message = await receive(socket)
        seen.append(message)
        if message["type"] == kind and all(message.get(k) == v for k, v in fields.items()):
            return seen


def events(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m["type"] == "event"]


def statuses(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m["type"] == "status"]


async def ping(socket: ClientConnection) -> None:
    """Round trip: every message sent before it has been handled by the server."""
    await send(socket, {"type": "ping"})
    assert await receive(socket) == {"type": "pong"}


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def new_thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/threads", json={})
    thread_id: str = response.json()["thread_id"]
    return thread_id


async def start_run(http: httpx.AsyncClient, thread_id: str, body: Message) -> str:
    response = await http.post(f"/threads/{thread_id}/runs", json=body)
    assert response.status_code == 200, response.text
    run_id: str = response.json()["run_id"]
    return run_id


async def test_ping_when_sent_then_pong_and_socket_stays_open(server: RunningServer) -> None:
    async with ws_client(server) as socket:
        await ping(socket)
        await ping(socket)


async def test_run_when_steps_then_events_statuses_with_progress_and_close_1000(
    server: RunningServer,
) -> None:
    async with ws_client(server) as socket:
        await send(
            socket,
            {
                "type": "run",
                "assistant_id": "steps",
                "input": {"steps": []},
                "stream_mode": STEPS_MODES,
            },
        )
        messages, closed = await until_closed(socket)

    assert close_of(closed)[0] == 1000
    run_id = messages[0]["run_id"]
    assert all(m["run_id"] == run_id for m in messages)
    names = [m["event"] for m in events(messages)]
    assert names[0] == "metadata"
    assert names[-1] == "end"
    assert names.count("updates") == 3
    assert {"progress": "two"} in [m["data"] for m in events(messages) if m["event"] == "custom"]
    values = [m["data"] for m in events(messages) if m["event"] == "values"]
    assert values[-1] == {"steps": ["one", "two", "three"]}
    progress = [(s["status"], s["progress"]) for s in statuses(messages)]
    assert progress == [
        ("pending", 0.0),
        ("running", 0.0),
        ("running", pytest.approx(1 / 3)),
        ("running", pytest.approx(2 / 3)),
        ("running", 1.0),
        ("success", 1.0),
    ]
    assert messages[-1]["type"] == "status"
    assert messages[-1]["error"] is None
    assert messages[-1]["execution_time"] > 0
    # The final status comes after the run's last event.
    assert messages.index(events(messages)[-1]) < len(messages) - 1


async def test_run_when_modes_cannot_show_node_completion_then_progress_null(
    server: RunningServer,
) -> None:
    async with ws_client(server) as socket:
        await send(socket, {"type": "run", "assistant_id": "steps", "input": {"steps": []}})
        messages, _ = await until_closed(socket)
    assert [s["status"] for s in statuses(messages)] == ["pending", "running", "success"]
    assert {s["progress"] for s in statuses(messages)} == {None}


async def test_run_when_graph_fails_then_error_event_and_status_error(
    server: RunningServer,
) -> None:
    async with ws_client(server) as socket:
        await send(socket, {"type": "run", "assistant_id": "failing", "input": {"value": 1}})
        messages, closed = await until_closed(socket)
    assert close_of(closed)[0] == 1000
    assert [m["event"] for m in events(messages)][-2:] == ["error", "end"]
    final = messages[-1]
    assert final["type"] == "status"
    assert final["status"] == "error"
    assert "boom" in final["error"]["message"]


async def test_subscribe_when_three_watchers_then_each_gets_every_event_once(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    thread_id = await new_thread(http)
    # A slow run holds the thread, so the watched run is still pending while
    # the three sockets subscribe; it starts only when the blocker is cancelled.
    blocker = await start_run(http, thread_id, {"assistant_id": "slow", "input": {"sleep_s": 60}})
    watched = await start_run(
        http,
        thread_id,
        {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": STEPS_MODES},
    )
    async with ws_client(server) as a, ws_client(server) as b, ws_client(server) as c:
        for socket in (a, b, c):
            await send(socket, {"type": "subscribe", "run_id": watched})
            await ping(socket)  # the subscription is in place before the run starts
        cancel = await http.post(f"/threads/{thread_id}/runs/{blocker}/cancel")
        assert cancel.status_code == 202
        seen = [await until_closed(socket) for socket in (a, b, c)]

    ids = [[m["id"] for m in events(messages)] for messages, _ in seen]
    assert ids[0] == ids[1] == ids[2]
    assert len(set(ids[0])) == len(ids[0])
    first = events(seen[0][0])
    assert first[0]["event"] == "metadata"
    assert first[-1]["event"] == "end"
    assert [m["data"] for m in events(seen[1][0])] == [m["data"] for m in first]
    for messages, closed in seen:
        assert statuses(messages)[-1]["status"] == "success"
        assert close_of(closed)[0] == 1000


async def test_subscribe_when_reconnecting_from_last_id_then_no_gap_no_duplicate(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    body = {
        "type": "run",
        "assistant_id": "steps",
        "input": {"steps": []},
        "stream_mode": [*STEPS_MODES, "debug"],
    }
    async with ws_client(server) as first:
        await send(first, body)
        before = events(await until(first, "event", event="updates"))
    # The first socket is gone mid-run; the run goes on (on_disconnect=continue).
    run_id, last_id = before[-1]["run_id"], before[-1]["id"]
    async with ws_client(server) as second:
        await send(second, {"type": "subscribe", "run_id": run_id, "last_event_id": last_id})
        after, closed = await until_closed(second)
    async with ws_client(server) as reference:
        await send(reference, {"type": "subscribe", "run_id": run_id})
        everything, _ = await until_closed(reference)

    assert close_of(closed)[0] == 1000
    resumed = [m["id"] for m in before] + [m["id"] for m in events(after)]
    assert resumed == [m["id"] for m in events(everything)]
    # Status is rebuilt from the whole log, so the resumed socket ends at 100 %.
    assert statuses(after)[-1]["status"] == "success"
    assert statuses(after)[-1]["progress"] == 1.0


@pytest.mark.parametrize("cursor", ["-", "-1", "0", "0-0"])
async def test_subscribe_when_last_event_id_means_everything_then_whole_log(
    server: RunningServer, cursor: str
) -> None:
    async with ws_client(server) as first:
        await send(first, {"type": "run", "assistant_id": "steps", "input": {"steps": []}})
        ran, _ = await until_closed(first)
    run_id = events(ran)[0]["run_id"]
    async with ws_client(server) as again:
        await send(again, {"type": "subscribe", "run_id": run_id, "last_event_id": cursor})
        replayed, _ = await until_closed(again)
    assert [m["id"] for m in events(replayed)] == [m["id"] for m in events(ran)]


async def test_cancel_when_run_is_running_then_status_interrupted(server: RunningServer) -> None:
    async with ws_client(server) as socket:
        await send(socket, {"type": "run", "assistant_id": "slow", "input": {"sleep_s": 60}})
        running = await until(socket, "status", status="running")
        await send(socket, {"type": "cancel", "run_id": running[-1]["run_id"]})
        messages, closed = await until_closed(socket)
    final = statuses(messages)[-1]
    assert final["status"] == "interrupted"
    assert final["error"]["code"] == "cancelled"
    assert close_of(closed)[0] == 1000


async def test_cancel_when_stateless_run_started_over_http_then_interrupted(
    server: RunningServer,
) -> None:
    """Regression: stateless HTTP runs live only in memory, and the socket looked
    runs up in storage, so it answered 'unknown run'."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        run = await http.post("/runs", json={"assistant_id": "slow", "input": {"sleep_s": 60}})
        run_id = run.json()["run_id"]
        async with ws_client(server) as socket:
            await send(socket, {"type": "subscribe", "run_id": run_id})
            await send(socket, {"type": "cancel", "run_id": run_id})
            messages, closed = await until_closed(socket)
    assert statuses(messages)[-1]["status"] == "interrupted"
    assert close_of(closed)[0] == 1000


async def test_socket_when_closed_with_on_disconnect_cancel_then_run_interrupted(
    server: RunningServer, http: httpx.AsyncClient
) -> None:
    thread_id = await new_thread(http)
    async with ws_client(server) as socket:
        await send(
            socket,
            {
                "type": "run",
                "thread_id": thread_id,
                "assistant_id": "slow",
                "input": {"sleep_s": 60},
                "on_disconnect": "cancel",
            },
        )
        run_id = (await until(socket, "status", status="running"))[-1]["run_id"]
    await http.get(f"/threads/{thread_id}/runs/{run_id}/join")
    run = (await http.get(f"/threads/{thread_id}/runs/{run_id}")).json()
    assert run["status"] == "interrupted"


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ("not json at all", "not valid JSON"),
        ('["a", "list"]', "JSON object"),
        ('{"type": "teleport"}', "unknown message type 'teleport'"),
        ('{"no": "type"}', "unknown message type None"),
        ('{"type": "subscribe"}', "run_id"),
        ('{"type": "subscribe", "run_id": "x", "last_event_id": "yesterday"}', "last_event_id"),
        ('{"type": "cancel", "run_id": "x", "action": "explode"}', "action"),
        ('{"type": "run", "input": {}}', "assistant_id"),
        ('{"type": "run", "assistant_id": "steps", "colour": "red"}', "colour: unknown field"),
        ('{"type": "run", "assistant_id": "steps", "input": {"nope": 1}}', "nope"),
        (b"\x00binary", "text frames"),
    ],
)
async def test_bad_message_when_sent_then_error_and_socket_stays_open(
    server: RunningServer, frame: str | bytes, expected: str
) -> None:
    async with ws_client(server) as socket:
        await socket.send(frame)
        error = await receive(socket)
        assert error["type"] == "error"
        assert expected in error["message"]
        await ping(socket)


@pytest.mark.parametrize("kind", ["subscribe", "cancel"])
async def test_unknown_run_when_named_then_error_and_close_1008(
    server: RunningServer, kind: str
) -> None:
    run_id = str(uuid.uuid4())
    async with ws_client(server) as socket:
        await send(socket, {"type": kind, "run_id": run_id})
        messages, closed = await until_closed(socket)
    assert messages[-1]["type"] == "error"
    assert messages[-1]["code"] == "run_not_found"
    assert close_of(closed)[0] == 1008
    assert run_id in close_of(closed)[1]


async def test_run_when_graph_does_not_exist_then_close_1008(server: RunningServer) -> None:
    async with ws_client(server) as socket:
        await send(socket, {"type": "run", "assistant_id": "deleted-graph", "input": {}})
        messages, closed = await until_closed(socket)
    assert messages[-1]["code"] == "assistant_not_found"
    assert close_of(closed)[0] == 1008
    assert "deleted-graph" in close_of(closed)[1]


async def test_socket_when_idle_then_closed_1001(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, ws=WebSocketSettings(idle_timeout_s=0.3))
    with run_server(settings) as server:
        async with ws_client(server) as socket:
            await ping(socket)
            messages, closed = await until_closed(socket)
    assert messages == []
    assert close_of(closed)[0] == 1001
    assert "idle" in close_of(closed)[1]


@pytest.fixture
def slow_consumer_closed() -> Iterator[threading.Event]:
    """Set when the server logs that it dropped a slow consumer (in its own thread)."""
    dropped = threading.Event()

    class Signal(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("closing slow websocket consumer"):
                dropped.set()

    handler = Signal(logging.WARNING)
    logger = logging.getLogger("switchyard.ws")
    logger.addHandler(handler)
    yield dropped
    logger.removeHandler(handler)


async def test_watcher_when_it_never_reads_then_closed_1013_not_buffered(
    tmp_path: Path, slow_consumer_closed: threading.Event
) -> None:
    settings = make_settings(
        tmp_path, ws=WebSocketSettings(send_queue_max=2, send_timeout_s=0.2, close_timeout_s=30)
    )
    modes = ["values", "updates", "debug", "tasks"]
    with run_server(settings) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            # ~2 MB per copy of the state; the run's log holds >25 MB of events,
            # more than the kernel and the client library can buffer together.
            big = {"assistant_id": "steps", "input": {"topic": "x" * 2_000_000}}
            thread_id = await new_thread(http)
            done = await http.post(
                f"/threads/{thread_id}/runs/wait", json={**big, "stream_mode": modes}
            )
            run_id = done.headers["content-location"].rsplit("/", 1)[-1]
        async with ws_client(server, max_queue=1, compression=None, max_size=None) as socket:
            await send(socket, {"type": "subscribe", "run_id": run_id})
            assert await asyncio.to_thread(slow_consumer_closed.wait, 30)
            # Only now read: what the server had already written, then its close.
            slow, closed = await until_closed(socket)
        async with ws_client(server, max_size=None) as reader:
            await send(reader, {"type": "subscribe", "run_id": run_id})
            complete, _ = await until_closed(reader)
    assert close_of(closed)[0] == 1013
    assert "slow consumer" in close_of(closed)[1]
    received = [m["id"] for m in events(slow)]
    # What did arrive is an unbroken prefix of the log, and not all of it.
    assert received == [m["id"] for m in events(complete)][: len(received)]
    assert len(received) < len(events(complete))
