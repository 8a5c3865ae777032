"""RFC 6902 JSON Patch between successive graph states (``stream_mode="delta"``).

One ``DeltaEncoder`` serves one stream (one namespace of one run). For every
state ``s_1, s_2, ...`` it is given, the ops it returns satisfy::

    apply(apply(... apply(None, encode(s_1)) ...), encode(s_k)) == jsonable(s_k)

that is, ``apply(jsonable(s_{k-1}), encode(s_k)) == jsonable(s_k)`` for every
step, and the first call (or any call to ``keyframe``) returns the full state
as ``[{"op": "replace", "path": "", "value": jsonable(s)}]``.

How it stays cheap
------------------
The encoder remembers two parallel trees of the previous state: ``raw``, a
private snapshot of its containers whose leaves are the caller's objects, and
``json``, the plain JSON form. A step walks the new state against them and
only calls ``app.serde.jsonable`` on subtrees that are new or changed, so an
append to a 200-message list costs one identity scan of the list plus one
message conversion, never a re-serialisation of the whole state.

The trust rule (what "unchanged" means)
---------------------------------------
* Containers (``dict`` with ``str`` keys, ``list``, ``tuple``) are never
  trusted by identity: a caller may mutate a dict or list in place and pass it
  again. They are always walked, against the encoder's own snapshot of their
  previous contents (which no caller can reach, so it cannot change behind
  the encoder's back).
* Scalars (``str``, ``int``, ``float``, ``bool``, ``None``) are immutable and
  compared by type and value (``1``, ``1.0`` and ``True`` stay distinct).
* Any other object (LangChain messages, dataclasses, ...) is a leaf, treated
  as a value: the *same object* as last step means unchanged. LangGraph
  builds state from the same message objects step after step, so this is the
  fast path. A different object is converted with ``jsonable`` and diffed as
  JSON against the previous form, so a message replaced by id yields only
  the fields that differ. Leaves that are mutable built-in containers (sets,
  non-``str``-keyed dicts, other mutable mappings/sequences) are never
  trusted by identity and are re-converted every step.
  Consequence: mutating a message object *in place* and passing it again is
  not seen; call ``keyframe`` after such a mutation.

Op shapes: appends are ``add <list>/-``; a shrinking list loses its tail with
``remove`` ops from the highest index down; an element that changed in place
is ``replace``d, or diffed recursively when old and new are both dicts or
both lists; dict keys are ``add``/``remove``/``replace``d; path tokens are
escaped per RFC 6901 (``~`` -> ``~0``, ``/`` -> ``~1``). Unchanged subtrees
produce no ops.

Op values share structure with the encoder's memory: treat them as read-only
(serialise them, do not mutate them). An encoder is not thread-safe.
"""

from __future__ import annotations

from collections.abc import MutableMapping, MutableSequence, MutableSet
from math import copysign
from operator import is_
from typing import Any, Final

from app.serde import jsonable

__all__ = ["DeltaEncoder", "Op"]

Op = dict[str, Any]

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})

# Never identical to anything a caller passes: stands for "no trustworthy
# raw form remembered here", which forces a comparison on the JSON form.
_NO_RAW: Final = object()
# Nothing remembered yet: the next encode is a keyframe.
_NOTHING: Final = object()

_UNTRUSTED_LEAVES: Final = (dict, list, bytearray, MutableMapping, MutableSequence, MutableSet)


class DeltaEncoder:
    """Turns successive states of one stream into RFC 6902 ops.

    Invariant, for every step k (with ``s_0`` meaning JSON ``null``)::

        jsonpatch.apply_patch(jsonable(s_{k-1}), encoder.encode(s_k)) == jsonable(s_k)

    The first ``encode`` (and every ``keyframe``) is
    ``[{"op": "replace", "path": "", "value": jsonable(s_k)}]``.
    """

    __slots__ = ("_json", "_raw")

    def __init__(self) -> None:
        self._raw: Any = _NOTHING
        self._json: Any = _NOTHING

    def keyframe(self, state: Any) -> list[Op]:
        """The full state as one root ``replace``; later deltas are relative to it."""
        self._raw, self._json = _snapshot(state)
        return [{"op": "replace", "path": "", "value": self._json}]

    def encode(self, state: Any) -> list[Op]:
        """Ops from the remembered state to ``state`` (a keyframe if none is remembered)."""
        if self._json is _NOTHING:
            return self.keyframe(state)
        ops: list[Op] = []
        # Assign only after the walk succeeds, so a failure leaves the
        # encoder consistent with what the client last received.
        raw, json = _diff(state, self._raw, self._json, "", ops)
        self._raw, self._json = raw, json
        return ops


