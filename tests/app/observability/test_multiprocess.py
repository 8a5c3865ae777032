"""Several server processes, one set of metrics: two servers sharing
``PROMETHEUS_MULTIPROC_DIR``, and ``serve --workers 2``; any process's
``/metrics`` answers for all, so counts add up across processes."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import TEST_GRAPHS
from tests.support.metrics import scrape
from tests.support.process import serve_process, spawn_server


def _env(tmp_path: Path, name: str, shared: Path) -> dict[str, str]:
    return {
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_DATA_DIR": str(tmp_path / name),
    }


def test_metrics_when_two_processes_share_a_multiproc_dir_then_counts_add_up(
    tmp_path: Path,
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    body = {"assistant_id": "steps", "input": {}}
    with (
        serve_process(_env(tmp_path, "a", shared)) as url_a,
        serve_process(_env(tmp_path, "b", shared)) as url_b,
        httpx.Client(base_url=url_a, timeout=30) as a,
        httpx.Client(base_url=url_b, timeout=30) as b,
    ):
        for _ in range(2):
            assert a.post("/runs/wait", json=body).is_success
        for _ in range(3):
            assert b.post("/runs/wait", json=body).is_success
        assert b.post("/runs/wait", json={"assistant_id": "failing", "input": {}}).is_success
        for http in (a, b):
            samples = scrape(http)
            assert samples["switchyard_runs_created_total", {"assistant": "steps"}] == 5
            finished = "switchyard_runs_finished_total"
            assert samples[finished, {"assistant": "steps", "status": "success"}] == 5
            assert samples[finished, {"assistant": "failing", "status": "error"}] == 1
            assert (
                samples[
                    "switchyard_run_duration_seconds_count",
                    {"assistant": "steps", "status": "success"},
                ]
                == 5
            )
            assert samples["switchyard_runs_running", {}] == 0
    assert any(shared.iterdir()), "each process wrote its values to the shared directory"


def test_metrics_when_serve_with_two_workers_then_any_worker_answers_for_both(
    tmp_path: Path,
    postgres_url: str,
    redis_target: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``serve --workers 2`` (no PROMETHEUS_MULTIPROC_DIR given): the CLI shares
    one directory among its workers, so a scrape counts every worker's runs."""
    redis_url, prefix = redis_target
    env = {
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_DATA_DIR": str(tmp_path / "workers"),
        "SWITCHYARD_STORAGE_BACKEND": "postgres",
        "SWITCHYARD_POSTGRES_URL": postgres_url,
        "SWITCHYARD_REDIS_URL": redis_url,
        "SWITCHYARD_REDIS_PREFIX": f"{prefix}metrics-workers:",
    }
    body = {"assistant_id": "steps", "input": {}}
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    # Both workers started (ready=2): either may accept from the first run on.
    with spawn_server(env, args=["--workers", "2"], ready=2) as server:

        def one_run(_: int) -> None:
            # A connection of its own: either worker may accept it.
            with httpx.Client(base_url=server.url, timeout=60) as http:
                assert http.post("/runs/wait", json=body).is_success

        runs = 0
        with ThreadPoolExecutor(max_workers=8) as pool:
            # Until both workers have run some (which accepts is the kernel's choice).
            while len(_run_pids(server.output)) < 2 and runs < 200:
                list(pool.map(one_run, range(8)))
                runs += 8
        assert len(_run_pids(server.output)) == 2, "both workers ran runs"
        for _ in range(4):
            with httpx.Client(base_url=server.url, timeout=30) as http:
                samples = scrape(http)
            assert samples["switchyard_runs_created_total", {"assistant": "steps"}] == runs
            finished = samples[
                "switchyard_runs_finished_total", {"assistant": "steps", "status": "success"}
            ]
            assert finished == runs
            assert samples["switchyard_runs_running", {}] == 0


def _run_pids(output: list[str]) -> set[int]:
    """The processes whose access lines show a ``POST /runs/wait``."""
    pids = set()
    for text in list(output):
        if text.startswith("{"):
            line = json.loads(text)
            if line.get("path") == "/runs/wait":
                pids.add(line["pid"])
    return pids
