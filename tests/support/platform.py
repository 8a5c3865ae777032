"""Settings for the platform tests: the platform fixture graphs, no built-ins."""

from __future__ import annotations

from pathlib import Path

from app.settings import Settings
from tests.conftest import make_settings

__all__ = ["PLATFORM_GRAPHS", "platform_settings"]

PLATFORM_GRAPHS = Path(__file__).parent.parent / "fixtures" / "platform" / "langgraph.json"


def platform_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"graphs": PLATFORM_GRAPHS, "builtins": False}
    values.update(overrides)
    return make_settings(tmp_path, **values)
