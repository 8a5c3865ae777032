"""``app.store.filters``: the one matcher every store backend applies to auth filters."""

from __future__ import annotations

from typing import Any

import pytest

from app.store.filters import InvalidFilter, check_filters, equality_terms, matches

META = {"owner": "alice", "tags": ["a", "b"], "n": 3, "flag": False}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, True),
        ({}, True),
        ({"owner": "alice"}, True),
        ({"owner": "bob"}, False),
        ({"owner": {"$eq": "alice"}}, True),
        ({"tags": {"$contains": "a"}}, True),
        ({"tags": {"$contains": ["b", "a"]}}, True),
        ({"tags": {"$contains": ["a", "z"]}}, False),
        ({"owner": {"$contains": "a"}}, False),  # not a list: no containment
        ({"n": 3, "flag": False}, True),
        ({"absent": None}, False),  # a missing key never matches, even None
        ({"owner": {"$regex": "a.*"}}, False),  # unknown operator: fail closed
        ({"owner": {"$eq": "alice", "$contains": "x"}}, False),
    ],
)
def test_matches(filters: dict[str, Any] | None, expected: bool) -> None:
    assert matches(META, filters) is expected


def test_matches_when_metadata_missing_then_only_empty_filters_match() -> None:
    assert matches(None, {}) is True
    assert matches(None, {"owner": "alice"}) is False


@pytest.mark.parametrize(
    "bad",
    [
        ["owner"],
        {"owner": {"$regex": "x"}},
        {"owner": {"$eq": {"nested": 1}}},
        {"owner": {"$contains": [{"a": 1}]}},
        {"owner": {"nested": "dict"}},
        {1: "x"},
    ],
)
def test_check_filters_when_shape_is_unknown_then_it_says_which_term(bad: Any) -> None:
    with pytest.raises(InvalidFilter):
        check_filters(bad)


def test_equality_terms_keep_only_plain_equality() -> None:
    filters = {"owner": "alice", "org": {"$eq": "o1"}, "tags": {"$contains": "a"}}
    assert equality_terms(filters) == {"owner": "alice", "org": "o1"}
    assert check_filters(filters) == filters
