"""The OpenAPI 3.1 document of a route table, built from the validating models.

``build_document(routes)`` walks the routes the app actually serves and
describes each HTTP operation from ``app.openapi.operations``: request
bodies are the pydantic models the handlers validate with (JSON Schema by
pydantic, so the document and the validation cannot disagree), responses
the models of ``app.openapi.responses`` (the platform API's, flows', MCP
servers' and rules' are in ``app.openapi.platform_operations``). A route with no entry there still
appears, with a generic operation marked ``x-undocumented`` (any JSON body,
any answer), so the document never fails to serve; ``build_document(...,
strict=True)`` (the test) refuses it instead (``UndocumentedRoute``). WebSocket routes, which
OpenAPI cannot describe, are listed under ``x-websockets``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

from pydantic import BaseModel, TypeAdapter
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from app.openapi import responses as out
from app.openapi.operations import OPERATIONS, Operation, Param, Reply
from app.openapi.platform_operations import PLATFORM_OPERATIONS
from app.schemas import SAFE_ID

__all__ = ["UndocumentedRoute", "build_document", "operation_keys"]

_REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{(\w+)(?::\w+)?}")
_PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "thread_id": {"type": "string", "pattern": f"^{SAFE_ID.pattern}$"},
}
# What StaticFiles answers for the playground's files.
_STATIC_TYPES = ("text/html", "text/css", "text/javascript", "application/javascript")


class UndocumentedRoute(LookupError):
    """A route is served that ``app.openapi.operations`` does not describe."""


def operation_keys(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """``(method, path)`` of every HTTP operation the routes serve (HEAD left out)."""
    keys: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            keys += [(m, route.path) for m in sorted(route.methods or ()) if m != "HEAD"]
        elif isinstance(route, Mount):
            keys.append(("GET", f"{route.path}/{{path}}"))
    return keys


class _Components:
    """Collects JSON schemas, each named model once, under ``components/schemas``."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def _add(self, name: str, schema: dict[str, Any]) -> None:
        if self.schemas.setdefault(name, schema) != schema:
            raise ValueError(f"two different schemas are both named {name!r}")

    def schema(self, kind: Any, *, mode: str) -> dict[str, Any]:
        if isinstance(kind, dict):  # already a JSON schema
            return kind
        generated = TypeAdapter(kind).json_schema(ref_template=_REF, mode=mode)  # type: ignore[arg-type]
        for name, definition in generated.pop("$defs", {}).items():
            self._add(name, definition)
        if isinstance(kind, type) and issubclass(kind, BaseModel) and "$ref" not in generated:
            # (A recursive model comes back as a $ref into its own $defs.)
            self._add(kind.__name__, generated)
            return {"$ref": _REF.format(model=kind.__name__)}
        return generated

    def partial(self, schema: dict[str, Any]) -> dict[str, Any]:
        """``schema`` with its model (or its items' model) required nothing: for ``select``."""
        result = copy.deepcopy(schema)
        target = result.get("items", result)
        ref = target.get("$ref")
        if ref is None:
            return result
        name = ref.rsplit("/", 1)[1]
        partial = {k: v for k, v in self.schemas[name].items() if k != "required"}
        self._add(f"{name}Partial", partial)
        target["$ref"] = _REF.format(model=f"{name}Partial")
        return result


def _parameter(param: Param, where: str = "query") -> dict[str, Any]:
    schema = {"type": "array", "items": param.schema} if param.array else param.schema
    spec: dict[str, Any] = {"name": param.name, "in": where, "schema": schema}
    if param.required or where == "path":
        spec["required"] = True
    if param.description:
        spec["description"] = param.description
    if param.array:
        spec |= {"style": "form", "explode": True}
    return spec


