"""State lives in the SQLite file: a restarted server process still has it."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import TEST_GRAPHS
from tests.support.process import serve_process


def test_thread_state_when_server_restarts_then_state_and_history_survive(
    tmp_path: Path,
) -> None:
    env = {
        "SWITCHYARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_STORAGE_BACKEND": "sqlite",
    }
    with serve_process(env) as url, httpx.Client(base_url=url, timeout=30) as http:
        tid = http.post("/threads", json={"metadata": {"owner": "restart-test"}}).json()[
            "thread_id"
        ]
        run = http.post(f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {}})
        assert run.json() == {"steps": ["one", "two", "three"]}
        before_history = http.post(f"/threads/{tid}/history", json={"limit": 100}).json()
        runs_before = http.get(f"/threads/{tid}/runs").json()

    with serve_process(env) as url, httpx.Client(base_url=url, timeout=30) as http:
        thread = http.get(f"/threads/{tid}").json()
        assert thread["metadata"]["owner"] == "restart-test"
        assert thread["status"] == "idle"
        state = http.get(f"/threads/{tid}/state").json()
        assert state["values"] == {"steps": ["one", "two", "three"]}
        history = http.post(f"/threads/{tid}/history", json={"limit": 100}).json()
        assert [h["checkpoint"] for h in history] == [h["checkpoint"] for h in before_history]
        assert http.get(f"/threads/{tid}/runs").json() == runs_before
        # The thread goes on from where it was.
        more = http.post(
            f"/threads/{tid}/runs/wait", json={"assistant_id": "steps", "input": {"steps": ["x"]}}
        )
        assert more.json()["steps"] == ["one", "two", "three", "x", "one", "two", "three"]
