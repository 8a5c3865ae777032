"""Real-browser testing: headless Chromium via Playwright, and a faulty network.

* :func:`skip_reason` says why browser tests cannot run here (no Debian
  ``chromium`` at :data:`CHROMIUM`, or no ``playwright`` package), or None.
  Playwright cannot download its own browser in CI, so it drives the system
  one through ``executable_path``.
* :func:`launch` starts that browser headless with quiet, offline-friendly
  flags; :class:`ConsoleErrors` records what a page reports as errors.
* :class:`FaultyProxy` is a loopback TCP proxy between a client (the browser,
  or the server's LLM client) and an upstream server, in its own thread. It
  records every request head it forwards and can inject two faults into the
  upstream → client direction, each once:

  - ``cut_after(marker, count)``: forward bytes up to the end of the
    ``count``-th occurrence of ``marker`` on one connection, then drop that
    connection (RST to both sides). With an SSE marker such as
    ``b"event: messages"`` this cuts the stream in the middle of an event.
  - ``hold_at(marker)``: forward bytes up to the marker's first occurrence,
    then hold everything after it until :meth:`FaultyProxy.release`. In front
    of an LLM server this freezes a run mid-answer, deterministically.

  and one into the client → upstream direction, once:

  - ``rewrite_request(pattern, replacement)``: ``re.sub`` on the first read
    that matches (request heads arrive whole in one read on loopback), e.g.
    to drop a reconnecting browser's ``Last-Event-ID`` header.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "ConsoleErrors",
    "FaultyProxy",
    "RequestHead",
    "launch",
    "run_proxy",
    "skip_reason",
]

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
_STARTUP_TIMEOUT_S = 10.0


def skip_reason() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "BROWSER TESTS SKIPPED: the playwright package is missing (pip install playwright)"
    if not CHROMIUM.exists():
        return f"BROWSER TESTS SKIPPED: no {CHROMIUM} (apt-get install -y chromium)"
    return None


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )


class ConsoleErrors:
    """Console messages of type ``error`` and uncaught exceptions of a page."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", self._page_error)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.messages.append(f"console: {message.text} ({message.location})")

    def _page_error(self, error: Error) -> None:
        self.messages.append(f"uncaught: {error}")


# -- the proxy -------------------------------------------------------------------


@dataclass(frozen=True)
class RequestHead:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased


@dataclass
class _Heads:
    """Splits the client → upstream byte stream into request heads."""

    buffer: bytearray = field(default_factory=bytearray)
    body_left: int = 0

    def feed(self, data: bytes) -> list[RequestHead]:
        self.buffer += data
        heads: list[RequestHead] = []
        while True:
            if self.body_left:
                skipped = min(self.body_left, len(self.buffer))
                del self.buffer[:skipped]
                self.body_left -= skipped
                if self.body_left:
                    return heads
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return heads
            lines = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
            del self.buffer[: end + 4]
            method, path, *_ = [*lines[0].split(" ", 2), "", ""]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            self.body_left = int(headers.get("content-length", "0") or 0)
            heads.append(RequestHead(method=method, path=path, headers=headers))


class _Scanner:
    """Counts occurrences of a marker across the reads of one byte stream."""

    def __init__(self, marker: bytes) -> None:
        self.marker = marker
        self.seen = bytearray()
        self.found: list[int] = []  # start offsets, in stream coordinates

    def feed(self, data: bytes) -> int:
        """Add ``data``; returns the stream offset where ``data`` starts."""
        start = len(self.seen)
        self.seen += data
        position = max(0, start - len(self.marker) + 1)
        if self.found:
            position = max(position, self.found[-1] + len(self.marker))
        while (hit := self.seen.find(self.marker, position)) >= 0:
            self.found.append(hit)
            position = hit + len(self.marker)
        return start


