"""The server tunes the process's garbage collector while it serves, and gives
the interpreter's setting back when it stops (an app may be embedded)."""

from __future__ import annotations

import gc
from pathlib import Path

import httpx

from app.main import create_app
from tests.conftest import make_settings


async def test_gc_threshold_when_serving_then_set_and_restored_after(tmp_path: Path) -> None:
    before = gc.get_threshold()
    application = create_app(make_settings(tmp_path, gc_threshold=before[0] + 12_345))
    async with application.router.lifespan_context(application):
        assert gc.get_threshold() == (before[0] + 12_345, *before[1:])
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as client:
            body = {"assistant_id": "steps", "input": {"steps": []}}
            assert (await client.post("/runs/wait", json=body)).status_code == 200
    assert gc.get_threshold() == before
