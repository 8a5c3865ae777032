"""``/metrics`` after a known mix of runs: exact counts, bounded labels, access."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from app.observability.settings import MetricsSettings
from app.settings import LLMSettings, RunSettings
from routers.config import RouterSettings
from tests.conftest import make_settings
from tests.support.auth import bearer, jwt_settings, mint
from tests.support.metrics import Samples, eventually, scrape
from tests.support.openai_server import OpenAIServer, Reply, run_openai_server
from tests.support.server import RunningServer, run_server

RULES = """\
rules:
  - id: count
    target: steps
    priority: 100
    match:
      keywords: [count]
"""
TIMEOUT_S = 3.0  # also the budget of every run of the mix (auto loads its tiers once)


def _human(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def llm() -> Iterator[OpenAIServer]:
    with run_openai_server() as running:
        yield running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm: OpenAIServer) -> Iterator[RunningServer]:
    tmp = tmp_path_factory.mktemp("metrics")
    rules = tmp / "rules"
    rules.mkdir()
    (rules / "10-count.yaml").write_text(RULES)
    settings = make_settings(
        tmp,
        llm=LLMSettings(base_url=llm.base_url),
        router=RouterSettings(rules_dir=rules, retry_backoff_s=0.01),
        runs=RunSettings(timeout_s=TIMEOUT_S),
    )
    with run_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def mix(server: RunningServer, llm: OpenAIServer) -> Samples:
    """Runs a known mix once; every test of the module reads the scrape after it."""
    with httpx.Client(base_url=server.url, timeout=30) as http:
        for _ in range(3):
            assert http.post("/runs/wait", json={"assistant_id": "steps", "input": {}}).is_success
        for _ in range(2):
            failed = http.post("/runs/wait", json={"assistant_id": "failing", "input": {}})
            assert "__error__" in failed.json()
        # Timeout, streamed: its stream sees heartbeats (1 s) until the run times out.
        slow = {"assistant_id": "slow", "input": {"sleep_s": 30}, "stream_mode": "values"}
        streamed = http.post("/runs/stream", json=slow).text
        assert '"code":"timeout"' in streamed
        # Cancelled: a background run on a thread, cancelled and waited for.
        thread = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(f"/threads/{thread}/runs", json=slow).json()
        cancelled = http.post(f"/threads/{thread}/runs/{run['run_id']}/cancel?wait=true")
        assert cancelled.status_code == 204
        # A stored run: its thread, record and checkpoints go through storage.
        stored = {"assistant_id": "steps", "input": {}, "if_not_exists": "create"}
        assert http.post(f"/threads/{uuid.uuid4()}/runs/wait", json=stored).is_success
        # Routed by a rule, then by the LLM (whose first answer is a 500: one retry).
        by_rule = http.post("/runs/wait", json={"assistant_id": "auto", "input": _human("count")})
        assert by_rule.json().get("route", {}).get("source") == "rule:count", by_rule.text
        llm.script(
            Reply(status=500),
            Reply(content='{"target": "steps", "confidence": 0.9, "reason": "steps"}'),
        )
        llm_only = {"configurable": {"route_strategy": "llm_only"}}
        by_llm = http.post(
            "/runs/wait", json={"assistant_id": "auto", "input": _human("hm"), "config": llm_only}
        )
        assert by_llm.json().get("route", {}).get("source") == "llm:default", by_llm.text
        # A graph node's LLM call whose first attempt is a 500: the model retries.
        llm.script(Reply(status=500))
        chat = http.post("/runs/wait", json={"assistant_id": "chat", "input": _human("hi")})
        assert "__error__" not in chat.json(), chat.text
        # A WebSocket client that leaves while following a slow run.
        asyncio.run(_leave_websocket(server))
        return eventually(http, _settled)


def _settled(samples: Samples) -> bool:
    """The server noticed the socket leave, and its run ended."""
    return (
        samples.total("switchyard_client_disconnects_total", transport="ws") >= 1
        and samples.total("switchyard_runs_finished_total") == 12
    )


async def _leave_websocket(server: RunningServer) -> None:
    async with websockets.connect(server.url.replace("http", "ws") + "/ws") as ws:
        # A run that only the client's leaving ends (on_disconnect cancel): the
        # server cannot close the socket first because the run ended.
        run = {
            "type": "run",
            "assistant_id": "slow",
            "input": {"sleep_s": 30},
            "on_disconnect": "cancel",
        }
        await ws.send(json.dumps(run))
        await ws.recv()


def test_metrics_when_known_mix_of_runs_then_exact_counts(mix: Samples) -> None:
    created = "switchyard_runs_created_total"
    finished = "switchyard_runs_finished_total"
    assert mix[created, {"assistant": "steps"}] == 4  # 3 + stored
    assert mix[created, {"assistant": "failing"}] == 2
    assert mix[created, {"assistant": "slow"}] == 3  # timeout, cancelled, the WebSocket's
    assert mix[created, {"assistant": "auto"}] == 2
    assert mix[created, {"assistant": "chat"}] == 1
    assert mix[finished, {"assistant": "steps", "status": "success"}] == 4
    assert mix[finished, {"assistant": "failing", "status": "error"}] == 2
    assert mix[finished, {"assistant": "slow", "status": "timeout"}] == 1
    assert mix[finished, {"assistant": "slow", "status": "interrupted"}] == 2
    assert mix[finished, {"assistant": "auto", "status": "success"}] == 2
    assert mix.total(finished) == 12
    assert mix["switchyard_runs_pending", {}] == 0
    assert mix["switchyard_runs_running", {}] == 0
    duration = "switchyard_run_duration_seconds_count"
    assert mix[duration, {"assistant": "slow", "status": "timeout"}] == 1
    assert mix[
        "switchyard_run_duration_seconds_sum", {"assistant": "slow", "status": "timeout"}
    ] >= (TIMEOUT_S)
    assert mix.total("switchyard_run_queue_wait_seconds_count") >= 10  # all that started


def test_metrics_when_routed_by_rule_and_llm_then_decisions_and_llm_calls_counted(
    mix: Samples,
) -> None:
    decisions = "switchyard_router_decisions_total"
    assert mix[decisions, {"source": "rule", "target": "steps"}] == 1
    assert mix[decisions, {"source": "llm", "target": "steps"}] == 1
    assert mix.total(decisions) == 2
    assert mix["switchyard_router_decision_seconds_count", {"source": "llm"}] == 1
    # The router's classifier and the chat node's model: 2 attempts each, one retried.
    assert mix["switchyard_llm_calls_total", {"provider": "default"}] == 4
    assert mix["switchyard_llm_failures_total", {"provider": "default", "reason": "http_5xx"}] == 2
    assert mix["switchyard_llm_retries_total", {"provider": "default"}] == 2
    assert mix["switchyard_llm_call_seconds_count", {"provider": "default"}] == 4


def test_metrics_when_streams_served_then_transport_counters_move(mix: Samples) -> None:
    assert mix["switchyard_streams_open", {"transport": "sse"}] == 0
    assert mix["switchyard_streams_open", {"transport": "ws"}] == 0
    assert mix["switchyard_stream_bytes_sent_total", {"transport": "sse"}] > 0
    assert mix["switchyard_stream_bytes_sent_total", {"transport": "ws"}] > 0
    assert mix["switchyard_heartbeats_sent_total", {"transport": "sse"}] >= 1
    assert mix["switchyard_client_disconnects_total", {"transport": "ws"}] == 1
    assert mix["switchyard_client_disconnects_total", {"transport": "sse"}] == 0
    assert mix["switchyard_events_appended_total", {}] > 0


def test_metrics_when_storage_used_then_latency_by_backend_and_op(mix: Samples) -> None:
    ops = "switchyard_storage_op_seconds_count"
    # Stored: the cancelled run and the stored one; stateless runs store nothing.
    assert mix[ops, {"backend": "sqlite", "op": "threads.create"}] == 2
    assert mix[ops, {"backend": "sqlite", "op": "runs.create"}] == 2
    assert mix[ops, {"backend": "sqlite", "op": "checkpoint.aget_tuple"}] >= 1


def test_metrics_labels_never_carry_ids(mix: Samples, server: RunningServer) -> None:
    with httpx.Client(base_url=server.url) as http:
        runs = http.get("/metrics").text
    for line in runs.splitlines():
        if "{" in line and not line.startswith("#"):
            labels = line[line.index("{") : line.index("}")]
            assert "-" not in labels.replace("thread", "").replace('source="', ""), line


def test_metrics_when_token_access_then_401_without_bearer(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, metrics=MetricsSettings(access="token", token="s3cret-scrape")
    )
    with run_server(settings) as running, httpx.Client(base_url=running.url) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthorized"
        wrong = http.get("/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert (
            scrape(http, Authorization="Bearer s3cret-scrape").total(
                "switchyard_runs_created_total"
            )
            == 0
        )


def test_metrics_when_disabled_then_404_json(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics=MetricsSettings(enabled=False))
    with run_server(settings) as running, httpx.Client(base_url=running.url) as http:
        response = http.get("/metrics")
        assert response.status_code == 404
        assert "off" in response.json()["detail"]
        assert http.post("/runs/wait", json={"assistant_id": "steps", "input": {}}).is_success


def test_metrics_when_auth_on_and_access_auth_then_a_signed_in_user_scrapes(
    tmp_path: Path,
) -> None:
    settings = make_settings(tmp_path, auth=jwt_settings())  # access "auth": the default
    with run_server(settings) as running, httpx.Client(base_url=running.url) as http:
        refused = http.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/metrics", headers=bearer(mint("alice", exp_in=-60))).status_code == 401
        assert scrape(http, **bearer(mint("alice"))).total("switchyard_runs_created_total") == 0


def test_metrics_when_auth_on_and_access_public_then_scraped_without_credentials(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path, auth=jwt_settings(), metrics=MetricsSettings(access="public")
    )
    with run_server(settings) as running, httpx.Client(base_url=running.url) as http:
        assert scrape(http).total("switchyard_runs_created_total") == 0
        # Only /metrics left the gate: the API still needs credentials.
        assert http.post("/threads/search", json={}).status_code == 401


def test_metrics_when_auth_on_and_access_token_then_the_scrape_token_opens_only_metrics(
    tmp_path: Path,
) -> None:
    settings = make_settings(
        tmp_path,
        auth=jwt_settings(),
        metrics=MetricsSettings(access="token", token="s3cret-scrape"),
    )
    scrape_token = {"Authorization": "Bearer s3cret-scrape"}
    with run_server(settings) as running, httpx.Client(base_url=running.url) as http:
        assert http.get("/metrics").status_code == 401
        # A user's JWT is not the scrape credential.
        assert http.get("/metrics", headers=bearer(mint("alice"))).status_code == 401
        assert scrape(http, **scrape_token).total("switchyard_runs_created_total") == 0
        assert http.post("/threads/search", json={}, headers=scrape_token).status_code == 401
