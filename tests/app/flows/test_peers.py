"""Two real server processes on one Postgres and one Redis: a flow written on A is served by B.

B learns of A's change from a note on the coordinator's signal channel and
reconciles with the store; the safety poll (30 s) is far longer than these
tests wait, so they pass only through the signal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.app.flows.test_routing import REQUEST, booking
from tests.app.runs.test_recovery import until
from tests.conftest import TEST_GRAPHS
from tests.support.process import spawn_server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_target: tuple[str, str]
) -> Iterator[tuple[httpx.Client, httpx.Client]]:
    redis_url, prefix = redis_target
    env = {
        "SWITCHYARD_DATA_DIR": str(tmp_path_factory.mktemp("peers")),
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_STORAGE_BACKEND": "postgres",
        "SWITCHYARD_POSTGRES_URL": postgres_url,
        "SWITCHYARD_REDIS_URL": redis_url,
        "SWITCHYARD_REDIS_PREFIX": f"{prefix}peers:",
    }
    with (
        spawn_server(env) as a,
        spawn_server(env) as b,
        httpx.Client(base_url=a.url, timeout=60) as on_a,
        httpx.Client(base_url=b.url, timeout=60) as on_b,
    ):
        yield on_a, on_b


def _served(http: httpx.Client, graph_id: str) -> dict[str, Any] | None:
    """The flow's assistant as this instance serves it (its version moves with the flow)."""
    answer = http.get(f"/assistants/{graph_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _route(http: httpx.Client, text: str) -> dict[str, Any]:
    body = {"assistant_id": "auto", "input": {"messages": [{"role": "user", "content": text}]}}
    answer = http.post("/runs/wait", json=body)
    assert answer.status_code == 200, answer.text
    route: dict[str, Any] = answer.json()["route"]
    return route


def _route_or_none(http: httpx.Client, text: str) -> str | None:
    """The target B routes ``text`` to; None while a decision for a deleted flow errs."""
    body = {"assistant_id": "auto", "input": {"messages": [{"role": "user", "content": text}]}}
    answer = http.post("/runs/wait", json=body)
    assert answer.status_code == 200, answer.text
    route = answer.json().get("route")
    return None if route is None else str(route["target"])


def _run(http: httpx.Client) -> dict[str, Any]:
    answer = http.post("/runs/wait", json={"assistant_id": "booking", "input": {}})
    assert answer.status_code == 200, answer.text
    output: dict[str, Any] = answer.json()
    return output


def test_flow_when_created_changed_deleted_on_a_then_b_serves_and_routes_the_same(
    pair: tuple[httpx.Client, httpx.Client],
) -> None:
    on_a, on_b = pair
    assert _route(on_b, REQUEST)["target"] != "booking"
    started = time.monotonic()
    assert on_a.post("/flows", json=booking()).status_code == 201
    until(lambda: _served(on_b, "booking"), "B to serve the flow created on A", timeout_s=10)
    served = time.monotonic() - started
    # B's router follows its registry a moment later (new examples are embedded first).
    until(lambda: _route(on_b, REQUEST)["target"] == "booking", "B to route to it", timeout_s=10)
    routed = time.monotonic() - started
    print(f"flow created on A: served by B after {served:.3f} s, routed after {routed:.3f} s")
    assert _run(on_b)["booked"] is True

    changed = booking()
    changed["nodes"][0]["config"]["set"] = {"booked": False}
    assert on_a.put("/flows/booking", json=changed).status_code == 200
    until(
        lambda: (_served(on_b, "booking") or {}).get("version") == 2, "version 2 on B", timeout_s=10
    )
    assert _run(on_b)["booked"] is False

    assert on_a.delete("/flows/booking").status_code == 204
    until(lambda: _served(on_b, "booking") is None, "B to drop the flow deleted on A", timeout_s=10)
    # Until B's router drops the target, a decision for it ends that run with
    # an error naming the vanished flow (no route in the output): not yet done.
    until(
        lambda: _route_or_none(on_b, REQUEST) not in (None, "booking"),
        "B to stop routing to it",
        timeout_s=10,
    )
    missing = on_b.post("/runs/wait", json={"assistant_id": "booking", "input": {}})
    assert missing.status_code == 404
