"""Authorization filters on a record's metadata: one matcher for every store backend.

A filter is what a LangGraph auth handler returns (``Auth.types.FilterType``);
its keys are ANDed::

    {"owner": "alice"}                          metadata["owner"] == "alice"
    {"owner": {"$eq": "alice"}}                 the same, spelled out
    {"members": {"$contains": "alice"}}         "alice" in metadata["members"] (a list)
    {"members": {"$contains": ["a", "b"]}}      both are in metadata["members"]

A key the metadata lacks never matches, and a term of any other shape never
matches either: a filter the store does not understand hides the record
rather than showing it (``check_filters`` lets the caller reject it first,
with a message). Every backend calls ``matches`` for the exact answer, so
memory, SQLite and Postgres agree; a database may first narrow rows with
``equality_terms``, which is only ever a superset.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Filters", "InvalidFilter", "check_filters", "equality_terms", "matches"]

Filters = Mapping[str, Any]

_OPERATORS = frozenset({"$eq", "$contains"})


class InvalidFilter(ValueError):
    """A filter term of a shape no store can apply."""


def _term_ok(value: Any) -> bool:
    if not isinstance(value, dict):
        return isinstance(value, str | int | float | bool) or value is None
    if len(value) != 1 or not _OPERATORS.issuperset(value):
        return False
    ((operator, operand),) = value.items()
    if operator == "$contains" and isinstance(operand, list):
        return all(_term_ok(item) and not isinstance(item, dict) for item in operand)
    return not isinstance(operand, dict | list)


def check_filters(filters: Any) -> dict[str, Any]:
    """``filters`` as a plain dict, or ``InvalidFilter`` saying which term is wrong."""
    if not isinstance(filters, Mapping):
        raise InvalidFilter(f"a filter must be a dict, not {type(filters).__name__}")
    for key, value in filters.items():
        if not isinstance(key, str):
            raise InvalidFilter(f"filter keys must be strings, not {key!r}")
        if not _term_ok(value):
            raise InvalidFilter(
                f"filter term {key!r}: {value!r} is not a value, {{'$eq': value}} or "
                "{'$contains': value | [values]}"
            )
    return dict(filters)


def _term_matches(present: bool, actual: Any, wanted: Any) -> bool:
    if not present:
        return False
    if not isinstance(wanted, dict):
        return bool(actual == wanted)
    if len(wanted) != 1:
        return False
    ((operator, operand),) = wanted.items()
    if operator == "$eq":
        return bool(actual == operand)
    if operator == "$contains" and isinstance(actual, list):
        needed = operand if isinstance(operand, list) else [operand]
        return all(item in actual for item in needed)
    return False


def matches(metadata: Mapping[str, Any] | None, filters: Filters | None) -> bool:
    """True if ``metadata`` satisfies every term of ``filters`` (no filters: always)."""
    if not filters:
        return True
    data = metadata or {}
    return all(_term_matches(key in data, data.get(key), want) for key, want in filters.items())


def equality_terms(filters: Filters | None) -> dict[str, Any]:
    """The terms that are plain equality (``value`` or ``{"$eq": value}``), for a
    database to narrow rows with before ``matches`` gives the exact answer."""
    terms: dict[str, Any] = {}
    for key, want in (filters or {}).items():
        if not isinstance(want, dict):
            terms[key] = want
        elif set(want) == {"$eq"}:
            terms[key] = want["$eq"]
    return terms
