"""MCP tests use the flow registry fixture of the graph tests."""

from tests.graphs.flows.conftest import components, registry

__all__ = ["components", "registry"]
