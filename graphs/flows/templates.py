"""``{{params.x}}`` and ``{{state.x}}`` placeholders in node configs.

A placeholder is a path, never an expression: ``{{ state.order.items[0] }}``
reads keys and list indexes, nothing else, so a template cannot run code.

* ``{{params.*}}`` is filled when the flow is compiled for a set of params
  (:func:`fill_params`); ``{{state.*}}`` is left for the node to fill at run
  time (:func:`render`), from the state it receives.
* A string that is exactly one placeholder takes the value as it is
  (``"{{params.limit}}"`` becomes the integer ``3``); inside longer text a
  value is written out (strings as they are, anything else as JSON).
* A missing key renders as ``None`` (alone) or an empty string (in text);
  the validator catches references to unknown channels and params up front.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Placeholder", "fill_params", "placeholders", "render"]

_PATH_PART = r"(?:\.[A-Za-z_][A-Za-z0-9_-]*|\[\d+\])"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)(" + _PATH_PART + r"*)\s*\}\}")
# Anything that opens like a placeholder, to report the malformed ones.
_ANY_BRACES = re.compile(r"\{\{(.*?)\}\}")
_PART = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]")


@dataclass(frozen=True)
class Placeholder:
    """One ``{{root.path}}`` found in a config: ``root`` is ``params`` or ``state``."""

    text: str
    root: str
    path: tuple[str | int, ...]
    where: tuple[str | int, ...]  # the key path inside the config

    @property
    def name(self) -> str | None:
        """The param or channel it reads (its first path part), if any."""
        first = self.path[0] if self.path else None
        return first if isinstance(first, str) else None


def _path(parts: str) -> tuple[str | int, ...]:
    return tuple(key if key else int(index) for key, index in _PART.findall(parts))


def _lookup(root: Any, path: tuple[str | int, ...]) -> Any:
    value = root
    for part in path:
        if isinstance(part, int):
            inside = isinstance(value, list) and -len(value) <= part < len(value)
            value = value[part] if inside else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
        if value is None:
            return None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _substitute(text: str, roots: Mapping[str, Any]) -> Any:
    whole = _PLACEHOLDER.fullmatch(text.strip())
    if whole is not None and whole.group(1) in roots:
        return _lookup(roots[whole.group(1)], _path(whole.group(2)))

    def one(match: re.Match[str]) -> str:
        root = match.group(1)
        if root not in roots:
            return match.group(0)  # another stage's placeholder: keep it
        return _as_text(_lookup(roots[root], _path(match.group(2))))

    return _PLACEHOLDER.sub(one, text)


def _walk(value: Any, roots: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return _substitute(value, roots) if "{{" in value else value
    if isinstance(value, Mapping):
        return {key: _walk(item, roots) for key, item in value.items()}
    if isinstance(value, list):
        return [_walk(item, roots) for item in value]
    return value


def fill_params(config: Any, params: Mapping[str, Any]) -> Any:
    """``config`` with every ``{{params.*}}`` replaced; ``{{state.*}}`` kept for run time."""
    return _walk(config, {"params": params})


def render(value: Any, state: Mapping[str, Any]) -> Any:
    """``value`` with every ``{{state.*}}`` replaced from ``state``."""
    return _walk(value, {"state": state})


def placeholders(config: Any, where: tuple[str | int, ...] = ()) -> Iterator[Placeholder]:
    """Every placeholder in ``config``; a malformed one has root ``""``."""
    if isinstance(config, str):
        for match in _ANY_BRACES.finditer(config):
            parsed = _PLACEHOLDER.fullmatch(match.group(0))
            if parsed is None:
                yield Placeholder(match.group(0), "", (), where)
            else:
                yield Placeholder(match.group(0), parsed.group(1), _path(parsed.group(2)), where)
    elif isinstance(config, Mapping):
        for key, item in config.items():
            yield from placeholders(item, (*where, str(key)))
    elif isinstance(config, list):
        for index, item in enumerate(config):
            yield from placeholders(item, (*where, index))
