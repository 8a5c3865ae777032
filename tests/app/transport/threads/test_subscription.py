"""Subscription matching: the same answers the SDKs' own matcher gives."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph_sdk.stream.subscription import matches_subscription
from pydantic import ValidationError

from app.transport.threads.subscription import EventFilter, channel_of, matches


def _event(method: str, namespace: list[str], data: Any = None) -> dict[str, Any]:
    return {"type": "event", "method": method, "params": {"namespace": namespace, "data": data}}


EVENTS = [
    _event("values", []),
    _event("values", ["inner:abc"]),
    _event("updates", ["inner:abc", "deep:def"]),
    _event("custom", [], {"name": "progress", "payload": 1}),
    _event("custom", [], {"stage": "x"}),
    _event("input.requested", [], {"interrupt_id": "i"}),
    _event("lifecycle", ["inner:abc"], {"event": "started"}),
]
FILTERS: list[dict[str, Any]] = [
    {"channels": ["values"]},
    {"channels": ["values"], "namespaces": [[]], "depth": 0},
    {"channels": ["values", "updates"], "namespaces": [["inner"]]},
    {"channels": ["updates"], "namespaces": [["inner"]], "depth": 0},
    {"channels": ["updates"], "namespaces": [["inner:abc"]], "depth": 1},
    {"channels": ["custom"]},
    {"channels": ["custom:progress"]},
    {"channels": ["input", "lifecycle"]},
    {"channels": ["lifecycle"], "namespaces": [["inner:zzz"]]},
]


@pytest.mark.parametrize("wanted", FILTERS)
def test_matches_when_compared_with_the_sdk_matcher_then_same_answer(
    wanted: dict[str, Any],
) -> None:
    parsed = EventFilter.model_validate(wanted)
    for event in EVENTS:
        assert matches(event, parsed) == matches_subscription(event, wanted), (event, wanted)  # type: ignore[arg-type]


def test_channel_of_when_named_custom_then_custom_colon_name() -> None:
    assert channel_of(EVENTS[3]) == "custom:progress"
    assert channel_of(EVENTS[4]) == "custom"
    assert channel_of(EVENTS[5]) == "input"


def test_filter_when_unknown_channel_or_negative_depth_then_rejected() -> None:
    with pytest.raises(ValidationError):
        EventFilter.model_validate({"channels": ["gossip"]})
    with pytest.raises(ValidationError):
        EventFilter.model_validate({"channels": ["values"], "depth": -1})
    with pytest.raises(ValidationError):
        EventFilter.model_validate({"channels": []})
