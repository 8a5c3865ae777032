"""Request parsing and JSON responses shared by every endpoint.

Bad input never reaches a handler: a body over the size limit is 413, bytes
that are not JSON are 400, and JSON that does not fit the model is 422 with
one line per problem saying where and what. JSON nested deeper than
``MAX_JSON_DEPTH`` levels is 422 too: the parser takes far deeper documents,
but orjson stops serialising at 255 levels, so such a body would fail later,
when its metadata is stored or its input streamed back.
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from app import serde
from app.errors import ErrorCode, InvalidInput, MalformedJSON, PayloadTooLarge
from app.schemas import check_thread_id
from app.services import services_of

__all__ = [
    "MAX_JSON_DEPTH",
    "NO_BODY",
    "JSONResponse",
    "check_depth",
    "describe_validation_error",
    "http_error_response",
    "parse_body",
    "query_bool",
    "query_int",
    "query_list",
    "read_body",
    "read_json",
    "thread_id_param",
]

M = TypeVar("M", bound=BaseModel)

# What ``read_json`` returns for a request without a body (JSON ``null`` is None).
NO_BODY: Any = object()

# Far below orjson's 255 (a run's input comes back wrapped in a few levels of
# events and state), far above what any real body needs.
MAX_JSON_DEPTH = 100


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return serde.dumps(content)


def _allowed_methods(request: Request) -> list[str]:
    """The methods served on this path: those of every route written like the
    most literal route whose path matches (Starlette's own 405 names only the
    first one's, and ``/threads/prune`` also fits ``/threads/{thread_id}``,
    listed before it)."""
    routes = [r for r in request.app.routes if isinstance(r, Route) and r.methods]
    matching = [r.path for r in routes if r.matches(request.scope)[0] is not Match.NONE]
    template = min(matching, key=lambda path: path.count("{"), default=None)
    return sorted({m for r in routes if r.path == template for m in r.methods or ()})


def http_error_response(request: Request, exc: HTTPException) -> Response:
    """Starlette's own errors (no route, wrong method) in the shape of ours."""
    detail, code, headers = exc.detail, ErrorCode.INVALID_INPUT.value, dict(exc.headers or {})
    if exc.status_code == 404:
        detail, code = f"no route for {request.method} {request.url.path}", "not_found"
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        detail = f"{request.method} is not allowed on {request.url.path}; use {', '.join(allowed)}"
        code, headers["Allow"] = "method_not_allowed", ", ".join(allowed)
    elif exc.status_code >= 500:
        code = ErrorCode.INTERNAL.value
    return JSONResponse({"detail": detail, "code": code}, exc.status_code, headers=headers)


def describe_validation_error(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field; remove it"
        problems.append(f"{where}: {message}")
    return "; ".join(problems)


async def read_body(request: Request, *, max_bytes: int) -> bytes:
    """The request body, refused (413) past ``max_bytes`` declared or streamed."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body is {declared} bytes; the limit is {max_bytes}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise PayloadTooLarge(f"body exceeds the limit of {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, *, max_bytes: int) -> Any:
    raw = await read_body(request, max_bytes=max_bytes)
    if not raw.strip():
        return NO_BODY
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise MalformedJSON(f"body is not valid JSON: {exc}") from None


async def parse_body(request: Request, model: type[M], *, empty_ok: bool = False) -> M:
    max_bytes: int = services_of(request).settings.runs.max_body_bytes
    data = await read_json(request, max_bytes=max_bytes)
    if data is NO_BODY:
        data = {} if empty_ok else None
    return validate(model, data)


def check_depth(data: Any, limit: int = MAX_JSON_DEPTH) -> None:
    """Raise ``InvalidInput`` when ``data`` nests more than ``limit`` containers deep."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        if depth > limit:
            raise InvalidInput(f"JSON nests deeper than {limit} levels; flatten it")
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))


def validate(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise InvalidInput(f"body must be a JSON object for {model.__name__}")
    check_depth(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_error(exc)) from None


def query_bool(request: Request, name: str, default: bool = False) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise InvalidInput(f"query parameter {name!r} must be true/false, not {value!r}")


def query_int(
    request: Request, name: str, default: int, *, low: int = 0, high: int = 10_000
) -> int:
    value = request.query_params.get(name)
    if value is None:
        return default
    digits = value[1:] if value[:1] == "-" else value
    if not (digits.isascii() and digits.isdigit()) or not low <= int(value) <= high:
        raise InvalidInput(
            f"query parameter {name!r} must be an integer in [{low}, {high}], not {value[:40]!r}"
        )
    return int(value)


def query_list(request: Request, name: str) -> list[str] | None:
    """A repeatable query parameter (``?select=a&select=b``), or None if absent."""
    values = request.query_params.getlist(name)
    return values or None


def thread_id_param(request: Request) -> str:
    """The ``{thread_id}`` of the path, refused unless it is a usable thread id."""
    try:
        return check_thread_id(request.path_params["thread_id"])
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
