"""Run retries: a RetryPolicy for transient node failures, per server, assistant or run."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.errors import InvalidInput
from app.runs.retries import NodeRetry, RetryPolicies
from app.schemas import RunCreate
from app.settings import RunSettings
from tests.conftest import make_settings
from tests.support.metrics import scrape
from tests.support.server import RunningServer, run_server

OBSERVED = Path(__file__).parents[2] / "fixtures" / "observability" / "langgraph.json"
FAST = {"initial_interval_s": 0.01, "jitter": False}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path_factory.mktemp("retries"),
        graphs=OBSERVED,
        runs=RunSettings(retry_by_assistant={"chatty": NodeRetry(max_attempts=3, **FAST)}),
    )
    with run_server(settings) as running:
        yield running


def _run(server: RunningServer, **input: Any) -> tuple[int, list[dict[str, Any]], str]:
    """Stream a chatty run; (HTTP status, its progress events (the last one is
    the run's record's, read once it ended), the raw stream)."""
    body: dict[str, Any] = {
        "assistant_id": "chatty",
        "input": {"say": str(uuid.uuid4()), **input.pop("input", {})},
        "stream_mode": ["progress"],
        **input,
    }
    with httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post("/runs/stream", json=body)
        record = http.get(response.headers["content-location"]).json()
    progress = [
        json.loads(line[len("data: ") :])
        for block in response.text.split("\r\n\r\n")
        if "event: progress" in block
        for line in block.splitlines()
        if line.startswith("data: ")
    ]
    return response.status_code, [*progress, record["progress"]], response.text


def _retries(server: RunningServer) -> float:
    with httpx.Client(base_url=server.url) as http:
        return scrape(http)["switchyard_node_retries_total", {"assistant": "chatty"}]


def test_retry_when_assistant_policy_and_transient_failures_then_success_on_attempt_3(
    server: RunningServer,
) -> None:
    before = _retries(server)
    status, progress, text = _run(server, input={"fail_times": 2})
    assert status == 200
    assert "event: error" not in text
    flaky = progress[-2]
    assert (flaky["node"], flaky["attempt"], flaky["retries"]) == ("flaky", 3, 2)
    assert progress[-1] == flaky  # the record's
    assert progress[0]["attempt"] == 1  # speak: first try
    assert _retries(server) == before + 2


def test_retry_when_failure_is_a_bug_then_not_retried(server: RunningServer) -> None:
    before = _retries(server)
    _, progress, text = _run(server, input={"bug": True})
    assert "event: error" in text
    assert "a bug, attempt 1" in text
    assert progress[-1]["retries"] == 0
    assert _retries(server) == before


def test_retry_when_run_policy_given_then_it_wins_over_the_assistant(
    server: RunningServer,
) -> None:
    off = {"configurable": {"retry": {"max_attempts": 1}}}
    _, _, text = _run(server, input={"fail_times": 1}, config=off)
    assert "event: error" in text
    assert "transient failure 1" in text
    two = {"configurable": {"retry": {"max_attempts": 2, **FAST}}}
    _, progress, text = _run(server, input={"fail_times": 5}, config=two)
    assert "transient failure 2" in text  # exhausted: the last failure ends the run
    assert progress[-1]["retries"] == 1


def test_retry_when_run_policy_invalid_then_422_saying_what_to_fix(
    server: RunningServer,
) -> None:
    body = {
        "assistant_id": "chatty",
        "input": {"say": "x"},
        "config": {"configurable": {"retry": {"max_attempts": 0, "tries": 2}}},
    }
    with httpx.Client(base_url=server.url) as http:
        response = http.post("/runs/wait", json=body)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "config.configurable.retry" in detail
    assert "max_attempts" in detail
    assert "tries" in detail


def test_retry_policies_when_nothing_given_then_server_default() -> None:
    default = NodeRetry(max_attempts=2)
    chat = NodeRetry(max_attempts=4)
    policies = RetryPolicies(default, {"chat": chat})
    plain = RunCreate(assistant_id="steps")
    assert policies.policy(plain, "steps", "id-of-steps") is default
    assert policies.policy(plain, "chat", "id-of-chat") is chat
    own = RunCreate(assistant_id="chat", config={"configurable": {"retry": {"max_attempts": 5}}})
    assert policies.policy(own, "chat", "id-of-chat").max_attempts == 5
    with pytest.raises(InvalidInput):
        policies.check(RunCreate(assistant_id="c", config={"configurable": {"retry": 3}}))
