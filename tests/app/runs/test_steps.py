"""Progress on every run: steps, and a fraction where the remaining path is known."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph.constants import START
from langgraph.graph import END, StateGraph
from langgraph.types import Command
from typing_extensions import TypedDict

from app.runs.steps import StepCounter, remaining_steps
from tests.conftest import make_settings
from tests.fixtures.graphs.steps import build_steps
from tests.support.server import RunningServer, run_server

OBSERVED = Path(__file__).parents[2] / "fixtures" / "observability" / "langgraph.json"


class _S(TypedDict, total=False):
    n: int


def _node(state: _S) -> dict[str, Any]:
    return {"n": 1}


def _hand_off(state: _S) -> Command[str]:
    return Command(goto="b")


def test_remaining_steps_when_chain_then_known_from_every_node() -> None:
    shape = remaining_steps(build_steps().compile())
    assert shape == {START: 3, "one": 2, "two": 1, "three": 0}


def test_remaining_steps_when_hand_off_then_unknown_until_past_it() -> None:
    builder = StateGraph(_S)
    builder.add_node("route", _hand_off, destinations=("a", "b"))
    builder.add_node("a", _node)
    builder.add_node("b", _node)
    builder.add_node("c", _node)
    builder.add_edge(START, "route")
    builder.add_edge("a", END)
    builder.add_edge("b", "c")
    builder.add_edge("c", END)
    shape = remaining_steps(builder.compile())
    assert shape[START] is None
    assert shape["route"] is None
    assert shape["a"] == 0
    assert shape["b"] == 1


def test_remaining_steps_when_cycle_then_unknown() -> None:
    builder = StateGraph(_S)
    builder.add_node("a", _node)
    builder.add_node("b", _node)
    builder.add_edge(START, "a")
    builder.add_edge("a", "b")
    builder.add_conditional_edges("b", lambda s: END if s.get("n") else "a", ["a", END])
    shape = remaining_steps(builder.compile())
    assert shape[START] is None
    assert shape["a"] is None


def test_step_counter_when_updates_then_steps_fraction_and_attempts() -> None:
    counter = StepCounter({START: 2, "a": 1, "b": 0})
    assert counter.current["total"] == 2
    assert counter.current["steps"] == 0
    assert counter.observe({"a": {"n": 1}})
    assert counter.current == {
        "steps": 1, "total": 2, "fraction": 0.5, "node": "a", "attempt": 1, "retries": 0,
    }  # fmt: skip
    counter.retried("b")
    assert not counter.observe({"__interrupt__": ()})
    assert counter.observe({"b": None})
    assert counter.current["fraction"] == 1.0
    assert counter.current["attempt"] == 2
    assert counter.current["retries"] == 1


def test_step_counter_when_resumed_then_total_unknown_at_start() -> None:
    assert StepCounter({START: 2}, resumed=True).current["total"] is None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path_factory.mktemp("steps"))
    with run_server(settings) as running:
        yield running


def _events(text: str, name: str) -> list[Any]:
    found, current = [], None
    for line in text.splitlines():
        if line.startswith("event: "):
            current = line[len("event: ") :]
        elif line.startswith("data: ") and current == name:
            found.append(json.loads(line[len("data: ") :]))
    return found


def test_progress_events_when_chain_then_one_per_step_with_fraction(server: RunningServer) -> None:
    body = {"assistant_id": "steps", "input": {}, "stream_mode": ["progress"]}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        text = http.post("/runs/stream", json=body).text
    progress = _events(text, "progress")
    assert [(p["steps"], p["total"], p["fraction"]) for p in progress] == [
        (1, 3, 0.3333), (2, 3, 0.6667), (3, 3, 1.0),
    ]  # fmt: skip
    assert [p["node"] for p in progress] == ["one", "two", "three"]
    assert not _events(text, "updates")  # counted, not forwarded: not asked for


def test_progress_events_when_routed_then_fraction_once_the_path_is_known(
    server: RunningServer,
) -> None:
    body = {
        "assistant_id": "auto",
        "input": {"messages": [{"role": "user", "content": "just chat"}]},
        "stream_mode": ["progress", "updates"],
    }
    with httpx.Client(base_url=server.url, timeout=30) as http:
        text = http.post("/runs/stream", json=body).text
    progress = _events(text, "progress")
    assert [(p["steps"], p["total"]) for p in progress] == [(1, None), (2, 2)]
    assert progress[-1]["fraction"] == 1.0
    assert len(_events(text, "updates")) == 2


def test_run_record_when_running_then_carries_steps_done(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, graphs=OBSERVED)
    with run_server(settings) as running, httpx.Client(base_url=running.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()["thread_id"]
        run = http.post(
            f"/threads/{thread}/runs", json={"assistant_id": "pause", "input": {"sleep_s": 60}}
        ).json()
        url = f"/threads/{thread}/runs/{run['run_id']}"
        deadline = time.monotonic() + 10
        while (record := http.get(url).json())["progress"] in (None, {}) or record["progress"][
            "steps"
        ] < 1:
            assert time.monotonic() < deadline, record
            time.sleep(0.05)  # polling the API for what the server does on its own
        assert record["status"] == "running"
        assert record["progress"]["total"] == 2
        assert record["progress"]["fraction"] == 0.5
        assert record["progress"]["node"] == "first"
        http.post(f"{url}/cancel?wait=true")
        stateless = http.post(
            "/runs/wait", json={"assistant_id": "pause", "input": {"sleep_s": 0}}
        ).headers["content-location"]
        assert http.get(stateless).json()["progress"]["fraction"] == 1.0  # kept when ended
