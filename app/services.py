"""The long-lived objects a request handler needs, built once per app."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import HTTPConnection

from app.events import EventLog
from app.flows.service import FlowService
from app.mcp.registry import McpRegistry
from app.mcp.server import McpEndpoint
from app.platform.lifespan import Platform
from app.runs.manager import RunManager
from app.runs.resolver import AssistantResolver
from app.settings import Settings
from app.store import Storage
from app.transport.sse_response import OpenStreams
from graphs.registry import GraphRegistry
from routers.hybrid import HybridRouter

if TYPE_CHECKING:
    from app.observability.setup import Observability

__all__ = ["Services", "services_of"]


@dataclass(frozen=True)
class Services:
    settings: Settings
    storage: Storage
    registry: GraphRegistry
    events: EventLog
    runs: RunManager
    assistants: AssistantResolver
    streams: OpenStreams
    platform: Platform  # store, thread purge/TTL, crons, webhooks
    router: HybridRouter | None = None
    flows: FlowService | None = None
    mcp: McpRegistry | None = None
    mcp_endpoint: McpEndpoint | None = None
    observability: Observability | None = None


def services_of(connection: HTTPConnection) -> Services:
    """The app's services, as ``create_app``'s lifespan put them (HTTP or WebSocket)."""
    services: Services = connection.app.state.services
    return services
