"""Hostile input that once answered 500 (and dropped the connection) is a 4xx.

Each test is named after the request that used to fail (issue 11) and checks
the status, the error code and that the message says what to fix. One real
server serves the module; every test also checks it still answers after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.endpoints.http import MAX_JSON_DEPTH
from app.schemas import MAX_FILTER_KEYS
from tests.conftest import make_settings
from tests.support.server import run_server


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = make_settings(tmp_path_factory.mktemp("bad_input"))
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as client:
        yield client
        # The server survived everything the module threw at it.
        assert client.get("/ok").json() == {"ok": True}


@pytest.fixture(scope="module")
def thread_id(http: httpx.Client) -> str:
    """A thread of the ``steps`` graph with one finished run."""
    thread: str = http.post("/threads", json={}).json()["thread_id"]
    done = http.post(f"/threads/{thread}/runs/wait", json={"assistant_id": "steps", "input": {}})
    assert done.json() == {"steps": ["one", "two", "three"]}
    return thread


def _refused(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"detail", "code"}
    for word in words:
        assert word in body["detail"], body["detail"]
    return body


def _nested(depth: int) -> str:
    return "[" * (depth - 1) + "]" * (depth - 1)


# -- GET /threads/{id}/history?limit= ------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "5000", "1e3", "²"])
def test_history_get_when_limit_is_0_negative_text_or_too_large_then_422(
    http: httpx.Client, thread_id: str, limit: str
) -> None:
    response = http.get(f"/threads/{thread_id}/history", params={"limit": limit})
    _refused(response, 422, "'limit'", "[1, 1000]")


def test_history_get_when_limit_in_range_then_that_many_states(
    http: httpx.Client, thread_id: str
) -> None:
    states = http.get(f"/threads/{thread_id}/history", params={"limit": "2"}).json()
    assert len(states) == 2


# -- POST /threads/{id}/state --------------------------------------------------


def test_update_state_when_as_node_unknown_then_422_listing_nodes(
    http: httpx.Client, thread_id: str
) -> None:
    response = http.post(
        f"/threads/{thread_id}/state", json={"values": {"steps": ["x"]}, "as_node": "nope"}
    )
    _refused(response, 422, "'nope'", "'one', 'two', 'three'")


def test_update_state_when_value_has_wrong_type_for_reducer_then_422(
    http: httpx.Client, thread_id: str
) -> None:
    # ``steps`` is reduced with operator.add over lists: 5 cannot be added.
    response = http.post(f"/threads/{thread_id}/state", json={"values": {"steps": 5}})
    _refused(response, 422, "cannot update state", "list")
    state = http.get(f"/threads/{thread_id}/state").json()
    assert state["values"]["steps"] == ["one", "two", "three"]


# -- POST /threads/search and /threads/count ----------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/threads/search", "metadata"),
        ("/threads/search", "values"),
        ("/threads/count", "metadata"),
    ],
)
def test_thread_search_when_filter_value_at_least_2_63_then_422(
    http: httpx.Client, path: str, field: str
) -> None:
    response = http.post(path, json={field: {"big": 2**63}})
    _refused(response, 422, field, "64 bits")
    nested = http.post(path, json={field: {"deep": {"big": 2**64 - 1}}})
    _refused(nested, 422, "deep.big", "64 bits")


def test_thread_count_when_values_filter_given_then_422_not_ignored(http: httpx.Client) -> None:
    response = http.post("/threads/count", json={"values": {"steps": ["one"]}})
    _refused(response, 422, "values", "/threads/search")


def test_thread_search_when_offset_at_least_2_63_then_422(http: httpx.Client) -> None:
    _refused(http.post("/threads/search", json={"offset": 2**63}), 422, "offset")
    assert http.post("/threads/search", json={"offset": 2**63 - 1}).json() == []


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count"])
def test_thread_search_when_metadata_key_contains_nul_then_422(
    http: httpx.Client, path: str
) -> None:
    _refused(http.post(path, json={"metadata": {"a\x00b": 1}}), 422, "NUL")


@pytest.mark.parametrize("path", ["/threads/search", "/threads/count"])
def test_thread_search_when_more_filter_keys_than_the_limit_then_422(
    http: httpx.Client, path: str
) -> None:
    too_many = {f"k{i}": i for i in range(1_200)}
    _refused(http.post(path, json={"metadata": too_many}), 422, str(MAX_FILTER_KEYS), "1200")
    at_limit = {f"k{i}": i for i in range(MAX_FILTER_KEYS)}
    assert http.post(path, json={"metadata": at_limit}).status_code == 200


# -- JSON nested deeper than the limit -----------------------------------------


@pytest.mark.parametrize("depth", [255, 256, 500, 1_000])
def test_thread_create_when_metadata_nested_255_to_1000_levels_then_422(
    http: httpx.Client, depth: int
) -> None:
    body = '{"metadata": {"a": ' + _nested(depth) + "}}"
    response = http.post("/threads", content=body, headers={"content-type": "application/json"})
    _refused(response, 422, f"deeper than {MAX_JSON_DEPTH} levels")


@pytest.mark.parametrize("path", ["/runs/wait", "/runs/stream", "/runs"])
@pytest.mark.parametrize("depth", [255, 1_000])
def test_run_when_input_nested_255_to_1000_levels_then_422(
    http: httpx.Client, path: str, depth: int
) -> None:
    body = '{"assistant_id": "steps", "input": {"topic": ' + _nested(depth) + "}}"
    response = http.post(path, content=body, headers={"content-type": "application/json"})
    _refused(response, 422, f"deeper than {MAX_JSON_DEPTH} levels")


def test_run_when_input_nested_at_the_limit_then_accepted(http: httpx.Client) -> None:
    # The body is the first level; ``input`` and its dict the next two.
    body = '{"assistant_id": "chat", "input": {"x": ' + _nested(MAX_JSON_DEPTH - 1) + "}}"
    response = http.post("/runs/wait", content=body, headers={"content-type": "application/json"})
    _refused(response, 422, "input keys ['x']")  # past the depth check, on to the schema


# -- node names, checkpoints, strategies, thread ids ---------------------------


@pytest.mark.parametrize("field", ["interrupt_before", "interrupt_after"])
def test_run_when_interrupt_names_unknown_node_then_422_listing_nodes(
    http: httpx.Client, field: str
) -> None:
    response = http.post("/runs/wait", json={"assistant_id": "steps", "input": {}, field: ["x"]})
    _refused(response, 422, field, "'x'", "'one', 'two', 'three'")


def test_run_when_interrupt_names_known_node_then_run_stops_there(
    http: httpx.Client, thread_id: str
) -> None:
    body = {"assistant_id": "steps", "input": {}, "interrupt_before": ["two"]}
    http.post(f"/threads/{thread_id}/runs/wait", json=body)
    assert http.get(f"/threads/{thread_id}/state").json()["next"] == ["two"]


@pytest.mark.parametrize(
    "goto", ["nope", ["one", "nope"], {"node": "nope", "arg": {}}, [{"node": 3, "arg": {}}]]
)
def test_run_when_command_goto_names_unknown_node_then_422(
    http: httpx.Client, thread_id: str, goto: Any
) -> None:
    response = http.post(
        f"/threads/{thread_id}/runs/wait", json={"assistant_id": "steps", "command": {"goto": goto}}
    )
    _refused(response, 422, "command.goto", "'one', 'two', 'three', '__end__'")


def test_get_state_when_checkpoint_id_bogus_then_404_not_empty_200(
    http: httpx.Client, thread_id: str
) -> None:
    body = _refused(http.get(f"/threads/{thread_id}/state/bogus"), 404, "'bogus'")
    assert body["code"] == "checkpoint_not_found"
    at = http.post(
        f"/threads/{thread_id}/state/checkpoint", json={"checkpoint": {"checkpoint_id": "bogus"}}
    )
    _refused(at, 404, "'bogus'")
    real = http.get(f"/threads/{thread_id}/state").json()["checkpoint"]["checkpoint_id"]
    assert http.get(f"/threads/{thread_id}/state/{real}").json()["checkpoint"]["checkpoint_id"] == (
        real
    )


def test_get_state_when_thread_never_ran_and_checkpoint_named_then_404(
    http: httpx.Client,
) -> None:
    fresh = http.post("/threads", json={}).json()["thread_id"]
    _refused(http.get(f"/threads/{fresh}/state/anything"), 404, "'anything'")


def test_run_when_route_strategy_unknown_then_422_not_internal(http: httpx.Client) -> None:
    body = {
        "assistant_id": "auto",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
        "config": {"configurable": {"route_strategy": "zzz"}},
    }
    _refused(http.post("/runs/wait", json=body), 422, "'zzz'", "rule_first")


@pytest.mark.parametrize("bad", ["../../x", "a/b", ".hidden", "a b", "x" * 129, ""])
def test_thread_create_when_id_not_uuid_or_safe_string_then_422(
    http: httpx.Client, bad: str
) -> None:
    _refused(http.post("/threads", json={"thread_id": bad}), 422, "thread id", "UUID")


@pytest.mark.parametrize("bad", ["a b", ".hidden", "x" * 129])
def test_run_on_thread_when_path_id_not_safe_then_422_and_no_thread(
    http: httpx.Client, bad: str
) -> None:
    body = {"assistant_id": "steps", "if_not_exists": "create"}
    _refused(http.post(f"/threads/{bad}/runs/wait", json=body), 422, "thread id")
    assert http.post("/threads/search", json={"ids": [bad]}).json() == []


def test_thread_create_when_id_safe_string_then_created(http: httpx.Client) -> None:
    assert http.post("/threads", json={"thread_id": "user-42.chat_1"}).status_code == 200
    assert http.get("/threads/user-42.chat_1").json()["thread_id"] == "user-42.chat_1"


# -- fields that were accepted and ignored -------------------------------------


def test_thread_search_when_select_given_then_only_those_fields(
    http: httpx.Client, thread_id: str
) -> None:
    found = http.post(
        "/threads/search", json={"ids": [thread_id], "select": ["thread_id", "status"]}
    ).json()
    assert found == [{"thread_id": thread_id, "status": "idle"}]
    _refused(http.post("/threads/search", json={"select": ["config"]}), 422, "select.0")


def test_get_state_when_select_values_key_then_only_that_key(
    http: httpx.Client, thread_id: str
) -> None:
    state = http.get(
        f"/threads/{thread_id}/state", params=[("select", "values.steps"), ("select", "next")]
    ).json()
    assert set(state) == {"values", "next"}
    assert set(state["values"]) == {"steps"}
    history = http.post(f"/threads/{thread_id}/history", json={"select": ["checkpoint"]}).json()
    assert history
    assert all(set(s) == {"checkpoint"} for s in history)
    _refused(http.get(f"/threads/{thread_id}/state", params={"select": "nope"}), 422, "'nope'")


def test_assistant_search_when_sort_by_and_order_given_then_sorted(http: httpx.Client) -> None:
    names = [
        a["name"]
        for a in http.post(
            "/assistants/search",
            json={"sort_by": "name", "sort_order": "desc", "select": ["name"], "limit": 100},
        ).json()
    ]
    assert names == sorted(names, reverse=True)
    ascending = http.post(
        "/assistants/search", json={"sort_by": "graph_id", "limit": 100, "select": ["graph_id"]}
    ).json()
    assert [a["graph_id"] for a in ascending] == sorted(a["graph_id"] for a in ascending)
    assert all(set(a) == {"graph_id"} for a in ascending)
    _refused(http.post("/assistants/search", json={"sort_by": "color"}), 422, "sort_by")
