"""The long-term memory store: ``/store/items`` and ``/store/namespaces``.

A thin layer over LangGraph's ``BaseStore`` (``app.store.longterm``); what a
client puts here, a graph node reads through its ``store`` argument.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import openai
from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.endpoints.http import JSONResponse, parse_body, query_bool
from app.errors import InvalidInput, NotFound, SwitchyardError
from app.schemas_platform import (
    StoreDelete,
    StoreNamespaces,
    StorePut,
    StoreSearch,
    check_namespace,
)
from app.services import services_of

_T = TypeVar("_T")


class ItemNotFound(NotFound):
    """No item under that namespace and key (or it expired)."""


class EmbeddingFailed(SwitchyardError):
    """The embeddings endpoint failed: the server's dependency, not the input."""

    status_code = 502


def _store(request: Request) -> BaseStore:
    return services_of(request).platform.store


async def _call(work: Awaitable[_T]) -> _T:
    """The store's own complaints about input (a bad filter key, TTL on a store
    without TTL) as 422s that say what to change."""
    try:
        return await work
    except NotImplementedError as exc:
        raise InvalidInput(
            f"{exc}; item TTLs need SWITCHYARD_STORAGE_BACKEND=sqlite (the memory store has none)"
        ) from None
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    except openai.APIError as exc:
        raise EmbeddingFailed(f"the embeddings endpoint failed: {exc}") from None


def _namespace_param(request: Request) -> tuple[str, ...]:
    raw = request.query_params.get("namespace", "")
    labels = raw.split(".") if raw else []
    try:
        check_namespace(labels)
    except ValueError as exc:
        raise InvalidInput(f"query parameter 'namespace': {exc}") from None
    return tuple(labels)


async def put_item(request: Request) -> Response:
    body = await parse_body(request, StorePut)
    await authorize(request, "store", "put", body.model_dump(exclude_none=True))
    await _call(
        _store(request).aput(
            tuple(body.namespace), body.key, body.value, index=body.index, ttl=body.ttl
        )
    )
    return Response(status_code=204)


async def get_item(request: Request) -> Response:
    key = request.query_params.get("key")
    if not key:
        raise InvalidInput("query parameter 'key' is required")
    namespace = _namespace_param(request)
    await authorize(request, "store", "get", {"namespace": namespace, "key": key})
    refresh: bool | None = None
    if "refresh_ttl" in request.query_params:
        refresh = query_bool(request, "refresh_ttl")
    item = await _call(_store(request).aget(namespace, key, refresh_ttl=refresh))
    if item is None:
        raise ItemNotFound(f"no item {key!r} in namespace {list(namespace)}")
    return JSONResponse(item.dict())


async def delete_item(request: Request) -> Response:
    body = await parse_body(request, StoreDelete)
    await authorize(request, "store", "delete", body.model_dump())
    await _call(_store(request).adelete(tuple(body.namespace), body.key))
    return Response(status_code=204)


async def search_items(request: Request) -> Response:
    body = await parse_body(request, StoreSearch, empty_ok=True)
    await authorize(request, "store", "search", body.model_dump(exclude_none=True))
    store = _store(request)
    if body.query and getattr(store, "index_config", None) is None:
        # LangGraph's stores ignore a query they cannot embed; say so instead.
        raise InvalidInput(
            "'query' needs a semantic index: set SWITCHYARD_STORE_INDEX_EMBED "
            "('openai' or 'local'), or search without a query"
        )
    kwargs: dict[str, Any] = {
        "filter": body.filter,
        "limit": body.limit,
        "offset": body.offset,
        "query": body.query,
    }
    if body.refresh_ttl is not None:
        kwargs["refresh_ttl"] = body.refresh_ttl
    found = await _call(store.asearch(tuple(body.namespace_prefix or ()), **kwargs))
    return JSONResponse({"items": [item.dict() for item in found]})


async def list_namespaces(request: Request) -> Response:
    body = await parse_body(request, StoreNamespaces, empty_ok=True)
    await authorize(request, "store", "list_namespaces", body.model_dump(exclude_none=True))
    found = await _call(
        _store(request).alist_namespaces(
            prefix=tuple(body.prefix) if body.prefix else None,
            suffix=tuple(body.suffix) if body.suffix else None,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
        )
    )
    return JSONResponse({"namespaces": [list(ns) for ns in found]})
