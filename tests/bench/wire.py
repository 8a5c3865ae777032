"""Bytes on the wire for one streamed run, per stream mode, checked for content.

``body`` is the SSE text as the client's parser sees it (what the issue's
figures count); ``raw`` adds the HTTP head and chunk framing. The ``delta``
stream is replayed with ``jsonpatch`` and must end in exactly the last
``values`` state, so its small size is not bought by dropping state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonpatch
import orjson

from tests.bench.httpload import Response, connect, sse_events
from tests.bench.procs import ServerProcess

__all__ = ["WireBytes", "measure_wire"]


@dataclass
class WireBytes:
    graph: str
    mode: str
    body: int
    raw: int
    events: int
    final_state: Any


async def _stream(server: ServerProcess, body: dict[str, Any]) -> Response:
    conn = await connect(server.host, server.port)
    try:
        response = await conn.request("POST", "/runs/stream", orjson.dumps(body), sse=True)
    finally:
        conn.close()
    if response.status != 200:
        raise RuntimeError(f"/runs/stream {body}: HTTP {response.status} {response.body!r}")
    return response


def _final_state(mode: str, events: list[tuple[str, bytes]]) -> Any:
    state: Any = None
    for name, data in events:
        if name == "error":
            raise RuntimeError(f"run failed: {data!r}")
        if mode == "values" and name == "values":
            state = orjson.loads(data)
        elif mode == "delta" and name == "delta":
            state = jsonpatch.apply_patch(state, orjson.loads(data)["ops"])
    return state


async def measure_wire(
    server: ServerProcess, graph: str, modes: list[str], run_input: dict[str, Any]
) -> list[WireBytes]:
    """One run per mode; raises if ``delta`` does not rebuild the last ``values`` state."""
    results = []
    for mode in modes:
        body: dict[str, Any] = {"assistant_id": graph, "input": run_input, "stream_mode": mode}
        body["config"] = {"recursion_limit": 1000}
        response = await _stream(server, body)
        events = sse_events(bytes(response.body))
        results.append(
            WireBytes(
                graph=graph,
                mode=mode,
                body=len(response.body),
                raw=response.raw_bytes,
                events=len(events),
                final_state=_final_state(mode, events),
            )
        )
    by_mode = {r.mode: r for r in results}
    values, delta = by_mode.get("values"), by_mode.get("delta")
    if values is not None and delta is not None and values.final_state != delta.final_state:
        raise RuntimeError(f"{graph}: delta stream does not rebuild the final values state")
    return results