def _escape(token: str) -> str:
    """RFC 6901 reference token: ``~`` first, so ``/`` -> ``~1`` is not re-escaped."""
    if "~" in token or "/" in token:
        return token.replace("~", "~0").replace("/", "~1")
    return token


def _is_container_dict(value: Any) -> bool:
    # Non-str keys are renamed by orjson (OPT_NON_STR_KEYS); leave those
    # dicts to jsonable so the key spelling always matches ``values`` mode.
    return isinstance(value, dict) and all(type(key) is str for key in value)


def _leaf_raw(value: Any) -> Any:
    """What to remember of a leaf: itself if its identity can be trusted."""
    return _NO_RAW if isinstance(value, _UNTRUSTED_LEAVES) else value


def _snapshot(value: Any) -> tuple[Any, Any]:
    """(raw, json) for a value with nothing remembered to compare against."""
    if type(value) in _SCALARS:
        return value, value
    if isinstance(value, (list, tuple)):
        raws: list[Any] = []
        jsons: list[Any] = []
        for item in value:
            raw, json = _snapshot(item)
            raws.append(raw)
            jsons.append(json)
        return raws, jsons
    if _is_container_dict(value):
        raw_map: dict[str, Any] = {}
        json_map: dict[str, Any] = {}
        for key, item in value.items():
            raw_map[key], json_map[key] = _snapshot(item)
        return raw_map, json_map
    return _leaf_raw(value), jsonable(value)


def _same_scalar(new: Any, old: Any) -> bool:
    """Equal as JSON, which Python's ``==`` is not: ``1 == 1.0 == True`` and ``0.0 == -0.0``."""
    kind = type(new)
    if kind is not type(old) or new != old:
        return False
    return kind is not float or copysign(1.0, new) == copysign(1.0, old)


def _same_leaf(new: Any, old_raw: Any) -> bool:
    """True only when ``new`` certainly encodes exactly like ``old_raw`` did."""
    return new is old_raw or (type(new) in _SCALARS and _same_scalar(new, old_raw))


def _diff(new: Any, old_raw: Any, old_json: Any, path: str, ops: list[Op]) -> tuple[Any, Any]:
    """Append to ``ops`` the patch from ``old_json`` to ``new``; return new (raw, json).

    ``old_raw`` is the snapshot remembered with ``old_json``, or ``_NO_RAW``.
    Returns the old pair itself when nothing changed, so parents can tell.
    """
    # Safe for every kind of node: old_raw is a scalar, a trusted leaf, or a
    # private snapshot / _NO_RAW that no caller can hold.
    if new is old_raw:
        return old_raw, old_json
    kind = type(new)
    if kind in _SCALARS:
        if _same_scalar(new, old_json):
            return old_json, old_json
        ops.append({"op": "replace", "path": path, "value": new})
        return new, new
    if isinstance(new, (list, tuple)):
        if type(old_json) is list:
            return _diff_list(new, old_raw, old_json, path, ops)
    elif _is_container_dict(new):
        if type(old_json) is dict:
            return _diff_dict(new, old_raw, old_json, path, ops)
    else:
        new_json = jsonable(new)
        _diff_json(old_json, new_json, path, ops)
        return _leaf_raw(new), new_json
    # A container where something of another JSON type used to be.
    raw, json = _snapshot(new)
    ops.append({"op": "replace", "path": path, "value": json})
    return raw, json


