"""The SSE wire format, read as raw bytes from a real server."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from sse_starlette.sse import AppStatus

from app.settings import RunSettings, SSESettings
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server


def _blocks(raw: bytes) -> list[list[str]]:
    """Split an SSE body into blocks of lines (comments included)."""
    text = raw.decode()
    return [block.split("\r\n") for block in text.split("\r\n\r\n") if block]


def test_stream_when_run_is_silent_then_heartbeats_arrive_on_time(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sse=SSESettings(heartbeat_s=0.3))
    body = {"assistant_id": "slow", "input": {"sleep_s": 1.6}, "stream_mode": "updates"}
    with (
        run_server(settings) as server,
        httpx.Client(base_url=server.url, timeout=10) as http,
        http.stream("POST", "/runs/stream", json=body) as response,
    ):
        arrivals: list[tuple[float, str]] = []
        started = time.monotonic()
        for line in response.iter_lines():
            arrivals.append((time.monotonic() - started, line))
    heartbeats = [t for t, line in arrivals if line == ": heartbeat"]
    updates = [t for t, line in arrivals if line == "event: updates"]
    # 1.6 s of silence at 0.3 s intervals: at least four heartbeats, all of them
    # before the node's only update, i.e. while the run said nothing.
    assert len(heartbeats) >= 4
    assert updates
    assert all(t < updates[0] for t in heartbeats[:4])
    gaps = [b - a for a, b in itertools.pairwise(heartbeats)]
    assert max(gaps) < 0.3 * 3


def test_stream_when_run_completes_then_every_event_framed_with_id(server: RunningServer) -> None:
    body = {"assistant_id": "steps", "input": {"steps": []}, "stream_mode": ["values", "custom"]}
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/runs/stream", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    run_path = response.headers["content-location"]
    assert response.headers["location"] == run_path + "/stream"
    events = [b for b in _blocks(response.content) if not b[0].startswith(":")]
    names = [next(line[7:] for line in b if line.startswith("event: ")) for b in events]
    assert names[0] == "metadata"
    assert names[-1] == "end"
    assert names.count("values") == 4
    ids = [next(line[4:] for line in b if line.startswith("id: ")) for b in events]
    keys = [tuple(int(part) for part in i.split("-")) for i in ids]
    assert keys == sorted(set(keys)), "ids must be unique and strictly increasing"
    for block in events:
        data_lines = [line for line in block if line.startswith("data: ")]
        assert len(data_lines) == 1, "data is one line of JSON"
        orjson.loads(data_lines[0][6:])


def test_stream_when_run_exceeds_timeout_then_error_event_and_timeout_status(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, runs=RunSettings(timeout_s=0.3))
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        thread = http.post("/threads", json={}).json()
        tid = thread["thread_id"]
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}}
        response = http.post(f"/threads/{tid}/runs/stream", json=body)
        events = [b for b in _blocks(response.content) if not b[0].startswith(":")]
        names = [next(line[7:] for line in b if line.startswith("event: ")) for b in events]
        assert names[-2:] == ["error", "end"]
        error = orjson.loads(next(line[6:] for line in events[-2] if line.startswith("data: ")))
        assert error["error"] == "RunTimeout"
        runs = http.get(f"/threads/{tid}/runs").json()
        assert runs[0]["status"] == "timeout"


def test_wait_when_run_is_slow_then_newline_keepalives_precede_json(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, sse=SSESettings(heartbeat_s=0.2))
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=10) as http:
        body = {"assistant_id": "slow", "input": {"sleep_s": 0.9}}
        response = http.post("/runs/wait", json=body)
    assert response.status_code == 200
    leading = len(response.content) - len(response.content.lstrip(b"\n"))
    assert leading >= 3
    assert response.json() == {"sleep_s": 0.9, "done": True}


def test_wait_when_graph_fails_then_error_body(server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        result = http.post("/runs/wait", json={"assistant_id": "failing", "input": {}}).json()
    assert result["__error__"]["error"] == "ValueError"


def test_stream_when_client_disconnects_with_cancel_then_run_interrupted(
    server: RunningServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        tid = http.post("/threads", json={}).json()["thread_id"]
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}, "on_disconnect": "cancel"}
        with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            for line in response.iter_lines():
                if line == "event: metadata":
                    break
        run_path = response.headers["content-location"]
        joined = http.get(run_path + "/join")
        assert joined.status_code == 200
        assert http.get(run_path).json()["status"] == "interrupted"


def test_stream_when_error_event_arrives_then_run_status_is_already_final(
    server: RunningServer,
) -> None:
    """Regression: `error` was sent before the run's status was stored, so a
    client reading the run on `error` saw it still `running`."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        tid = http.post("/threads", json={}).json()["thread_id"]
        body = {"assistant_id": "failing", "input": {"value": 1}}
        with http.stream("POST", f"/threads/{tid}/runs/stream", json=body) as response:
            run_path = response.headers["content-location"]
            seen_at_error = None
            for line in response.iter_lines():
                if line == "event: error":
                    seen_at_error = http.get(run_path).json()["status"]
                    break
    assert seen_at_error == "error"


def test_stream_when_head_then_headers_only_without_waiting_for_the_run(
    server: RunningServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=5) as http:
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}}
        run_path = http.post("/runs", json=body).headers["content-location"]
        response = http.head(run_path + "/stream")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.content == b""
        http.post(run_path + "/cancel")


def _open_streams(http: httpx.Client) -> int:
    count: int = http.get("/info").json()["open_streams"]
    return count


def _wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)  # polling a condition with a deadline, not a fixed wait
    return True


def test_stream_when_client_leaves_without_cancel_then_stream_released_and_run_continues(
    server: RunningServer,
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}}  # on_disconnect: continue
        with http.stream("POST", "/runs/stream", json=body) as response:
            for line in response.iter_lines():
                if line == "event: metadata":
                    assert _open_streams(http) == 1
                    break
        run_path = response.headers["content-location"]
        # The server learns of the close from the socket, not from a heartbeat
        # (1 s here): the writer is gone well before one would be due.
        assert _wait_until(lambda: _open_streams(http) == 0, timeout_s=0.9)
        assert http.get(run_path).json()["status"] == "running"
        http.post(run_path + "/cancel")


@pytest.fixture
def server_exiting() -> Iterator[Callable[[], None]]:
    """Flip the flag uvicorn's exit handler sets (sse-starlette's AppStatus),
    and put it back: it is process-wide."""
    yield lambda: setattr(AppStatus, "should_exit", True)
    AppStatus.should_exit = False


def test_stream_when_server_begins_to_exit_then_open_streams_end_cleanly(
    server: RunningServer, server_exiting: Callable[[], None]
) -> None:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}}
        with http.stream("POST", "/runs/stream", json=body) as response:
            lines = iter(response.iter_lines())
            assert next(line for line in lines if line == "event: metadata")
            server_exiting()
            started = time.monotonic()
            # Reading to the end raises if the chunked body were cut off.
            rest = list(lines)
            ended_after = time.monotonic() - started
        assert ended_after < 2.0  # the exit watch looks twice a second
        assert "event: end" not in rest  # the run goes on; a client resumes it elsewhere
        run_path = response.headers["content-location"]
        http.post(run_path + "/cancel")
