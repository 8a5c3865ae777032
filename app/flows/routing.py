"""Flows as router targets, kept in step with the flows served.

The router (``routers.HybridRouter``) routes among every routable graph but
``auto`` itself; the ``auto`` graph embeds each of them as a subgraph node.
Both are built at startup, so when a flow is created, changed or deleted
(here, or on a peer: ``FlowService.reconcile``) ``FlowRouting.sync``:

1. has the registry compile ``auto`` again on its next run, so that it
   embeds the flows (and versions) served now. Runs of ``auto`` already
   going keep the graph they started with;
2. retargets the router: the targets with their descriptions, and each
   flow's ``examples`` joining the semantic tier.

In that order, a new flow is in ``auto`` before the router may choose it.
A deleted flow is gone from ``auto`` a moment before the router stops
choosing it: a decision made in that moment fails its run with an ``error``
event naming the target, never silently elsewhere.
"""

from __future__ import annotations

import asyncio
import logging

from graphs.registry import GraphRegistry
from routers.hybrid import HybridRouter

__all__ = ["AUTO_GRAPH", "FlowRouting", "router_examples", "router_targets"]

AUTO_GRAPH = "auto"

log = logging.getLogger("switchyard.flows")


def router_targets(registry: GraphRegistry) -> dict[str, str]:
    """What the router may choose: graph id -> description (``auto`` excluded)."""
    return {g: registry.description(g) for g in registry.routable_ids() if g != AUTO_GRAPH}


def router_examples(registry: GraphRegistry) -> dict[str, list[str]]:
    """Each routable flow's example requests, for the semantic tier."""
    targets = set(registry.routable_ids())
    found: dict[str, list[str]] = {}
    for flow_id in registry.flows.ids():
        served = registry.flow(flow_id)
        if served is not None and served.flow.examples and flow_id in targets:
            found[flow_id] = list(served.flow.examples)
    return found


class FlowRouting:
    def __init__(self, registry: GraphRegistry, router: HybridRouter | None) -> None:
        self._registry = registry
        self._router = router
        self._lock = asyncio.Lock()  # retargets in the order the changes happened

    async def sync(self) -> None:
        """Make the router and ``auto`` see the flows served now."""
        if self._router is None:  # ``auto`` is not served: nothing routes
            return
        async with self._lock:
            self._registry.recompile(AUTO_GRAPH)
            targets = router_targets(self._registry)
            await self._router.retarget(targets, router_examples(self._registry))
        log.info("router targets: %s", ", ".join(targets))