class FaultyProxy:
    """See the module docstring. Methods are safe to call from any thread."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.requests: list[RequestHead] = []
        self.cut_done = threading.Event()
        self.holding = threading.Event()
        self._lock = threading.Lock()
        self._cut: tuple[bytes, int] | None = None
        self._hold: bytes | None = None
        self._rewrite: tuple[re.Pattern[bytes], bytes] | None = None
        self.rewritten = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._released: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, marker: bytes, count: int = 1) -> None:
        with self._lock:
            self._cut = (marker, count)

    def hold_at(self, marker: bytes) -> None:
        with self._lock:
            self._hold = marker

    def rewrite_request(self, pattern: bytes, replacement: bytes) -> None:
        with self._lock:
            self._rewrite = (re.compile(pattern), replacement)

    def release(self) -> None:
        assert self._loop is not None
        assert self._released is not None
        self._loop.call_soon_threadsafe(self._released.set)

    def requests_to(self, suffix: str) -> list[RequestHead]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(suffix)]

    # -- inside the proxy's loop --

    async def serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._released = asyncio.Event()
        self._stop = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._connection(reader, writer)
            finally:
                connections.discard(task)

        server = await asyncio.start_server(accept, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        ready.set()
        try:
            await self._stop.wait()
        finally:
            server.close()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            await server.wait_closed()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _connection(
        self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter
    ) -> None:
        try:
            upstream_r, upstream_w = await asyncio.open_connection(*self.upstream)
        except OSError:
            client_w.transport.abort()
            return
        writers = (client_w, upstream_w)
        pumps = [
            asyncio.create_task(self._pump_up(client_r, upstream_w)),
            asyncio.create_task(self._pump_down(upstream_r, client_w, writers)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in writers:
                writer.close()
                with contextlib.suppress(OSError, asyncio.CancelledError):
                    await writer.wait_closed()

    async def _pump_up(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads = _Heads()
        while data := await reader.read(65536):
            with self._lock:
                rewrite = self._rewrite
                if rewrite is not None:
                    data, hits = rewrite[0].subn(rewrite[1], data)
                    if hits:
                        self._rewrite = None
                        self.rewritten.set()
            found = heads.feed(data)
            if found:
                with self._lock:
                    self.requests.extend(found)
            writer.write(data)
            await writer.drain()

    async def _pump_down(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        writers: tuple[asyncio.StreamWriter, ...],
    ) -> None:
        # Faults are looked up on every read, not when the connection opened:
        # a browser may send the request to fault on a reused keep-alive
        # connection. Markers are counted from the moment a fault is armed.
        cut_scan: _Scanner | None = None
        hold_scan: _Scanner | None = None
        while data := await reader.read(65536):
            with self._lock:
                cut, hold = self._cut, self._hold
            if cut is not None:
                if cut_scan is None or cut_scan.marker != cut[0]:
                    cut_scan = _Scanner(cut[0])
                start = cut_scan.feed(data)
                if len(cut_scan.found) >= cut[1] and self._claim_cut(cut):
                    end = cut_scan.found[cut[1] - 1] + len(cut[0]) - start
                    writer.write(data[:end])
                    await writer.drain()
                    for each in writers:
                        each.transport.abort()
                    self.cut_done.set()
                    return
            if hold is not None:
                if hold_scan is None or hold_scan.marker != hold:
                    hold_scan = _Scanner(hold)
                start = hold_scan.feed(data)
                if hold_scan.found and self._claim_hold(hold):
                    before = max(0, hold_scan.found[0] - start)
                    writer.write(data[:before])
                    await writer.drain()
                    self.holding.set()
                    assert self._released is not None
                    await self._released.wait()
                    data = data[before:]
            writer.write(data)
            await writer.drain()

    def _claim_cut(self, cut: tuple[bytes, int]) -> bool:
        """True for the one connection that gets to apply the armed cut."""
        with self._lock:
            if self._cut != cut:
                return False
            self._cut = None
            return True

    def _claim_hold(self, hold: bytes) -> bool:
        with self._lock:
            if self._hold != hold:
                return False
            self._hold = None
            return True


@contextlib.contextmanager
def run_proxy(upstream_port: int) -> Iterator[FaultyProxy]:
    """A :class:`FaultyProxy` to ``127.0.0.1:upstream_port``, stopped on exit."""
    proxy = FaultyProxy(upstream_port)
    ready = threading.Event()
    thread = threading.Thread(target=lambda: asyncio.run(proxy.serve(ready)), daemon=True)
    thread.start()
    if not ready.wait(_STARTUP_TIMEOUT_S):
        raise RuntimeError("test proxy did not start")
    try:
        yield proxy
    finally:
        proxy.stop()
        thread.join(10)
