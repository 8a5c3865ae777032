"""Schemathesis hooks for the fuzz run (``tests/app/openapi/test_fuzz.py``).

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS``.

``after_seconds`` may be up to a day: a run scheduled that late holds its
thread's turn (and a ``/wait`` its request) for that long, which a bounded
fuzz run cannot wait for. Any larger number is brought down to 0.05 s;
everything else the generator produced is sent as it is.
"""

from __future__ import annotations

from typing import Any

import schemathesis

_MAX_DELAY_S = 0.05


def _cap(value: Any) -> Any:
    if isinstance(value, dict):
        delay = value.get("after_seconds")
        if isinstance(delay, int | float) and not isinstance(delay, bool) and delay > _MAX_DELAY_S:
            value = {**value, "after_seconds": _MAX_DELAY_S}
        if isinstance(value.get("items"), list):
            value = {**value, "items": [_cap(item) for item in value["items"]]}
    elif isinstance(value, list):
        value = [_cap(item) for item in value]
    return value


@schemathesis.hook
def map_body(context: schemathesis.HookContext, body: Any) -> Any:
    return _cap(body)
