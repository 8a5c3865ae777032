"""Two server processes sharing ``PROMETHEUS_MULTIPROC_DIR``: either one's
``/metrics`` answers for both, so counts add up across processes."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import TEST_GRAPHS
from tests.support.metrics import scrape
from tests.support.process import serve_process


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
