"""Broken user graphs at startup: one readable message, or (skip_broken) served around.

Real ``switchyard serve`` processes, as a user starts them.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.process import spawn_server

BROKEN = """
def boom():
    raise RuntimeError("kaboom")
"""


def _config(tmp_path: Path) -> Path:
    (tmp_path / "broken.py").write_text(BROKEN, encoding="utf-8")
    config = tmp_path / "langgraph.json"
    graphs = {"missing": "./nowhere.py:graph", "exploding": "./broken.py:boom"}
    config.write_text(json.dumps({"graphs": graphs}), encoding="utf-8")
    return config


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SWITCHYARD_GRAPHS": str(_config(tmp_path)),
        "SWITCHYARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHYARD_ROUTER_SEMANTIC_MODEL": "off",
        **extra,
    }


def test_serve_when_two_specs_broken_then_one_message_names_both_without_traceback(
    tmp_path: Path,
) -> None:
    with pytest.raises(RuntimeError) as caught, spawn_server(_env(tmp_path)):
        pass
    output = str(caught.value)
    assert "2 graphs failed to load (fix them, or set SWITCHYARD_SKIP_BROKEN=true" in output
    assert f"  - missing: ./nowhere.py:graph: file not found: {tmp_path}/nowhere.py" in output
    assert "  - exploding: ./broken.py:boom: factory raised RuntimeError('kaboom')" in output
    assert "Traceback" not in output
    assert "auto" not in output  # auto itself loads: it routes among the graphs that do
    assert "Application startup failed" in output


async def test_serve_when_skip_broken_then_failures_listed_and_auto_routes_among_the_rest(
    tmp_path: Path,
) -> None:
    with spawn_server(_env(tmp_path, SWITCHYARD_SKIP_BROKEN="true")) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            graphs = (await http.get("/info")).json()["graphs"]
            run = await http.post(
                "/runs/wait",
                json={
                    "assistant_id": "auto",
                    "input": {"messages": [{"role": "user", "content": "hello there"}]},
                },
            )
    assert graphs["missing"]["status"] == graphs["exploding"]["status"] == "failed"
    assert "kaboom" in graphs["exploding"]["error"]
    assert graphs["auto"]["status"] != "failed"
    assert run.status_code == 200, run.text
    assert run.json()["route"]["target"] == "chat"
    assert run.json()["messages"][-1]["content"] == "[offline] You said: hello there"
