"""A local OpenAI-protocol HTTP server with scripted replies, for tests.

Tests drive the real ``ChatOpenAI`` client over real HTTP against this
server instead of monkeypatching anything. It implements just enough of
``POST /v1/chat/completions`` for LangChain: plain text, streamed SSE chunks
(ending ``data: [DONE]``), ``tools``/``tool_calls`` and ``response_format``
JSON-schema replies (so ``with_structured_output`` works with every method).

Contract:

* Replies queued with :meth:`OpenAIServer.script` are consumed in order, one
  per request. With the queue empty, the server answers with a default
  reply: the last user message echoed verbatim; or, when the request forces
  a tool or asks for a JSON schema, a minimal value built from that schema
  (string fields get the last user message).
* A reply with ``status != 200`` answers with an OpenAI-style error body
  (``{"error": {"message", "type", "code"}}``), which the ``openai`` client
  turns into ``RateLimitError``/``InternalServerError``/...
* ``requests`` holds every request body received, in arrival order, and
  ``headers`` their HTTP headers (lower-case names).
* ``POST /v1/embeddings`` answers with hashed bag-of-words vectors
  (``EMBEDDING_DIMS`` floats, unit length): texts sharing words are close,
  so nearest-neighbour tests have a known answer. ``encoding_format``
  ``float`` and ``base64`` (the ``openai`` client's default) are served.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import math
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.support.ready_uvicorn import ReadyServer

__all__ = ["EMBEDDING_DIMS", "OpenAIServer", "Reply", "embed_text", "run_openai_server"]

EMBEDDING_DIMS = 64

_STARTUP_TIMEOUT_S = 10.0
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass
class Reply:
    """One scripted answer of the server."""

    content: str | None = None
    # [{"name": ..., "arguments": {...}}]; arguments may also be a JSON string.
    tool_calls: list[dict[str, Any]] | None = None
    status: int = 200
    # Server-side wait before answering (for client timeout tests).
    delay_s: float = 0.0


@dataclass
class OpenAIServer:
    """Handle on a running server: its URL, what it received, what it will say."""

    base_url: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    _queue: deque[Reply] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: Iterator[int] = field(default_factory=itertools.count)
    # Set (from the server's loop) on shutdown, so a pending ``delay_s``
    # does not hold the server open.
    _stopping: asyncio.Event | None = None

    def script(self, *replies: Reply) -> None:
        """Queue replies; each request consumes the next one."""
        with self._lock:
            self._queue.extend(replies)

    def reset(self) -> None:
        """Forget queued replies and recorded requests."""
        with self._lock:
            self._queue.clear()
            self.requests.clear()
            self.headers.clear()

    def _take(self, body: dict[str, Any], headers: dict[str, str]) -> Reply | None:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            return self._queue.popleft() if self._queue else None

    def _next_id(self) -> str:
        with self._lock:
            return f"chatcmpl-{next(self._ids)}"

    async def handle(self, request: Request) -> Response:
        body = await request.json()
        reply = self._take(body, dict(request.headers))
        if reply is None:
            reply = _default_reply(body)
        if reply.delay_s > 0 and self._stopping is not None:
            # An interruptible wait: returns early when the server stops.
            with suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.delay_s)
        if reply.status != 200:
            return _error_response(reply.status)
        completion_id = self._next_id()
        model = str(body.get("model", "test-model"))
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = _stream_chunks(reply, completion_id, model, include_usage)
            return StreamingResponse(chunks, media_type="text/event-stream")
        return JSONResponse(_completion(reply, completion_id, model))


# -- default replies ---------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            part.get("text", "") if isinstance(part, Mapping) else str(part) for part in content
        )
    return ""


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if message.get("role") == "user":
            return _text_of(message.get("content"))
    return ""


def _example(schema: Mapping[str, Any], text: str, defs: Mapping[str, Any]) -> Any:
    """A minimal value satisfying a (simple) JSON schema."""
    if "$ref" in schema:
        return _example(defs.get(str(schema["$ref"]).rsplit("/", 1)[-1], {}), text, defs)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _example(schema[key][0], text, defs)
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties", {})
        return {name: _example(sub, text, defs) for name, sub in props.items()}
    simple: dict[str, Any] = {"string": text, "integer": 0, "number": 0.0, "boolean": False}
    return simple.get(str(kind), [] if kind == "array" else None)


def _default_reply(body: Mapping[str, Any]) -> Reply:
    text = _last_user_text(body)
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        schema = response_format.get("json_schema", {}).get("schema", {})
        return Reply(content=json.dumps(_example(schema, text, schema.get("$defs", {}))))
    if response_format.get("type") == "json_object":
        return Reply(content=json.dumps({"text": text}))
    choice = body.get("tool_choice")
    tools = body.get("tools") or []
    forced = choice.get("function", {}).get("name") if isinstance(choice, Mapping) else None
    if forced is None and choice in ("required", "any") and tools:
        forced = tools[0]["function"]["name"]
    for tool in tools:
        function = tool.get("function", {})
        if function.get("name") == forced:
            params = function.get("parameters", {})
            arguments = _example(params, text, params.get("$defs", {}))
            return Reply(tool_calls=[{"name": forced, "arguments": arguments}])
    return Reply(content=text)


# -- wire format ---------------------------------------------------------------


def _error_response(status: int) -> JSONResponse:
    kind = _ERROR_TYPES.get(status, "server_error")
    error = {"message": f"scripted {status}", "type": kind, "param": None, "code": kind}
    return JSONResponse({"error": error}, status_code=status)


def _wire_tool_calls(reply: Reply, completion_id: str) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(reply.tool_calls or []):
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append(
            {
                "index": index,
                "id": call.get("id", f"call_{completion_id}_{index}"),
                "type": "function",
                "function": {"name": call["name"], "arguments": arguments},
            }
        )
    return calls


def _usage(reply: Reply) -> dict[str, int]:
    completion = len((reply.content or "").split()) + len(reply.tool_calls or [])
    return {"prompt_tokens": 1, "completion_tokens": completion, "total_tokens": completion + 1}


def _completion(reply: Reply, completion_id: str, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.content}
    if reply.tool_calls:
        message["tool_calls"] = [
            {k: v for k, v in call.items() if k != "index"}
            for call in _wire_tool_calls(reply, completion_id)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if reply.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(reply),
    }


def _words(text: str) -> list[str]:
    """Split into word-sized pieces that join back to exactly ``text``."""
    return re.findall(r"\s*\S+\s*|\s+", text) or [text]


async def _stream_chunks(
    reply: Reply, completion_id: str, model: str, include_usage: bool
) -> AsyncIterator[str]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [choice],
        }
        return f"data: {json.dumps(data)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if reply.content:
        for piece in _words(reply.content):
            yield chunk({"content": piece})
    for call in _wire_tool_calls(reply, completion_id):
        yield chunk({"tool_calls": [call]})
    yield chunk({}, "tool_calls" if reply.tool_calls else "stop")
    if include_usage:
        data = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": _usage(reply),
        }
        yield f"data: {json.dumps(data)}\n\n"
    yield "data: [DONE]\n\n"


# -- lifecycle -------------------------------------------------------------------


def embed_text(text: str) -> list[float]:
    """Feature hashing of the lower-cased words, normalised to unit length."""
    vector = [0.0] * EMBEDDING_DIMS
    for word in _words(text.lower()):
        token = re.sub(r"\W", "", word)
        if token:
            digest = hashlib.sha256(token.encode()).digest()
            vector[int.from_bytes(digest[:4], "big") % EMBEDDING_DIMS] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _build_app(server: OpenAIServer) -> Starlette:
    async def models(_: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "test-model", "object": "model"}]})

    async def embeddings(request: Request) -> Response:
        body = await request.json()
        server._take(body, dict(request.headers))
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = []
        for index, text in enumerate(texts):
            vector: Any = embed_text(str(text))
            if body.get("encoding_format") == "base64":
                vector = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            data.append({"object": "embedding", "index": index, "embedding": vector})
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    return Starlette(
        routes=[
            Route("/v1/chat/completions", server.handle, methods=["POST"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/v1/models", models, methods=["GET"]),
        ]
    )


def _port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def run_openai_server() -> Iterator[OpenAIServer]:
    """Start the server on a free 127.0.0.1 port; stop it on exit."""
    handle = OpenAIServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    handle.base_url = f"http://127.0.0.1:{port}/v1"
    config = uvicorn.Config(
        _build_app(handle),
        log_level="warning",
        lifespan="off",
        loop="asyncio",
        http="h11",
        ws="none",
        timeout_graceful_shutdown=2,
    )
    server = ReadyServer(config)
    loop_box: list[asyncio.AbstractEventLoop] = []

    async def serve() -> None:
        handle._stopping = asyncio.Event()
        loop_box.append(asyncio.get_running_loop())
        try:
            await server.serve(sockets=[sock])
        finally:
            server.ready.set()  # wake the waiter if startup failed

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        server.ready.wait(_STARTUP_TIMEOUT_S)
        if not (server.started and _port_answers(port)):
            raise RuntimeError("local OpenAI server did not start")
        yield handle
    finally:
        server.should_exit = True
        if loop_box and handle._stopping is not None:
            loop_box[0].call_soon_threadsafe(handle._stopping.set)
        thread.join(timeout=10)
        sock.close()
