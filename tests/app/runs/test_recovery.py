"""Crash recovery, embedded: a server killed mid-run (kill -9) finds the run at its
next start and resumes it from its last checkpoint, or fails it when told to.

Real server processes on SQLite; the ``gated`` test graph holds the run in
its second step until the test opens the gate (after the kill).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import TEST_GRAPHS
from tests.support.process import spawn_server


def until(check: Any, what: str, timeout_s: float = 30.0) -> Any:
    """``check()``'s first truthy answer; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)  # the state is in another process: ask again
    raise AssertionError(f"timed out waiting for {what}")


def start_gated_run(http: httpx.Client, gate: Path) -> tuple[str, str]:
    """A run of ``gated`` that has saved ``first``'s checkpoint and waits in ``second``."""
    thread_id = http.post("/threads", json={}).json()["thread_id"]
    run = http.post(
        f"/threads/{thread_id}/runs",
        json={"assistant_id": "gated", "input": {"gate": str(gate), "steps": []}},
    ).json()

    def first_saved() -> bool:
        state = http.get(f"/threads/{thread_id}/state").json()
        return bool(state["values"].get("steps") == ["first"])

    until(first_saved, "the first step's checkpoint")
    return thread_id, run["run_id"]


def sse_events(text: str) -> list[tuple[str, Any]]:
    events: list[tuple[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in fields:
            events.append((fields["event"], orjson.loads(fields.get("data", "null"))))
    return events


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "SWITCHYARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_STORAGE_BACKEND": "sqlite",
        **extra,
    }


def test_run_when_server_killed_mid_run_then_next_start_resumes_it_from_its_checkpoint(
    tmp_path: Path,
) -> None:
    env, gate = _env(tmp_path), tmp_path / "gate"
    with spawn_server(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        thread_id, run_id = start_gated_run(http, gate)
        server.kill()
    gate.touch()
    with spawn_server(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        joined = http.get(f"/threads/{thread_id}/runs/{run_id}/join").json()
        run = http.get(f"/threads/{thread_id}/runs/{run_id}").json()
        thread = http.get(f"/threads/{thread_id}").json()
        stream = sse_events(http.get(f"/threads/{thread_id}/runs/{run_id}/stream").text)
    # first ran once (before the kill), second and third once (after): as uninterrupted.
    assert joined["steps"] == ["first", "second", "third"]
    assert (run["status"], run["attempt"]) == ("success", 2)
    assert thread["status"] == "idle"
    assert stream[0] == ("metadata", {"run_id": run_id, "attempt": 2})
    assert stream[-1] == ("end", None)


def test_run_when_killed_and_recovery_is_fail_then_error_says_the_worker_died(
    tmp_path: Path,
) -> None:
    env, gate = _env(tmp_path, SWITCHYARD_RUNS_RECOVERY="fail"), tmp_path / "gate"
    with spawn_server(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        thread_id, run_id = start_gated_run(http, gate)
        queued = http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "steps", "input": {}, "multitask_strategy": "enqueue"},
        ).json()
        server.kill()
    with spawn_server(env) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        stream = sse_events(http.get(f"/threads/{thread_id}/runs/{run_id}/stream").text)
        run = http.get(f"/threads/{thread_id}/runs/{run_id}").json()
        # The run queued behind it was never started: it runs now.
        http.get(f"/threads/{thread_id}/runs/{queued['run_id']}/join")
        after = http.get(f"/threads/{thread_id}/runs/{queued['run_id']}").json()
        thread = http.get(f"/threads/{thread_id}").json()
    assert (run["status"], run["attempt"]) == ("error", 2)
    assert stream[-2][0] == "error"
    assert stream[-2][1]["code"] == "worker_died"
    assert stream[-1] == ("end", None)
    assert (after["status"], after["attempt"]) == ("success", 1)
    assert thread["status"] == "idle"
