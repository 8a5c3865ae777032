"""JSON for everything a graph can put in its state or stream.

Graph state holds LangChain messages (pydantic models), dataclasses,
``Interrupt``/``Send`` objects and plain data. ``dumps`` turns any of it into
one-line JSON bytes with orjson; ``jsonable`` turns a value into plain
dict/list/str/number data (used where a value must be compared or patched
as JSON, e.g. by the delta encoder, which only calls it on changed subtrees).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import orjson
from pydantic import BaseModel

__all__ = ["dumps", "jsonable", "loads"]

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def _default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if isinstance(obj, Mapping):
        return dict(obj)
    if isinstance(obj, BaseException):
        return {"error": type(obj).__name__, "message": str(obj)}
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    # Objects that describe themselves (langgraph's Send, Command, Interrupt
    # in some versions) expose their fields through __dict__ or __slots__.
    fields = getattr(obj, "__slots__", None)
    if fields:
        return {name: getattr(obj, name) for name in fields if not name.startswith("_")}
    if hasattr(obj, "__dict__"):
        return {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    # Last resort: a readable string beats a crashed stream.
    return repr(obj)


def dumps(obj: Any) -> bytes:
    """One-line JSON bytes; never raises for an odd object in the state."""
    return orjson.dumps(obj, default=_default, option=_OPTIONS)


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    return orjson.loads(data)


_PLAIN = (str, int, float, bool, type(None))


def jsonable(obj: Any) -> Any:
    """Plain JSON data equal to what ``dumps(obj)`` would encode."""
    if type(obj) in _PLAIN:
        return obj
    return orjson.loads(dumps(obj))
