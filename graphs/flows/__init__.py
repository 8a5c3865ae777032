"""Declarative flows: graphs described as data (JSON/YAML), compiled to LangGraph.

``document`` (the format) -> ``validate`` (every problem, with its path) ->
``compiler`` (a ``StateGraph`` builder, built once per version and params)
-> ``catalog`` (flows by id and version, compiled once; used by the graph
registry). Nodes are ``components``; MCP tools come from ``mcp_registry``.
Nothing here imports Starlette or HTTP server code.
"""
