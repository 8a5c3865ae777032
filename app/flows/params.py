"""Which template params a run asks a flow for: ``config.configurable.flow_params``.

A flow with ``params`` is a template; each run may pick values (defaults
fill the rest), and each distinct set is compiled once. Values are checked
when the run is created, so a bad one is a 422, never a failed run.
"""

from __future__ import annotations

from typing import Any

from app.errors import InvalidInput
from app.schemas import RunCreate
from graphs.flows.params import FlowParamsError, resolve_params
from graphs.registry import GraphRegistry

__all__ = ["FLOW_PARAMS_KEY", "check_flow_params", "flow_params"]

FLOW_PARAMS_KEY = "flow_params"


def flow_params(body: RunCreate) -> dict[str, Any] | None:
    configurable = (body.config or {}).get("configurable") or {}
    params = configurable.get(FLOW_PARAMS_KEY)
    return params if isinstance(params, dict) else None


def check_flow_params(registry: GraphRegistry, graph_id: str, body: RunCreate) -> None:
    configurable = (body.config or {}).get("configurable") or {}
    given = configurable.get(FLOW_PARAMS_KEY)
    served = registry.flow(graph_id)
    if given is not None and not isinstance(given, dict):
        raise InvalidInput(f"config.configurable.{FLOW_PARAMS_KEY} must be an object")
    if served is None:
        if given is not None:
            raise InvalidInput(f"{graph_id!r} is a code graph: it takes no {FLOW_PARAMS_KEY}")
        return
    try:
        resolve_params(served.flow, given)
    except FlowParamsError as exc:
        raise InvalidInput(str(exc)) from None
