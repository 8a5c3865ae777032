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

__all__ = ["FLOW_PARAMS_KEY", "check_flow_params", "flow_params", "params_to_read"]

FLOW_PARAMS_KEY = "flow_params"

# Stand-ins for required params when a template is compiled only to be read
# (its schemas, its drawing): the shape of a flow does not depend on them.
_STAND_INS: dict[str, Any] = {
    "string": "",
    "integer": 0,
    "number": 0,
    "boolean": False,
    "array": [],
    "object": {},
}


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
    if given is None and (body.command is not None or body.checkpoint_id or body.checkpoint):
        return  # it goes on from a checkpoint, with the params stamped there (app.flows.versions)
    try:
        resolve_params(served.flow, given)
    except FlowParamsError as exc:
        raise InvalidInput(str(exc)) from None


def params_to_read(
    registry: GraphRegistry, graph_id: str, config: dict[str, Any] | None
) -> dict[str, Any] | None:
    """Params to compile ``graph_id`` with when it is only read (schemas, drawing):
    the assistant's own ``flow_params``, else stand-ins for the required ones."""
    served = registry.flow(graph_id)
    if served is None:
        return None
    given = ((config or {}).get("configurable") or {}).get(FLOW_PARAMS_KEY)
    if isinstance(given, dict):
        return given
    required = {n: p for n, p in served.flow.params.items() if p.required}
    return {name: _STAND_INS[param.type] for name, param in required.items()} or None
