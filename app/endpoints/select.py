"""``select``: the fields of a record a client asked for, as LangGraph's API answers it.

``pick(record, fields)`` keeps the named top-level fields. A state adds
``values.<key>``: ``pick_state(state, ["values.messages"])`` keeps ``values``
with only ``messages`` in it (all of ``values`` when ``values`` itself is
selected too). The field names were validated by the request schemas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["pick", "pick_state"]


def pick(record: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if not fields:
        return record
    return {name: record[name] for name in fields if name in record}


def pick_state(state: dict[str, Any], fields: Sequence[str] | None) -> dict[str, Any]:
    if not fields:
        return state
    keys = [name.removeprefix("values.") for name in fields if name.startswith("values.")]
    picked = pick(state, [name for name in fields if not name.startswith("values.")])
    if keys and "values" not in picked:
        values = state.get("values")
        picked["values"] = (
            {key: values[key] for key in keys if key in values}
            if isinstance(values, dict)
            else values
        )
    return picked