def _diff_dict(
    new: dict[str, Any], old_raw: Any, old_json: dict[str, Any], path: str, ops: list[Op]
) -> tuple[Any, Any]:
    raw_map: dict[str, Any] | None = old_raw if type(old_raw) is dict else None
    new_raw: dict[str, Any] = {}
    new_json: dict[str, Any] = {}
    changed = raw_map is None
    kept = 0
    for key, value in new.items():
        child_path = f"{path}/{_escape(key)}"
        if key in old_json:
            kept += 1
            child_raw = _NO_RAW if raw_map is None else raw_map[key]
            child_json = old_json[key]
            raw, json = _diff(value, child_raw, child_json, child_path, ops)
            changed = changed or raw is not child_raw or json is not child_json
        else:
            raw, json = _snapshot(value)
            ops.append({"op": "add", "path": child_path, "value": json})
            changed = True
        new_raw[key] = raw
        new_json[key] = json
    if kept < len(old_json):
        changed = True
        for key in old_json:
            if key not in new:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
    if not changed:
        return old_raw, old_json
    return new_raw, new_json


def _diff_list(
    new: list[Any] | tuple[Any, ...], old_raw: Any, old_json: list[Any], path: str, ops: list[Op]
) -> tuple[Any, Any]:
    raw_list: list[Any] | None = old_raw if type(old_raw) is list else None
    n_old, n_new = len(old_json), len(new)
    shortest = min(n_old, n_new)
    # Common prefix and suffix of certainly-unchanged leaves. Containers never
    # match here (they are walked below), so alignment can only be helped.
    prefix = suffix = 0
    if raw_list is not None:
        if all(map(is_, new, raw_list)):  # C-speed scan: the usual "same messages" case
            prefix = shortest
        else:
            while prefix < shortest and _same_leaf(new[prefix], raw_list[prefix]):
                prefix += 1
        while suffix < shortest - prefix and _same_leaf(
            new[n_new - 1 - suffix], raw_list[n_old - 1 - suffix]
        ):
            suffix += 1
        if prefix == n_old == n_new:
            return old_raw, old_json
    new_raw: list[Any] = raw_list[:prefix] if raw_list is not None else []
    new_json: list[Any] = old_json[:prefix]
    old_middle, new_middle = n_old - prefix - suffix, n_new - prefix - suffix
    paired = min(old_middle, new_middle)
    changed = raw_list is None or old_middle != new_middle
    for index in range(prefix, prefix + paired):
        child_raw = _NO_RAW if raw_list is None else raw_list[index]
        child_json = old_json[index]
        raw, json = _diff(new[index], child_raw, child_json, f"{path}/{index}", ops)
        changed = changed or raw is not child_raw or json is not child_json
        new_raw.append(raw)
        new_json.append(json)
    # Surplus old elements go from the highest index down, so every op's
    # index is valid when applied and a plain shrink pops from the end.
    for index in range(prefix + old_middle - 1, prefix + paired - 1, -1):
        ops.append({"op": "remove", "path": f"{path}/{index}"})
    for index in range(prefix + paired, prefix + new_middle):
        raw, json = _snapshot(new[index])
        token = "-" if suffix == 0 else str(index)
        ops.append({"op": "add", "path": f"{path}/{token}", "value": json})
        new_raw.append(raw)
        new_json.append(json)
    if not changed:
        return old_raw, old_json
    if suffix:
        new_raw.extend(raw_list[n_old - suffix :] if raw_list is not None else ())
        new_json.extend(old_json[n_old - suffix :])
    return new_raw, new_json


def _diff_json(old: Any, new: Any, path: str, ops: list[Op]) -> None:
    """Patch between two plain JSON values (used under leaves that changed)."""
    if old is new:
        return
    old_kind, new_kind = type(old), type(new)
    if old_kind is dict and new_kind is dict:
        for key, value in new.items():
            child_path = f"{path}/{_escape(key)}"
            if key in old:
                _diff_json(old[key], value, child_path, ops)
            else:
                ops.append({"op": "add", "path": child_path, "value": value})
        for key in old:
            if key not in new:
                ops.append({"op": "remove", "path": f"{path}/{_escape(key)}"})
    elif old_kind is list and new_kind is list:
        shortest = min(len(old), len(new))
        for index in range(shortest):
            _diff_json(old[index], new[index], f"{path}/{index}", ops)
        for index in range(len(old) - 1, shortest - 1, -1):
            ops.append({"op": "remove", "path": f"{path}/{index}"})
        for value in new[shortest:]:
            ops.append({"op": "add", "path": f"{path}/-", "value": value})
    elif not _same_scalar(new, old):
        ops.append({"op": "replace", "path": path, "value": new})
