"""The long-term store as the request's user may use it: ``store.*`` authorization.

Store namespaces are the application's own, so LangGraph scopes them by
*namespace*, not by metadata filters: a ``store.<action>`` handler (put,
get, search, delete, list_namespaces) receives the operation as LangGraph
Server builds it, with ``value["namespace"]`` a tuple (the search prefix for
``search``, the prefix or None for ``list_namespaces``), and either checks
it (``assert namespace[0] == ctx.user.identity``, the docs' explicit
pattern) or rewrites it (``value["namespace"] = (ctx.user.identity,
*namespace)``, the prefix pattern). The operation then runs on the
namespace the handler left, checked again like the client's.

Filters a store handler returns (rare; LangGraph applies them only to
search) are matched against item values here on every operation: search
narrows by them, get and delete treat an item they hide as missing, a put
does not overwrite one. Only equality terms can be searched by a store, so
a ``$contains`` term from a store handler is refused (403), never ignored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from langgraph.store.base import BaseStore, Item
from starlette.requests import HTTPConnection

from app.auth.access import authorize
from app.errors import AccessDenied
from app.store.filters import Filters, equality_terms, matches

__all__ = ["StoreScope", "authorize_store"]

log = logging.getLogger("switchyard.auth")


@dataclass(frozen=True)
class StoreScope:
    namespace: tuple[str, ...] | None  # what the operation runs on
    filters: Filters | None  # on item values

    def shows(self, item: Item) -> bool:
        return matches(item.value, self.filters)

    async def item_allowed(self, store: BaseStore, namespace: tuple[str, ...], key: str) -> bool:
        """No item at ``key``, or one the filters show."""
        existing = await store.aget(namespace, key)
        return existing is None or self.shows(existing)

    def item_filter(self, asked: dict[str, Any] | None) -> dict[str, Any] | None:
        """The caller's search filter with the handler's terms added; None if the two
        contradict each other (no item can match both)."""
        combined = dict(asked or {})
        for key, wanted in equality_terms(self.filters).items():
            if key in combined and combined[key] != wanted:
                return None
            combined[key] = wanted
        return combined


def _namespace(value: Any, action: str) -> tuple[str, ...] | None:
    if value is None and action == "list_namespaces":
        return None
    if isinstance(value, list | tuple) and all(
        isinstance(label, str) and label and "." not in label for label in value
    ):
        return tuple(value)
    log.error("the store.%s auth handler left namespace %r", action, value)
    raise AccessDenied(
        f"the store.{action} authorization handler left a namespace that is not a list "
        "of non-empty labels without '.'"
    )


async def authorize_store(conn: HTTPConnection, action: str, value: dict[str, Any]) -> StoreScope:
    """Authorize ``store.<action>`` on ``value`` (LangGraph's shape, edited in place)."""
    filters = await authorize(conn, "store", action, value)
    if filters and set(equality_terms(filters)) != set(filters):
        log.error("the store.%s auth handler returned a non-equality filter %r", action, filters)
        raise AccessDenied(
            f"the store.{action} authorization handler returned a filter the store cannot "
            "apply (only equality terms); scope the store by namespace instead"
        )
    return StoreScope(_namespace(value.get("namespace"), action), filters or None)
