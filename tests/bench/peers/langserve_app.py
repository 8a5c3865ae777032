"""LangServe serving the ``steps`` graph: ``uvicorn langserve_app:app --app-dir <here>``.

Runs inside ``.bench-peers-venv`` (fastapi and langserve are never project
dependencies). ``/steps/stream`` streams the graph's ``stream_mode``, set
to ``updates`` here so the peers send the same three events.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI  # type: ignore[import-not-found,unused-ignore]
from langserve import add_routes  # type: ignore[import-not-found,unused-ignore]

sys.path.insert(0, str(Path(__file__).parent))
_steps = importlib.import_module("steps_graph")

graph: Any = _steps.build_steps().compile()
graph.stream_mode = "updates"

app = FastAPI(title="steps via LangServe")
add_routes(app, graph, path="/steps")
