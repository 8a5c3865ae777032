"""Real-browser testing: headless Chromium via Playwright, and a faulty network.

* :func:`skip_reason` says why browser tests cannot run here (no Debian
  ``chromium`` at :data:`CHROMIUM`, or no ``playwright`` package), or None.
  Playwright cannot download its own browser in CI, so it drives the system
  one through ``executable_path``.
* :func:`launch` starts that browser headless with quiet, offline-friendly
  flags; :class:`ConsoleErrors` records what a page reports as errors.
* :class:`FaultyProxy` is a loopback TCP proxy between a client (the browser,
  or the server's LLM client) and an upstream server, in its own thread. It
  records every request head it forwards and injects faults, each once:

  - ``hold_at(marker, count)``: in the upstream → client direction, forward
    bytes up to the start of the ``count``-th occurrence of ``marker`` on a
    connection, then hold the rest until the test decides: ``release()``
    forwards it and carries on; ``cut()`` drops it and closes the connection
    (the client gets EOF in the middle of the body). With an SSE marker such
    as ``b"event: messages"`` the client is left holding half an event (its
    ``id:`` line). In front of an LLM server a hold freezes a run mid-answer.
  - ``rewrite_request(pattern, replacement)``: in the client → upstream
    direction, ``re.sub`` on the first read that matches (request heads arrive
    whole in one read on loopback), e.g. to drop a ``Last-Event-ID`` header.
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
        self.holding = threading.Event()
        self.cut_done = threading.Event()
        self.rewritten = threading.Event()
        self._lock = threading.Lock()
        self._hold: tuple[bytes, int] | None = None
        self._armed = 0  # how many holds were armed so far
        self._rewrite: tuple[re.Pattern[bytes], bytes] | None = None
        self._decision: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._decided: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold_at(self, marker: bytes, count: int = 1) -> None:
        with self._lock:
            self._hold = (marker, count)
            # A new hold counts markers from now, also on a kept-alive
            # connection that saw the same marker under an earlier hold.
            self._armed += 1
            self.holding.clear()

    def release(self) -> None:
        """Forward what is held and carry on."""
        self._decide("release")

    def cut(self) -> None:
        """Drop what is held and close that connection."""
        self._decide("cut")

    def rewrite_request(self, pattern: bytes, replacement: bytes) -> None:
        with self._lock:
            self._rewrite = (re.compile(pattern), replacement)

    def requests_to(self, suffix: str) -> list[RequestHead]:
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0].endswith(suffix)]

    def _decide(self, decision: str) -> None:
        assert self.holding.is_set(), "nothing is held"
        with self._lock:
            self._decision = decision
        assert self._loop is not None
        assert self._decided is not None
        self._loop.call_soon_threadsafe(self._decided.set)

    # -- inside the proxy's loop --

    async def serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._decided = asyncio.Event()
        self._stop = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._connection(reader, writer)
            except asyncio.CancelledError:
                # Shutdown cancels open connections. Ending normally keeps
                # asyncio's start_server callback from logging the cancel.
                pass
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
        pumps = [
            asyncio.create_task(self._pump_up(client_r, upstream_w)),
            asyncio.create_task(self._pump_down(upstream_r, client_w, upstream_w)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # Closed before anything is awaited: a shutdown that cancels this
            # task mid-cleanup must not leave a transport to the collector
            # (an unclosed StreamWriter is a ResourceWarning, an error here).
            for writer in (client_w, upstream_w):
                writer.close()
            for pump in pumps:
                pump.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
            for writer in (client_w, upstream_w):
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
                self.requests.extend(heads.feed(data))
            writer.write(data)
            await writer.drain()

    async def _pump_down(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
    ) -> None:
        # The hold is looked up on every read, not when the connection opened:
        # a browser may send the request to fault on a reused keep-alive
        # connection. Markers are counted from the moment the hold is armed.
        scan: _Scanner | None = None
        scanned_for = -1  # the hold (by arming count) ``scan`` counts for
        while data := await reader.read(65536):
            with self._lock:
                hold, armed = self._hold, self._armed
            if hold is not None:
                marker, count = hold
                if scan is None or scanned_for != armed:
                    scan, scanned_for = _Scanner(marker), armed
                start = scan.feed(data)
                if len(scan.found) >= count and self._claim_hold(hold):
                    before = max(0, scan.found[count - 1] - start)
                    writer.write(data[:before])
                    await writer.drain()
                    if await self._held() == "cut":
                        # EOF after every byte forwarded so far. Not a reset:
                        # a reset can make the client's kernel discard bytes
                        # it has not read yet, and the cut would move.
                        writer.close()
                        upstream.transport.abort()
                        self.cut_done.set()
                        return
                    data = data[before:]
            writer.write(data)
            await writer.drain()

    def _claim_hold(self, hold: tuple[bytes, int]) -> bool:
        """True for the one connection that gets to apply the armed hold."""
        with self._lock:
            if self._hold != hold:
                return False
            self._hold = None
            return True

    async def _held(self) -> str | None:
        assert self._decided is not None
        self._decided.clear()
        self.holding.set()
        await self._decided.wait()
        with self._lock:
            return self._decision


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
