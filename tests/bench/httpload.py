"""A small HTTP/1.1 load client over raw asyncio protocols, for benchmarks only.

Why not httpx: on a 2-core machine the client shares the CPU with the server
it measures, so every microsecond the client spends parsing is taken from
the server. This client does the least an honest client must do: one
keep-alive connection per simulated user, the request written in one
``write``, the response de-chunked, and three timestamps per request
(headers, first complete SSE event, end of body). The same client drives
Switchyard and the peer servers, so their figures compare.

Only what the benchmarks send and receive is supported: ``Content-Length``
or chunked bodies, no pipelining, no TLS, no redirects.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import cast

__all__ = ["Connection", "LoadResult", "Response", "connect", "run_load", "sse_events"]

_CRLF = b"\r\n"


@dataclass(slots=True)
class Response:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    t_headers: float = 0.0  # seconds after ``started``
    t_first_event: float | None = None
    t_end: float = 0.0
    raw_bytes: int = 0  # everything received: head, chunk framing, body


def sse_events(body: bytes) -> list[tuple[str, bytes]]:
    """(event name, data) of every event in an SSE body; comments are skipped."""
    events = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = "message", []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
        if data:
            events.append((name, b"\n".join(data)))
    return events


class _Parser:
    """Incremental response parser; ``done`` resolves when the body ends."""

    def __init__(self, response: Response, done: asyncio.Future[Response], sse: bool) -> None:
        self.response = response
        self.done = done
        self.sse = sse
        self.buffer = bytearray()
        self.in_headers = True
        self.chunked = False
        self.remaining = -1  # Content-Length bytes left; -1: read until close
        self.chunk_left = 0  # bytes left in the current chunk (+2 for its CRLF)
        self.scan_from = 0  # where to look for the first event's end

    def feed(self, data: bytes) -> None:
        if self.done.done():
            return
        now = time.perf_counter()
        self.response.raw_bytes += len(data)
        self.buffer += data
        if self.in_headers and not self._headers(now):
            return
        if self.chunked:
            self._chunks()
        else:
            self._plain()
        if self.sse and self.response.t_first_event is None:
            self._first_event(now)
        if self._finished():
            self.response.t_end = now - self.response.started
            self.done.set_result(self.response)

    def _headers(self, now: float) -> bool:
        while self.buffer[:2] == _CRLF:  # a previous chunked body's final CRLF, late
            del self.buffer[:2]
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        del self.buffer[: end + 4]
        self.response.status = int(head[0].split(" ", 2)[1])
        for line in head[1:]:
            name, _, value = line.partition(":")
            self.response.headers[name.strip().lower()] = value.strip()
        self.response.t_headers = now - self.response.started
        self.in_headers = False
        self.chunked = "chunked" in self.response.headers.get("transfer-encoding", "")
        if not self.chunked:
            self.remaining = int(self.response.headers.get("content-length", "-1"))
        return True

    def _plain(self) -> None:
        self.response.body += self.buffer
        if self.remaining >= 0:
            self.remaining -= len(self.buffer)
        self.buffer.clear()

    def _chunks(self) -> None:
        buf = self.buffer
        pos = 0
        while True:
            if self.chunk_left > 0:
                take = min(self.chunk_left, len(buf) - pos)
                # The chunk's trailing CRLF is counted in chunk_left but not kept.
                data_left = self.chunk_left - 2
                if data_left > 0:
                    self.response.body += buf[pos : pos + min(take, data_left)]
                self.chunk_left -= take
                pos += take
                if self.chunk_left > 0:
                    break
                continue
            if self.remaining == 0:
                break
            line_end = buf.find(_CRLF, pos)
            if line_end < 0:
                break
            size = int(bytes(buf[pos:line_end]).split(b";", 1)[0], 16)
            pos = line_end + 2
            if size == 0:
                self.remaining = 0  # last chunk; the final CRLF may or may not follow
                break
            self.chunk_left = size + 2
        del buf[:pos]

    def _first_event(self, now: float) -> None:
        body = self.response.body
        start = body.find(b"data:", self.scan_from)
        if start < 0:
            self.scan_from = max(0, len(body) - 5)
            return
        if body.find(b"\n\n", start) >= 0 or body.find(b"\r\n\r\n", start) >= 0:
            self.response.t_first_event = now - self.response.started

    def _finished(self) -> bool:
        return self.remaining == 0 if (self.chunked or self.remaining >= 0) else False

    def lost(self) -> None:
        if self.done.done():
            return
        if not self.in_headers and self.remaining < 0 and not self.chunked:
            self.response.t_end = time.perf_counter() - self.response.started
            self.done.set_result(self.response)
        else:
            self.done.set_exception(ConnectionError("connection closed mid-response"))


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, host: str, port: int) -> None:
        self.host = f"{host}:{port}"
        self.transport: asyncio.Transport | None = None
        self.parser: _Parser | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.parser is not None:
            self.parser.feed(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.parser is not None:
            self.parser.lost()

    async def request(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        *,
        sse: bool = False,
        headers: Sequence[tuple[str, str]] = (),
    ) -> Response:
        if self.closed or self.transport is None:
            raise ConnectionError("connection is closed")
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}"]
        if body or method in ("POST", "PUT", "PATCH"):
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        if sse:
            head.append("Accept: text/event-stream")
        head += [f"{name}: {value}" for name, value in headers]
        response = Response(started=time.perf_counter())
        done: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.parser = _Parser(response, done, sse)
        self.transport.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        try:
            return await done
        finally:
            self.parser = None

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(lambda: Connection(host, port), host, port)
    return protocol


@dataclass
class LoadResult:
    clients: int
    completed: int
    elapsed_s: float
    responses: list[Response]
    failures: list[str]
    probe_delta: float | None = None  # change of ``probe()`` over the timed part

    @property
    def per_s(self) -> float:
        return self.completed / self.elapsed_s if self.elapsed_s > 0 else 0.0


RequestFactory = Callable[[int, int], tuple[str, str, bytes]]
"""(client index, request index) → (method, path, body)."""


async def run_load(
    host: str,
    port: int,
    *,
    clients: int,
    total: int,
    make_request: RequestFactory,
    check: Callable[[Response], str | None],
    sse: bool = True,
    deadline_s: float | None = None,
    warmup_per_client: int = 1,
    probe: Callable[[], float] | None = None,
) -> LoadResult:
    """``clients`` users on their own connection share ``total`` requests.

    Connections are opened and warmed up (one untimed request each) first;
    then every user sends its requests back to back. With ``deadline_s`` a
    user stops starting new requests after that many seconds (for slow peer
    servers), and ``completed`` says how many finished. ``check`` returns a
    reason when a response is wrong (a failure is counted, not timed).
    ``probe`` (e.g. the server's CPU seconds) is read when the timed part
    starts and ends; ``probe_delta`` is the difference.
    """
    conns = await asyncio.gather(*(connect(host, port) for _ in range(clients)))
    failures: list[str] = []
    try:

        async def warm(index: int) -> None:
            for n in range(warmup_per_client):
                method, path, body = make_request(index, -1 - n)
                await conns[index].request(method, path, body, sse=sse)

        await asyncio.gather(*(warm(i) for i in range(clients)))
        share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]
        responses: list[Response] = []
        probe_start = probe() if probe is not None else 0.0
        start = time.perf_counter()
        stop_at = start + deadline_s if deadline_s is not None else None

        async def user(index: int) -> None:
            conn = conns[index]
            for n in range(share[index]):
                if stop_at is not None and time.perf_counter() >= stop_at:
                    return
                method, path, body = make_request(index, n)
                response = await conn.request(method, path, body, sse=sse)
                problem = check(response)
                if problem is None:
                    responses.append(response)
                else:
                    failures.append(problem)

        await asyncio.gather(*(user(i) for i in range(clients)))
        elapsed = time.perf_counter() - start
        probe_delta = probe() - probe_start if probe is not None else None
    finally:
        for conn in conns:
            conn.close()
    return LoadResult(clients, len(responses), elapsed, responses, failures, probe_delta)
