"""Fixtures for flow tests: a registry serving the built-in graphs and flows."""

from __future__ import annotations

from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver

from graphs.flows.components.catalog import ComponentCatalog
from graphs.models import OfflineChatModel
from graphs.registry import GraphRegistry

# The `function` component may only name modules the operator allows.
FUNCTION_MODULES = ("tests.graphs.flows",)


@pytest.fixture
def components() -> ComponentCatalog:
    return ComponentCatalog.discover(function_modules=FUNCTION_MODULES, use_entry_points=False)


@pytest.fixture
def registry(components: ComponentCatalog, tmp_path: Path) -> GraphRegistry:
    return GraphRegistry.from_config_files(
        [GraphRegistry.builtin_config()],
        checkpointer=InMemorySaver(),
        deps={"model": OfflineChatModel(), "outbox": tmp_path / "outbox"},
        components=components,
    )
