"""The ``steps`` fixture graph for the peer servers, loaded by file path.

Imported inside ``.bench-peers-venv`` (which has LangGraph but not
Switchyard), by ``langgraph dev`` through ``langgraph.json`` and by the
LangServe app, so all servers run the very same three nodes.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

__all__ = ["build_steps", "graph"]

_STEPS = Path(__file__).resolve().parents[2] / "fixtures" / "graphs" / "steps.py"


def build_steps() -> Any:
    spec = importlib.util.spec_from_file_location("bench_peers_steps", _STEPS)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {_STEPS}")
    module = sys.modules.get(spec.name)
    if module is None:
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module
        spec.loader.exec_module(module)
    return module.build_steps()


graph = build_steps().compile()