def _reply(components: _Components, reply: Reply) -> dict[str, Any]:
    spec: dict[str, Any] = {"description": reply.description or "OK"}
    if reply.headers:
        spec["headers"] = {name: {"schema": {"type": "string"}} for name in reply.headers}
    if reply.schema is None:
        return spec
    schema = components.schema(reply.schema, mode="serialization")
    if reply.partial:
        schema = components.partial(schema)
    spec["content"] = {reply.media_type: {"schema": schema}}
    return spec


def _operation(components: _Components, path: str, op: Operation) -> dict[str, Any]:
    params = [_parameter(Param(n, _PATH_SCHEMAS.get(n, {"type": "string"})), "path")
              for n in _PATH_PARAM.findall(path)]  # fmt: skip
    params += [_parameter(p) for p in op.query]
    spec: dict[str, Any] = {"summary": op.summary, "tags": [op.tag], **op.extra}
    if op.description:
        spec["description"] = op.description
    if params:
        spec["parameters"] = params
    if op.body is not None:
        schema = components.schema(op.body.schema, mode="validation")
        spec["requestBody"] = {
            "required": op.body.required,
            "content": {"application/json": {"schema": schema}},
        }
    replies = {str(code): _reply(components, reply) for code, reply in op.replies.items()}
    error = components.schema(out.ErrorBody, mode="serialization")
    replies["default"] = {
        "description": "what is wrong and how to fix it",
        "content": {"application/json": {"schema": error}},
    }
    spec["responses"] = replies
    return spec


def _static(components: _Components) -> dict[str, Any]:
    error = components.schema(out.ErrorBody, mode="serialization")
    return {
        "summary": "The playground's static files",
        "tags": ["playground"],
        "parameters": [_parameter(Param("path", {"type": "string"}), "path")],
        "responses": {
            "200": {
                "description": "the file",
                "content": {t: {"schema": {"type": "string"}} for t in _STATIC_TYPES},
            },
            "default": {
                "description": "no such file",
                "content": {"application/json": {"schema": error}},
            },
        },
    }


def _generic(components: _Components, path: str, method: str) -> dict[str, Any]:
    params = [_parameter(Param(n, {"type": "string"}), "path") for n in _PATH_PARAM.findall(path)]
    spec: dict[str, Any] = {
        "summary": "not described yet (no entry in app.openapi.operations)",
        "x-undocumented": True,
        "responses": {"default": {"description": "any answer", "content": {"*/*": {}}}},
    }
    if params:
        spec["parameters"] = params
    if method in ("POST", "PUT", "PATCH"):
        spec["requestBody"] = {"required": False, "content": {"application/json": {}}}
    return spec


def build_document(routes: Iterable[BaseRoute], *, strict: bool = False) -> dict[str, Any]:
    routes = list(routes)
    components = _Components()
    paths: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for method, path in operation_keys(routes):
        op = OPERATIONS.get((method, path)) or PLATFORM_OPERATIONS.get((method, path))
        item = paths.setdefault(path, {})
        if op is not None:
            item[method.lower()] = _operation(components, path, op)
        elif method == "GET" and path.endswith("/{path}"):
            item["get"] = _static(components)
        else:
            missing.append(f"{method} {path}")
            item[method.lower()] = _generic(components, path, method)
    if missing and strict:
        raise UndocumentedRoute(
            f"routes with no entry in app.openapi.operations: {', '.join(missing)}"
        )
    sockets = [r.path for r in routes if isinstance(r, WebSocketRoute)]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard",
            "version": version("switchyard"),
            "description": "The LangGraph Server API subset Switchyard serves (see docs/api.md).",
        },
        "paths": paths,
        "components": {"schemas": dict(sorted(components.schemas.items()))},
        "x-websockets": {path: f"see docs/api.md, '{_socket_section(path)}'" for path in sockets},
    }


def _socket_section(path: str) -> str:
    """The docs/api.md section that describes a WebSocket route's messages."""
    if path == "/ws":
        return "WebSocket /ws"
    return "Thread streams: the thread streaming protocol and the thread join"
