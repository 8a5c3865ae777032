"""Resumable streams: Last-Event-ID replay, dropped connections, expired history.

Connections are dropped for real: ``CuttingProxy`` sits between the client
and the server and kills the TCP connection (RST) after a chosen number of
response bytes, so the client sees exactly what a crashed proxy or a lost
network would give it.
"""

from __future__ import annotations

import asyncio
import random
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import jsonpatch
import orjson
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.schema import RunCreateMetadata, StreamPart

from app.errors import EventsExpired
from app.events import Event, MemoryEventLog
from app.settings import EventLogSettings
from app.transport.resume import resume
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

# -- a TCP proxy that cuts connections ----------------------------------------

# Given every response byte seen so far on a connection, how many may reach
# the client before the connection is killed (None: not yet).
CutRule = Callable[[bytes], int | None]


def after_body_bytes(count: int) -> CutRule:
    """Kill the connection ``count`` bytes into the response body."""

    def rule(seen: bytes) -> int | None:
        head = seen.find(b"\r\n\r\n")
        if head < 0 or len(seen) < head + 4 + count:
            return None
        return head + 4 + count

    return rule


def after_frame(marker: bytes) -> CutRule:
    """Kill the connection right after the first complete SSE frame holding ``marker``."""

    def rule(seen: bytes) -> int | None:
        at = seen.find(marker)
        end = seen.find(b"\r\n\r\n", at) if at >= 0 else -1
        return None if end < 0 else end + 4

    return rule


class CuttingProxy:
    """Forwards 127.0.0.1:<port> to the server; ``arm`` makes a future connection die."""

    def __init__(self, upstream_port: int) -> None:
        self._upstream_port = upstream_port
        self._rules: deque[CutRule | None] = deque()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._transports: list[asyncio.WriteTransport] = []
        self.cuts = 0
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def arm(self, *rules: CutRule | None) -> None:
        """The next connections, in accept order, get these rules (None: forward intact)."""
        self._rules.extend(rules)

    def disarm(self) -> None:
        self._rules.clear()

    async def __aenter__(self) -> CuttingProxy:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()
        for transport in self._transports:
            transport.abort()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        rule = self._rules.popleft() if self._rules else None
        self._transports.append(client_out.transport)
        try:
            server_in, server_out = await asyncio.open_connection("127.0.0.1", self._upstream_port)
        except OSError:
            client_out.transport.abort()
            return
        self._transports.append(server_out.transport)
        pipes = {
            asyncio.create_task(self._pipe(client_in, server_out, None)),
            asyncio.create_task(self._pipe(server_in, client_out, rule)),
        }
        try:
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            await asyncio.gather(*pipes, return_exceptions=True)
            # Either side ended or a cut happened: the other side goes too,
            # with a reset rather than a polite close.
            client_out.transport.abort()
            server_out.transport.abort()

    async def _pipe(
        self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, rule: CutRule | None
    ) -> None:
        seen = bytearray()
        while data := await source.read(65_536):
            if rule is not None:
                before = len(seen)
                seen += data
                allowed = rule(bytes(seen))
                if allowed is not None:
                    sink.write(data[: max(0, allowed - before)])
                    await sink.drain()
                    self.cuts += 1
                    return
            sink.write(data)
            await sink.drain()


@pytest.fixture
async def proxy(server: RunningServer) -> AsyncIterator[CuttingProxy]:
    async with CuttingProxy(server.port) as running:
        yield running


# -- a minimal SSE reader -----------------------------------------------------


@dataclass(frozen=True)
class Frame:
    event: str
    data: str
    id: str | None


