"""The long-term memory store: ``/store/items`` and ``/store/namespaces``.

A thin layer over LangGraph's ``BaseStore`` (``app.store.longterm``); what a
client puts here, a graph node reads through its ``store`` argument.

Authorized as LangGraph Server does (``app.auth.store_scope``): each
operation's ``store.<action>`` handler gets LangGraph's value
(``namespace`` first, as a tuple) and may rewrite ``value["namespace"]``;
the operation then runs on the namespace the handler left.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import openai
from langgraph.store.base import BaseStore
from starlette.requests import Request
from starlette.responses import Response

from app.auth.store_scope import authorize_store
from app.endpoints.http import JSONResponse, parse_body, query_bool
from app.errors import InvalidInput, NotFound, SwitchyardError
from app.platform.schemas import (
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
    value: dict[str, Any] = {
        "namespace": tuple(body.namespace),
        "key": body.key,
        "value": body.value,
        "index": body.index,
        "ttl": body.ttl,
    }
    store = _store(request)
    scope = await authorize_store(request, "put", value)
    namespace = scope.namespace
    assert namespace is not None  # authorize_store keeps a put's namespace a namespace
    if scope.filters and not await scope.item_allowed(store, namespace, body.key):
        raise ItemNotFound(f"no item {body.key!r} in namespace {list(body.namespace)}")
    await _call(store.aput(namespace, body.key, body.value, index=body.index, ttl=body.ttl))
    return Response(status_code=204)


async def get_item(request: Request) -> Response:
    key = request.query_params.get("key")
    if not key:
        raise InvalidInput("query parameter 'key' is required")
    asked = _namespace_param(request)
    refresh: bool | None = None
    if "refresh_ttl" in request.query_params:
        refresh = query_bool(request, "refresh_ttl")
    value: dict[str, Any] = {"namespace": asked, "key": key, "refresh_ttl": refresh}
    scope = await authorize_store(request, "get", value)
    namespace = scope.namespace
    assert namespace is not None
    item = await _call(_store(request).aget(namespace, key, refresh_ttl=refresh))
    if item is None or not scope.shows(item):
        raise ItemNotFound(f"no item {key!r} in namespace {list(asked)}")
    return JSONResponse(item.dict())


async def delete_item(request: Request) -> Response:
    body = await parse_body(request, StoreDelete)
    value: dict[str, Any] = {"namespace": tuple(body.namespace), "key": body.key}
    store = _store(request)
    scope = await authorize_store(request, "delete", value)
    namespace = scope.namespace
    assert namespace is not None
    # Like LangGraph: 204 whether or not there was an item; a hidden one stays.
    if not scope.filters or await scope.item_allowed(store, namespace, body.key):
        await _call(store.adelete(namespace, body.key))
    return Response(status_code=204)


async def search_items(request: Request) -> Response:
    body = await parse_body(request, StoreSearch, empty_ok=True)
    value: dict[str, Any] = {
        "namespace": tuple(body.namespace_prefix or ()),
        "filter": body.filter,
        "limit": body.limit,
        "offset": body.offset,
        "query": body.query,
        "refresh_ttl": body.refresh_ttl,
    }
    scope = await authorize_store(request, "search", value)
    store = _store(request)
    if body.query and getattr(store, "index_config", None) is None:
        # LangGraph's stores ignore a query they cannot embed; say so instead.
        raise InvalidInput(
            "'query' needs a semantic index: set SWITCHYARD_STORE_INDEX_EMBED "
            "('openai' or 'local'), or search without a query"
        )
    item_filter = scope.item_filter(body.filter)
    if item_filter is None:  # the caller's filter contradicts the handler's
        return JSONResponse({"items": []})
    kwargs: dict[str, Any] = {
        "filter": item_filter or None,
        "limit": body.limit,
        "offset": body.offset,
        "query": body.query,
    }
    if body.refresh_ttl is not None:
        kwargs["refresh_ttl"] = body.refresh_ttl
    found = await _call(store.asearch(scope.namespace or (), **kwargs))
    return JSONResponse({"items": [item.dict() for item in found]})


async def list_namespaces(request: Request) -> Response:
    body = await parse_body(request, StoreNamespaces, empty_ok=True)
    value: dict[str, Any] = {
        "namespace": tuple(body.prefix) if body.prefix else None,
        "suffix": tuple(body.suffix) if body.suffix else None,
        "max_depth": body.max_depth,
        "limit": body.limit,
        "offset": body.offset,
    }
    scope = await authorize_store(request, "list_namespaces", value)
    found = await _call(
        _store(request).alist_namespaces(
            prefix=scope.namespace,
            suffix=tuple(body.suffix) if body.suffix else None,
            max_depth=body.max_depth,
            limit=body.limit,
            offset=body.offset,
        )
    )
    return JSONResponse({"namespaces": [list(ns) for ns in found]})
