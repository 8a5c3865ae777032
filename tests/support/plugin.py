"""A tiny component plugin, installed the way pip installs one: a package and its dist-info.

``install_plugin(root)`` writes ``switchyard_upper/`` and
``switchyard_upper-0.1.0.dist-info/`` (METADATA, entry_points.txt with the
``switchyard.components`` group) under ``root``; put ``root`` on
``sys.path`` and ``importlib.metadata`` finds the entry point exactly as it
finds an installed distribution's. The component upper-cases a channel.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["PLUGIN_DIST", "install_plugin"]

PLUGIN_DIST = "switchyard-upper"

_MODULE = '''
"""A Switchyard component plugin: upper-cases one channel."""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from graphs.flows.components.base import Component


class UpperConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(description="The string channel to upper-case in place.")


class UpperCase(Component):
    name = "upper"
    description = "Upper-cases a string channel."
    config_model = UpperConfig

    def writes(self, config):
        return [(("channel",), config.channel)]

    async def build(self, config, context):
        async def run(state: dict[str, Any], run_config: Any) -> dict[str, Any]:
            return {config.channel: str(state.get(config.channel) or "").upper()}

        return run
'''


def install_plugin(root: Path) -> Path:
    package = root / "switchyard_upper"
    package.mkdir(parents=True, exist_ok=True)
    (package / "__init__.py").write_text(_MODULE, encoding="utf-8")
    dist_info = root / "switchyard_upper-0.1.0.dist-info"
    dist_info.mkdir(exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {PLUGIN_DIST}\nVersion: 0.1.0\n", encoding="utf-8"
    )
    (dist_info / "entry_points.txt").write_text(
        "[switchyard.components]\nupper = switchyard_upper:UpperCase\n", encoding="utf-8"
    )
    (dist_info / "RECORD").write_text("", encoding="utf-8")
    return root
