"""Fixtures for router tests: rule directories on disk and a local OpenAI server."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.openai_server import OpenAIServer, run_openai_server

TARGETS = {
    "chat": "General conversation and anything else.",
    "content": "Drafts and publishes posts and articles.",
    "support": "Customer support for existing orders.",
}

WriteRules = Callable[[str, str], Path]


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    directory.mkdir()
    return directory


@pytest.fixture
def write_rules(rules_dir: Path) -> WriteRules:
    """``write_rules(name, yaml_text)`` writes one rules file (dedented) into ``rules_dir``."""

    def write(name: str, text: str) -> Path:
        path = rules_dir / name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with run_openai_server() as server:
        yield server