def parse_frames(buffer: bytes) -> tuple[list[Frame], bytes]:
    """Complete frames in ``buffer`` and the unfinished rest (comments skipped)."""
    frames: list[Frame] = []
    while (end := buffer.find(b"\r\n\r\n")) >= 0:
        block, buffer = buffer[:end].decode(), buffer[end + 4 :]
        fields: dict[str, list[str]] = {}
        for line in block.split("\r\n"):
            if line.startswith(":"):
                continue  # heartbeat
            name, _, value = line.partition(": ")
            fields.setdefault(name, []).append(value)
        if "event" in fields:
            frames.append(
                Frame(
                    fields["event"][0],
                    "\n".join(fields.get("data", [])),
                    fields.get("id", [None])[0],
                )
            )
    return frames, buffer


@dataclass
class Reading:
    frames: list[Frame]
    location: str
    cut: bool  # the connection died before the response ended


async def read_stream(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    json: Any = None,
    last_event_id: str | None = None,
) -> Reading:
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    frames: list[Frame] = []
    buffer = b""
    location = ""
    try:
        async with http.stream(method, url, json=json, headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            location = response.headers["location"]
            async for chunk in response.aiter_bytes():
                new, buffer = parse_frames(buffer + chunk)
                frames += new
    except httpx.TransportError:
        return Reading(frames, location, cut=True)
    return Reading(frames, location, cut=False)


def _last_id(frames: list[Frame]) -> str | None:
    return next((f.id for f in reversed(frames) if f.id), None)


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
async def via_proxy(proxy: CuttingProxy) -> AsyncIterator[httpx.AsyncClient]:
    # No keep-alive: every request opens its own connection, so ``arm``
    # rules line up with requests.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=proxy.url, timeout=30, limits=limits) as client:
        yield client


async def _thread(http: httpx.AsyncClient) -> str:
    response = await http.post("/threads", json={})
    thread_id: str = response.json()["thread_id"]
    return thread_id


# -- Last-Event-ID over the wire ----------------------------------------------

NESTED_RUN: dict[str, Any] = {
    "assistant_id": "nested",
    "input": {"steps": []},
    "stream_mode": ["values", "updates", "custom", "delta"],
    "stream_subgraphs": True,
}


async def test_join_stream_when_last_event_id_header_then_exactly_the_later_events(
    http: httpx.AsyncClient,
) -> None:
    tid = await _thread(http)
    full = await read_stream(http, "POST", f"/threads/{tid}/runs/stream", json=NESTED_RUN)
    assert full.frames[-1].event == "end"
    assert any(f.event.startswith("updates|inner:") for f in full.frames)
    for cut in (0, 3, len(full.frames) // 2, len(full.frames) - 2):
        rest = await read_stream(http, "GET", full.location, last_event_id=full.frames[cut].id)
        assert rest.frames == full.frames[cut + 1 :]


async def test_join_stream_when_last_event_id_query_then_same_as_header(
    http: httpx.AsyncClient,
) -> None:
    tid = await _thread(http)
    full = await read_stream(http, "POST", f"/threads/{tid}/runs/stream", json=NESTED_RUN)
    after = full.frames[4].id
    rest = await read_stream(http, "GET", f"{full.location}?last_event_id={after}")
    assert rest.frames == full.frames[5:]


async def test_join_stream_when_last_event_id_malformed_then_422_saying_the_form(
    http: httpx.AsyncClient,
) -> None:
    tid = await _thread(http)
    body = {"assistant_id": "steps", "input": {"steps": []}}
    run = (await http.post(f"/threads/{tid}/runs/wait", json=body)).headers
    response = await http.get(run["location"], headers={"Last-Event-ID": "yesterday"})
    assert response.status_code == 422
    assert "<ms>-<seq>" in response.json()["detail"]


async def test_join_stream_when_stateless_run_finished_then_still_resumable(
    http: httpx.AsyncClient,
) -> None:
    # The temp thread and run record are deleted at the end; the events are not.
    full = await read_stream(http, "POST", "/runs/stream", json=NESTED_RUN)
    assert full.frames[-1].event == "end"
    rest = await read_stream(http, "GET", full.location, last_event_id=full.frames[2].id)
    assert rest.frames == full.frames[3:]
    wrong_thread = full.location.replace(full.location.split("/")[2], "0" * 8)
    assert (await http.get(wrong_thread)).status_code == 404


# -- connections killed mid-stream --------------------------------------------


async def _reassemble(
    via_proxy: httpx.AsyncClient, proxy: CuttingProxy, rng: random.Random, body_size: int, tid: str
) -> tuple[list[Frame], str, int]:
    """One run read through the proxy with 1-3 random cuts; returns (frames, location, cuts)."""
    cuts = rng.randint(1, 3)
    proxy.arm(*(after_body_bytes(rng.randint(1, body_size)) for _ in range(cuts)))
    reading = await read_stream(via_proxy, "POST", f"/threads/{tid}/runs/stream", json=NESTED_RUN)
    frames, location, cut_seen = reading.frames, reading.location, int(reading.cut)
    while not frames or frames[-1].event != "end":
        reading = await read_stream(via_proxy, "GET", location, last_event_id=_last_id(frames))
        frames += reading.frames
        cut_seen += int(reading.cut)
    proxy.disarm()  # rules the response ended before
    return frames, location, cut_seen


async def test_stream_when_tcp_killed_at_random_points_fifty_times_then_reassembly_is_exact(
    http: httpx.AsyncClient, via_proxy: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    rng = random.Random(20240604)
    tid = await _thread(http)
    sample = await read_stream(http, "POST", f"/threads/{tid}/runs/stream", json=NESTED_RUN)
    # Roughly the body's length (framing and chunk headers included), so the
    # random cut points fall anywhere from the first byte to the last.
    body_size = sum(len(f.data) + len(f.event) + 40 for f in sample.frames)
    cuts = 0
    while cuts < 50:
        # A fresh thread per run: ``nested`` doubles its list on every run
        # of the same thread (parent and subgraph both add to ``steps``).
        tid = await _thread(http)
        frames, location, seen = await _reassemble(via_proxy, proxy, rng, body_size, tid)
        uninterrupted = await read_stream(http, "GET", location)
        assert frames == uninterrupted.frames  # ids, names and payloads, in order
        assert [f.event for f in frames].count("end") == 1
        cuts += seen
    assert proxy.cuts >= 50


async def test_on_disconnect_when_cancel_and_tcp_killed_then_run_interrupted(
    http: httpx.AsyncClient, via_proxy: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    tid = await _thread(http)
    proxy.arm(after_frame(b"event: metadata"))
    body = {"assistant_id": "slow", "input": {"sleep_s": 600}, "on_disconnect": "cancel"}
    reading = await read_stream(via_proxy, "POST", f"/threads/{tid}/runs/stream", json=body)
    assert reading.cut
    run_url = reading.location.removesuffix("/stream")
    # Would take 600 s (and time out) if the disconnect did not cancel the run.
    await http.get(run_url + "/join")
    assert (await http.get(run_url)).json()["status"] == "interrupted"


async def test_on_disconnect_when_continue_and_tcp_killed_then_run_completes(
    http: httpx.AsyncClient, via_proxy: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    tid = await _thread(http)
    proxy.arm(after_frame(b"event: metadata"))
    body = {"assistant_id": "slow", "input": {"sleep_s": 0.5}, "on_disconnect": "continue"}
    reading = await read_stream(via_proxy, "POST", f"/threads/{tid}/runs/stream", json=body)
    assert reading.cut
    run_url = reading.location.removesuffix("/stream")
    assert (await http.get(run_url + "/join")).json() == {"sleep_s": 0.5, "done": True}
    assert (await http.get(run_url)).json()["status"] == "success"
    rest = await read_stream(http, "GET", reading.location, last_event_id=_last_id(reading.frames))
    assert [f.event for f in rest.frames] == ["values", "values", "end"]


async def test_join_stream_when_cancel_on_disconnect_and_tcp_killed_then_run_interrupted(
    http: httpx.AsyncClient, via_proxy: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    tid = await _thread(http)
    run = (
        await http.post(
            f"/threads/{tid}/runs", json={"assistant_id": "slow", "input": {"sleep_s": 600}}
        )
    ).json()
    proxy.arm(after_frame(b"event: metadata"))
    url = f"/threads/{tid}/runs/{run['run_id']}"
    reading = await read_stream(via_proxy, "GET", url + "/stream?cancel_on_disconnect=true")
    assert reading.cut
    await http.get(url + "/join")
    assert (await http.get(url)).json()["status"] == "interrupted"


# -- the langgraph-sdk client's own reconnect ----------------------------------


async def _sdk_stream(
    proxy: CuttingProxy, **kwargs: Any
) -> tuple[list[StreamPart], RunCreateMetadata]:
    created: list[RunCreateMetadata] = []
    client = get_client(url=proxy.url)
    try:
        parts = [
            part async for part in client.runs.stream(None, on_run_created=created.append, **kwargs)
        ]
    finally:
        await client.aclose()
    return parts, created[0]


def _as_parts(frames: list[Frame]) -> list[tuple[str, Any, str | None]]:
    return [(f.event, orjson.loads(f.data), f.id) for f in frames]


async def test_sdk_stream_when_connection_dropped_mid_run_then_reconnects_without_loss(
    http: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    proxy.arm(after_frame(b"event: values"))  # the node then sleeps: the run goes on
    parts, run = await _sdk_stream(
        proxy, assistant_id="slow", input={"sleep_s": 1.5}, stream_mode=["values", "updates"]
    )
    assert proxy.cuts == 1
    location = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
    uninterrupted = await read_stream(http, "GET", location)
    assert [(p.event, p.data, p.id) for p in parts] == _as_parts(uninterrupted.frames)
    assert parts[-1].event == "end"
    assert {"sleep_s": 1.5, "done": True} in [p.data for p in parts if p.event == "values"]


async def test_sdk_stream_when_dropped_and_run_finishes_meanwhile_then_replays_the_rest(
    http: httpx.AsyncClient, proxy: CuttingProxy
) -> None:
    # A stateless run: by the time the SDK reconnects its records are gone.
    proxy.arm(after_frame(b"event: updates|inner:"))
    parts, run = await _sdk_stream(
        proxy,
        assistant_id="nested",
        input={"steps": []},
        stream_mode=["values", "updates", "custom"],
        stream_subgraphs=True,
    )
    assert proxy.cuts == 1
    location = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
    uninterrupted = await read_stream(http, "GET", location)
    assert [(p.event, p.data, p.id) for p in parts] == _as_parts(uninterrupted.frames)
    assert sum(p.event.startswith("updates|inner:") for p in parts) == 3


# -- history gone: keyframe for delta, error otherwise ------------------------


@pytest.fixture
def small_log_server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path, events=EventLogSettings(max_events=4))
    with run_server(settings) as running:
        yield running


async def test_join_stream_when_history_trimmed_and_delta_then_keyframe_rebuilds_the_state(
    small_log_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=small_log_server.url, timeout=30) as http:
        tid = await _thread(http)
        run = await http.post(
            f"/threads/{tid}/runs/wait",
            json={"assistant_id": "steps", "input": {"steps": []}, "stream_mode": "delta"},
        )
        location = run.headers["location"]
        # The log keeps 4 of 6 events: metadata and the first delta are gone,
        # so a client that saw only the start ("1-0" is older than any id)
        # cannot be served from the log.
        rest = await read_stream(http, "GET", location, last_event_id="1-0")
        deltas = [orjson.loads(f.data)["ops"] for f in rest.frames if f.event == "delta"]
        assert deltas[0][0] | {"value": None} == {"op": "replace", "path": "", "value": None}
        state: Any = None
        for ops in deltas:
            state = jsonpatch.apply_patch(state, ops)
        assert state == (await http.get(f"/threads/{tid}/state")).json()["values"]
        assert rest.frames[-1].event == "end"
        assert "error" not in [f.event for f in rest.frames]


async def test_join_stream_when_history_trimmed_and_no_delta_then_error_says_it_is_gone(
    small_log_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=small_log_server.url, timeout=30) as http:
        tid = await _thread(http)
        run = await http.post(
            f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {"steps": []}}
        )
        rest = await read_stream(http, "GET", run.headers["location"], last_event_id="1-0")
        assert [f.event for f in rest.frames] == ["error", "end"]
        error = orjson.loads(rest.frames[0].data)
        assert error["error"] == "EventsExpired"
        assert "no longer retained" in error["message"]


# -- resume() on a log directly ----------------------------------------------


def _keyframe(state: Any) -> bytes:
    return orjson.dumps({"ops": [{"op": "replace", "path": "", "value": state}]})


def _patch(path: str, value: Any) -> bytes:
    return orjson.dumps({"ops": [{"op": "add", "path": path, "value": value}]})


async def _drain(batches: AsyncIterator[Sequence[Event]]) -> list[Event]:
    return [event async for batch in batches for event in batch]


async def test_resume_when_expired_without_delta_then_events_expired() -> None:
    log = MemoryEventLog(retention_s=60, max_events=2)
    ids = [await log.append("run", "values", b"{}") for _ in range(4)]
    await log.close("run")
    with pytest.raises(EventsExpired):
        await _drain(resume(log, "run", after=ids[0]))


async def test_resume_when_expired_with_delta_then_each_namespace_waits_for_its_keyframe() -> None:
    log = MemoryEventLog(retention_s=60, max_events=6)
    first = await log.append("run", "delta", _keyframe({"a": []}))
    await log.append("run", "delta", _patch("/a/-", 1))  # dropped
    await log.append("run", "delta", _patch("/a/-", 2))  # kept, but useless alone
    await log.append("run", "delta|sub:1", _patch("/x", 1))  # useless alone
    await log.append("run", "custom", b'{"progress":1}')
    await log.append("run", "delta", _keyframe({"a": [1, 2, 3]}))
    await log.append("run", "delta|sub:1", _keyframe({"x": 2}))
    await log.append("run", "delta", _patch("/a/-", 4))
    await log.append("run", "end", b"null")
    await log.close("run")
    events = await _drain(resume(log, "run", after=first, delta=True))
    assert [e.event for e in events] == ["custom", "delta", "delta|sub:1", "delta", "end"]
    state: Any = None
    for event in events:
        if event.event == "delta":
            state = jsonpatch.apply_patch(state, orjson.loads(event.data)["ops"])
    assert state == {"a": [1, 2, 3, 4]}


async def test_resume_when_run_ended_before_any_root_keyframe_then_events_expired() -> None:
    log = MemoryEventLog(retention_s=60, max_events=3)
    first = await log.append("run", "delta", _keyframe({"a": []}))
    for n in range(3):
        await log.append("run", "delta", _patch("/a/-", n))
    await log.append("run", "end", b"null")
    await log.close("run")
    with pytest.raises(EventsExpired, match="keyframe"):
        await _drain(resume(log, "run", after=first, delta=True))


async def test_resume_when_reader_falls_behind_live_then_resynchronises_without_duplicates() -> (
    None
):
    log = MemoryEventLog(retention_s=60, max_events=3)
    await log.open("run")
    await log.append("run", "delta", _keyframe([]))
    reader = resume(log, "run", delta=True)
    assert [e.event for e in await anext(reader)] == ["delta"]
    for n in range(4):  # the reader sleeps through these; two are dropped
        await log.append("run", "delta", _patch("/-", n))
    await log.append("run", "delta", _keyframe([0, 1, 2, 3, 4]))
    await log.append("run", "end", b"null")
    await log.close("run")
    rest = await _drain(reader)
    assert [orjson.loads(e.data) for e in rest] == [
        {"ops": [{"op": "replace", "path": "", "value": [0, 1, 2, 3, 4]}]},
        None,
    ]
    assert [e.event for e in rest] == ["delta", "end"]
