"""Crons as the request's user may see them: authorization filters on cron metadata.

A ``crons.*`` handler's filters (``{"owner": "alice"}``, ``$eq``,
``$contains``; ``app.store.filters``) are matched against each cron's
metadata here, above the ``CronStore`` contract, so every cron backend
(memory, SQLite, and the ones to come) is scoped the same way without
each learning the filter language.

Search and count ask the store for the filters' equality terms along with
the caller's own metadata criteria (the store narrows by those), then keep
the crons that match every term; a page is cut from what is kept, so
``limit``/``offset`` count only visible crons. A caller's criterion that
contradicts a filter term (``metadata: {"owner": "bob"}`` from alice) can
match nothing, and nothing is what it gets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.store.crons import Cron, CronStore
from app.store.filters import Filters, equality_terms, matches

__all__ = ["count_visible", "search_visible", "visible"]

_PAGE = 500  # crons read per store call while filtering


def visible(cron: Cron, filters: Filters | None) -> bool:
    return matches(cron.metadata, filters)


def _narrowed(metadata: Mapping[str, Any] | None, filters: Filters) -> dict[str, Any] | None:
    """The caller's metadata criteria plus the filters' equality terms; None if they
    contradict each other (no cron can match both)."""
    narrowed = dict(metadata or {})
    for key, wanted in equality_terms(filters).items():
        if key in narrowed and narrowed[key] != wanted:
            return None
        narrowed[key] = wanted
    return narrowed


async def search_visible(
    store: CronStore,
    filters: Filters | None,
    *,
    metadata: Mapping[str, Any] | None = None,
    limit: int = 10,
    offset: int = 0,
    **criteria: Any,
) -> list[Cron]:
    """``store.search(...)`` over the crons ``filters`` let the user see."""
    if not filters:
        return await store.search(metadata=metadata, limit=limit, offset=offset, **criteria)
    narrowed = _narrowed(metadata, filters)
    if narrowed is None:
        return []
    kept: list[Cron] = []
    start = 0
    while len(kept) < offset + limit:
        page = await store.search(metadata=narrowed, limit=_PAGE, offset=start, **criteria)
        kept.extend(cron for cron in page if visible(cron, filters))
        if len(page) < _PAGE:
            break
        start += _PAGE
    return kept[offset : offset + limit]


async def count_visible(
    store: CronStore,
    filters: Filters | None,
    *,
    metadata: Mapping[str, Any] | None = None,
    **criteria: Any,
) -> int:
    """``store.count(...)`` of the crons ``filters`` let the user see."""
    if not filters:
        return await store.count(metadata=metadata, **criteria)
    narrowed = _narrowed(metadata, filters)
    if narrowed is None:
        return 0
    if set(equality_terms(filters)) == set(filters):  # the store's count is exact
        return await store.count(metadata=narrowed, **criteria)
    total, start = 0, 0
    while True:
        page = await store.search(metadata=narrowed, limit=_PAGE, offset=start, **criteria)
        total += sum(visible(cron, filters) for cron in page)
        if len(page) < _PAGE:
            return total
        start += _PAGE
