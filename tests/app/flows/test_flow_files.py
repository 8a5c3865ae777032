"""Flow files from settings: served at startup, stored, upserted as new versions on change."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import yaml

from app.main import create_app
from app.settings import FlowSettings
from tests.conftest import make_settings

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "triage.yaml"


@asynccontextmanager
async def serving(tmp_path: Path, files: list[Path]) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(make_settings(tmp_path, flows=FlowSettings(files=files)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as http:
            yield http


async def test_flow_files_when_server_restarts_then_changed_files_become_new_versions(
    tmp_path: Path,
) -> None:
    flows_dir = tmp_path / "flows"
    flows_dir.mkdir()
    (flows_dir / "triage.yaml").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    (flows_dir / "notes.txt").write_text("not a flow", encoding="utf-8")
    ask = {"assistant_id": "triage", "input": {"ticket": "Settings screen is slow"}}
    async with serving(tmp_path, [flows_dir]) as http:
        assert (await http.get("/flows/triage")).json()["version"] == 1
        result = (await http.post("/runs/wait", json=ask)).json()
        assert result["labels"] == ["ui", "sev:low"]
    async with serving(tmp_path, [flows_dir]) as http:  # unchanged: same version
        assert (await http.get("/flows/triage")).json()["version"] == 1
    changed = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    changed["params"]["polish_rounds"]["default"] = 4
    (flows_dir / "triage.yaml").write_text(yaml.safe_dump(changed), encoding="utf-8")
    async with serving(tmp_path, [flows_dir]) as http:
        got = (await http.get("/flows/triage")).json()
        assert [v["version"] for v in got["versions"]] == [2, 1]
        assert (await http.post("/runs/wait", json=ask)).json()["rounds"] == 4


async def test_flow_file_when_invalid_then_startup_fails_naming_file_and_problem(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text('{"id": "broken", "nodes": [{"id": "a", "type": "nope"}]}', encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken.json.*\$\.nodes\[0\]\.type"):
        async with serving(tmp_path, [broken]):
            pass
