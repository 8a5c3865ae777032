"""Batch invocation over real HTTP: /runs/batch, /runs/batch/wait, /runs/batch/stream."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.settings import RunSettings, SSESettings
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server


@pytest.fixture
async def http(server: RunningServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        yield client


def steps(*first: str, **extra: Any) -> dict[str, Any]:
    return {"assistant_id": "steps", "input": {"steps": list(first)}, **extra}


def slow(seconds: float, **extra: Any) -> dict[str, Any]:
    return {"assistant_id": "slow", "input": {"sleep_s": seconds}, **extra}


def _events(body: bytes) -> list[tuple[str, Any]]:
    """(event, data) of every SSE frame; heartbeat comments skipped."""
    out = []
    for block in body.decode().split("\r\n\r\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\r\n") if line and not line.startswith(":")
        )
        if "event" in fields:
            out.append((fields["event"], orjson.loads(fields["data"])))
    return out


async def _wait(http: httpx.AsyncClient, body: Any) -> list[dict[str, Any]]:
    response = await http.post("/runs/batch/wait", json=body)
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = orjson.loads(response.content)["results"]
    return results


# -- /runs/batch/wait ---------------------------------------------------------


async def test_batch_wait_when_items_mixed_then_results_in_input_order_with_errors_per_item(
    http: httpx.AsyncClient,
) -> None:
    results = await _wait(
        http,
        [
            steps("a"),
            {"assistant_id": "failing", "input": {"value": 1}},
            {"assistant_id": "steps", "input": {"steps": []}, "bogus": 1},
            steps("b"),
            {"assistant_id": "no-such-graph"},
            {"assistant_id": "steps", "input": {"wrong": 1}},
        ],
    )
    assert [r["index"] for r in results] == list(range(6))
    assert [r["status"] for r in results] == [
        "success", "error", "error", "success", "error", "error",
    ]  # fmt: skip
    assert results[0]["output"] == {"steps": ["a", "one", "two", "three"]}
    assert results[3]["output"] == {"steps": ["b", "one", "two", "three"]}
    failing = results[1]["error"]
    assert (failing["error"], "boom" in failing["message"]) == ("ValueError", True)
    assert results[1]["run_id"]
    invalid = results[2]
    assert invalid["run_id"] is None
    assert invalid["error"]["error"] == "InvalidInput"
    assert "items[2]" in invalid["error"]["message"]
    assert "bogus" in invalid["error"]["message"]
    assert results[4]["error"]["error"] == "AssistantNotFound"
    assert results[5]["error"]["error"] == "InputSchemaMismatch"
    assert "wrong" in results[5]["error"]["message"]


async def test_batch_wait_when_item_exceeds_item_timeout_then_timeout_and_others_succeed(
    http: httpx.AsyncClient,
) -> None:
    results = await _wait(http, {"items": [slow(600), steps()], "item_timeout_s": 0.5})
    assert [r["status"] for r in results] == ["timeout", "success"]
    assert results[0]["error"]["error"] == "RunTimeout"
    assert "item_timeout_s=0.5" in results[0]["error"]["message"]


async def test_batch_wait_when_thousand_items_then_every_one_succeeds_in_order(
    http: httpx.AsyncClient,
) -> None:
    items = [steps(str(i)) for i in range(1_000)]
    results = await _wait(http, {"items": items, "max_concurrency": 64})
    assert [r["index"] for r in results] == list(range(1_000))
    assert all(r["status"] == "success" for r in results)
    assert [r["output"]["steps"][0] for r in results] == [str(i) for i in range(1_000)]
    assert len({r["run_id"] for r in results}) == 1_000


async def test_batch_wait_when_item_kept_then_its_thread_holds_the_result(
    http: httpx.AsyncClient,
) -> None:
    results = await _wait(http, [steps("kept", on_completion="keep"), steps("gone")])
    kept, gone = results
    assert "thread_id" not in gone
    state = (await http.get(f"/threads/{kept['thread_id']}/state")).json()
    assert state["values"] == kept["output"]
    run = (await http.get(f"/threads/{kept['thread_id']}/runs/{kept['run_id']}")).json()
    assert run["status"] == "success"


async def test_batch_wait_when_slow_then_newline_keep_alives_precede_the_json(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/runs/batch/wait", json=[slow(1.5)])  # heartbeat_s is 1
    assert response.content.startswith(b"\n")
    assert orjson.loads(response.content)["results"][0]["status"] == "success"


# -- limits -------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/runs/batch", "/runs/batch/wait", "/runs/batch/stream"])
async def test_batch_when_empty_then_422_naming_the_limit(
    http: httpx.AsyncClient, path: str
) -> None:
    empty: list[Any] = [[], {"items": []}]
    for body in empty:
        response = await http.post(path, json=body)
        assert response.status_code == 422
        assert "between 1 and 1000" in response.json()["detail"]


@pytest.fixture
def small_batch_server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = make_settings(tmp_path, runs=RunSettings(max_batch_size=3, max_concurrency=4))
    with run_server(settings) as running:
        yield running


@pytest.mark.parametrize("path", ["/runs/batch", "/runs/batch/wait", "/runs/batch/stream"])
async def test_batch_when_above_max_batch_size_then_422_naming_the_limit(
    small_batch_server: RunningServer, path: str
) -> None:
    async with httpx.AsyncClient(base_url=small_batch_server.url) as http:
        response = await http.post(path, json=[steps()] * 4)
        assert response.status_code == 422
        detail = response.json()["detail"]
        assert "4 items" in detail
        assert "limit is 3" in detail
        assert (await http.post(path, json=[steps()] * 3)).status_code == 200


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("not a batch", "array of run bodies"),
        ({"items": [steps()], "max_concurrency": 0}, "max_concurrency"),
        ({"items": [steps()], "item_timeout_s": -1}, "item_timeout_s"),
        ({"items": [steps()], "parallel": True}, "unknown field"),
    ],
)
async def test_batch_wait_when_body_malformed_then_422_saying_what_to_fix(
    http: httpx.AsyncClient, body: Any, says: str
) -> None:
    response = await http.post("/runs/batch/wait", json=body)
    assert response.status_code == 422
    assert says in response.json()["detail"]


# -- /runs/batch/stream -------------------------------------------------------


async def test_batch_stream_when_items_finish_then_result_each_and_end_with_counts(
    http: httpx.AsyncClient,
) -> None:
    body = {
        "items": [slow(1.5), steps("x"), {"assistant_id": "failing"}, {"nope": 1}, slow(600)],
        "item_timeout_s": 3,
    }
    response = await http.post("/runs/batch/stream", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response.content)
    results = [data for name, data in events if name == "result"]
    assert sorted(r["index"] for r in results) == [0, 1, 2, 3, 4]
    by_index = {r["index"]: r for r in results}
    assert [by_index[i]["status"] for i in range(5)] == [
        "success", "success", "error", "error", "timeout",
    ]  # fmt: skip
    assert by_index[1]["output"]["steps"] == ["x", "one", "two", "three"]
    progress = [data for name, data in events if name == "progress"]
    assert progress == [{"done": done, "total": 5} for done in range(6)]
    assert [name for name, _ in events[1:-1:2]] == ["result"] * 5  # each result, then progress
    assert events[-1] == (
        "end",
        {"total": 5, "by_status": {"success": 2, "error": 2, "timeout": 1, "interrupted": 0}},
    )
    # The 1.5 s item outlives a 1 s heartbeat: the stream stayed visibly alive.
    assert b": heartbeat" in response.content


async def test_batch_stream_when_items_finish_out_of_order_then_results_as_they_finish(
    http: httpx.AsyncClient,
) -> None:
    items = [slow(0.5), slow(0)]
    parallel = _events((await http.post("/runs/batch/stream", json=items)).content)
    assert [d["index"] for n, d in parallel if n == "result"] == [1, 0]
    one_at_a_time = {"items": items, "max_concurrency": 1}
    serial = _events((await http.post("/runs/batch/stream", json=one_at_a_time)).content)
    assert [d["index"] for n, d in serial if n == "result"] == [0, 1]


async def test_batch_stream_when_client_disconnects_then_unfinished_items_are_cancelled(
    http: httpx.AsyncClient,
) -> None:
    kept = {"on_completion": "keep"}
    items = [slow(600, **kept), slow(600, **kept), steps(**kept)]
    async with http.stream("POST", "/runs/batch/stream", json=items) as response:
        async for chunk in response.aiter_bytes():
            if b"event: result" in chunk:
                break  # the quick item is done; the slow ones are running
    found = await http.post("/threads/search", json={"metadata": {"graph_id": "slow"}})
    threads = found.json()
    assert len(threads) == 2
    for thread in threads:
        runs = (await http.get(f"/threads/{thread['thread_id']}/runs")).json()
        run_url = f"/threads/{thread['thread_id']}/runs/{runs[0]['run_id']}"
        await http.get(run_url + "/join")  # 600 s, and a client timeout, if never cancelled
        assert (await http.get(run_url)).json()["status"] == "interrupted"


# -- /runs/batch (LangGraph-compatible) ---------------------------------------


async def test_batch_create_when_items_kept_then_runs_returned_at_once_and_joinable(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post(
        "/runs/batch", json=[steps("p", on_completion="keep"), slow(0, on_completion="keep")]
    )
    assert response.status_code == 200
    runs = response.json()
    assert [r["status"] for r in runs] == ["pending", "pending"]  # returned before they run
    joined = [
        (await http.get(f"/threads/{r['thread_id']}/runs/{r['run_id']}/join")).json() for r in runs
    ]
    assert joined == [{"steps": ["p", "one", "two", "three"]}, {"sleep_s": 0, "done": True}]


async def test_batch_create_when_an_item_invalid_then_422_naming_it_and_nothing_runs(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/runs/batch", json=[steps(), {"assistant_id": "steps", "x": 1}])
    assert response.status_code == 422
    assert "items[1]" in response.json()["detail"]
    assert (await http.post("/threads/search", json={})).json() == []


async def test_batch_create_when_wait_options_given_then_422_pointing_to_wait_and_stream(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/runs/batch", json={"items": [steps()], "max_concurrency": 2})
    assert response.status_code == 422
    assert "/runs/batch/wait" in response.json()["detail"]


@pytest.fixture
def one_slot_server(tmp_path: Path) -> Iterator[RunningServer]:
    settings = make_settings(
        tmp_path, runs=RunSettings(max_concurrency=1), sse=SSESettings(heartbeat_s=1.0)
    )
    with run_server(settings) as running:
        yield running


async def test_batch_stream_when_max_concurrency_above_server_limit_then_bounded_by_it(
    one_slot_server: RunningServer,
) -> None:
    async with httpx.AsyncClient(base_url=one_slot_server.url, timeout=60) as http:
        body = {"items": [slow(0.5), slow(0)], "max_concurrency": 50}
        events = _events((await http.post("/runs/batch/stream", json=body)).content)
        # One run at a time on this server: the quick item cannot overtake.
        assert [d["index"] for n, d in events if n == "result"] == [0, 1]


async def test_batch_create_when_an_assistant_is_unknown_then_404_naming_the_item(
    http: httpx.AsyncClient,
) -> None:
    response = await http.post("/runs/batch", json=[{"assistant_id": "nope"}])
    assert response.status_code == 404
    assert response.json()["detail"].startswith("items[0]: ")
    assert response.json()["code"] == "assistant_not_found"
