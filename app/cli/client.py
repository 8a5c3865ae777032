"""A small async client for a running Switchyard, over its HTTP API (for the CLI).

Only ``httpx`` is needed (a dependency of the server anyway), so the CLI
works without the ``langgraph-sdk`` dev extra. Server-sent events are parsed
per the HTML spec's rules for the fields Switchyard sends (``event``,
``data``, ``id``; comments such as ``: heartbeat`` are skipped).

Failures come out as ``ClientError`` with a message fit for a terminal: the
server's ``detail`` for an HTTP error, or how to start a server when nothing
answers at the URL.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx
import orjson

__all__ = ["DEFAULT_URL", "ClientError", "ServerEvent", "SwitchyardClient", "WaitResult", "sse"]

DEFAULT_URL = "http://127.0.0.1:8123"
# The server sends a heartbeat every few seconds while a run streams or is
# waited for, so a minute of silence means the connection is dead.
_TIMEOUT = httpx.Timeout(10.0, read=60.0)


def default_url() -> str:
    return os.environ.get("SWITCHYARD_URL") or DEFAULT_URL


class ClientError(Exception):
    """The server refused a request, or could not be reached."""


@dataclass(frozen=True)
class ServerEvent:
    event: str
    data: Any
    id: str | None = None


@dataclass(frozen=True)
class WaitResult:
    """A finished ``/runs/wait``: the run's output, or ``{"__error__": ...}``."""

    run_id: str | None
    thread_id: str | None
    output: Any


async def sse(lines: AsyncIterator[str]) -> AsyncIterator[ServerEvent]:
    """Server-sent events from a stream of lines (without their line endings)."""
    event, event_id = "message", None
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield ServerEvent(event, orjson.loads("\n".join(data)), event_id)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue  # a comment: the server's heartbeat
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id":
            event_id = value


def _run_path(location: str | None) -> tuple[str | None, str | None]:
    """``/threads/{tid}/runs/{rid}[/...]`` → ``(tid, rid)``."""
    parts = (location or "").strip("/").split("/")
    if len(parts) >= 4 and parts[0] == "threads" and parts[2] == "runs":
        return parts[1], parts[3]
    return None, None


class SwitchyardClient:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, timeout=_TIMEOUT)

    async def __aenter__(self) -> SwitchyardClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, body: Any = None) -> httpx.Response:
        try:
            response = await self._http.request(method, path, json=body)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None
        await _raise_for_status(response)
        return response

    def _unreachable(self, exc: Exception) -> ClientError:
        return ClientError(
            f"cannot reach Switchyard at {self.url} ({type(exc).__name__}: {exc}); "
            "start one with `switchyard serve`, or pass --url / set SWITCHYARD_URL"
        )

    async def info(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self._request("GET", "/info")).json()
        return data

    async def assistants(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = (
            await self._request("POST", "/assistants/search", {"limit": 1000})
        ).json()
        return found

    async def input_schema(self, assistant: str) -> dict[str, Any]:
        schemas = (await self._request("GET", f"/assistants/{assistant}/schemas")).json()
        schema = schemas.get("input_schema")
        return schema if isinstance(schema, dict) else {}

    async def stream(
        self, body: dict[str, Any], *, thread_id: str | None = None
    ) -> AsyncIterator[ServerEvent]:
        """Create a run and yield its events; the first is ``metadata``, the last ``end``."""
        path = f"/threads/{thread_id}/runs/stream" if thread_id else "/runs/stream"
        try:
            async with self._http.stream("POST", path, json=body) as response:
                await _raise_for_status(response)
                async for event in sse(response.aiter_lines()):
                    yield event
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from None

    async def wait(self, body: dict[str, Any]) -> WaitResult:
        """A stateless run, waited for; HTTP errors raise ``ClientError``."""
        response = await self._request("POST", "/runs/wait", body)
        thread_id, run_id = _run_path(response.headers.get("content-location"))
        return WaitResult(run_id=run_id, thread_id=thread_id, output=response.json())


async def _raise_for_status(response: httpx.Response) -> None:
    if response.is_success:
        return
    await response.aread()
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail", response.text) if isinstance(body, dict) else response.text
    raise ClientError(f"{response.status_code} from {response.request.url.path}: {detail}")
