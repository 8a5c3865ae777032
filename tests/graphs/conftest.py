"""Fixtures for the graph tests: a local OpenAI-protocol server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.openai_server import OpenAIServer, run_openai_server


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """A running local OpenAI-protocol server with an empty reply script."""
    with run_openai_server() as server:
        yield server
