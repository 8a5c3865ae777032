"""Import the object a graph spec names: ``./file.py:attr`` or ``pkg.module:attr``.

Kept apart from the registry so that "find the object" and "turn it into a
compiled graph, once" stay two small concepts. Every failure is a
``GraphLoadError`` carrying the spec as written and the reason.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

__all__ = ["GraphLoadError", "import_target"]


class GraphLoadError(Exception):
    """A graph spec could not be imported, built or compiled."""

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"{spec}: {reason}")
        self.spec = spec
        self.reason = reason


def _is_file_location(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


def _extend_sys_path(search_paths: Sequence[Path]) -> None:
    added = False
    for path in reversed(search_paths):
        if str(path) not in sys.path:
            # In front, as when running ``python`` in that directory: the
            # user's modules win over same-named installed ones.
            sys.path.insert(0, str(path))
            added = True
    if added:
        importlib.invalidate_caches()


def _import_file(spec: str, path: Path) -> ModuleType:
    if not path.is_file():
        raise GraphLoadError(spec, f"file not found: {path}")
    # One synthetic, importable name per file, so two graph ids pointing at
    # the same file share one module and user names cannot collide.
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    stem = re.sub(r"\W", "_", path.stem)
    name = f"_switchyard_graph_{stem}_{digest}"
    if (loaded := sys.modules.get(name)) is not None:
        return loaded
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        raise GraphLoadError(spec, f"not an importable Python file: {path}")
    module = importlib.util.module_from_spec(module_spec)
    # Registered before running it: dataclasses and typing look modules up
    # by name while the module body executes.
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def import_target(
    spec: str, base_dir: Path, search_paths: Sequence[Path] = ()
) -> tuple[Any, ModuleType]:
    """The object ``spec`` names and the module it lives in.

    File locations are relative to ``base_dir`` (the config file's
    directory); ``search_paths`` are put on ``sys.path`` first.
    """
    location, colon, attr_path = spec.rpartition(":")
    if not colon or not location or not attr_path:
        raise GraphLoadError(spec, "expected '<module or ./file.py>:<attribute>'")
    _extend_sys_path(search_paths)
    try:
        if _is_file_location(location):
            module = _import_file(spec, (base_dir / location).resolve())
        else:
            module = importlib.import_module(location)
    except GraphLoadError:
        raise
    except Exception as exc:
        raise GraphLoadError(spec, f"import failed: {exc!r}") from exc
    target: Any = module
    for attr in attr_path.split("."):
        try:
            target = getattr(target, attr)
        except AttributeError:
            raise GraphLoadError(
                spec, f"module {module.__name__!r} has no attribute {attr_path!r}"
            ) from None
    return target, module
