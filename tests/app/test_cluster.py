"""Several real server processes on one Postgres and one Redis: any instance serves any run.

Three instances (A, B, C) on three ports share the session's schema and a
Redis key prefix, as instances behind a plain proxy would. Leases are short
(2 s) so that a killed instance's run is taken over quickly.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import psycopg
import pytest
import redis

from tests.app.runs.test_recovery import start_gated_run, until
from tests.conftest import TEST_GRAPHS
from tests.support.process import spawn_server

Event = tuple[str, str, Any]  # (id, event, data)


# The cluster's connections carry this name, so a test can drop exactly them.
NAME = f"sy-cluster-{secrets.token_hex(4)}"


@pytest.fixture(scope="module")
def cluster_env(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_target: tuple[str, str]
) -> dict[str, str]:
    redis_url, prefix = redis_target
    return {
        "SWITCHYARD_DATA_DIR": str(tmp_path_factory.mktemp("cluster")),
        "SWITCHYARD_GRAPHS": str(TEST_GRAPHS),
        "SWITCHYARD_STORAGE_BACKEND": "postgres",
        "SWITCHYARD_POSTGRES_URL": f"{postgres_url}&application_name={NAME}",
        "SWITCHYARD_POSTGRES_POOL_MAX": "10",
        "SWITCHYARD_REDIS_URL": f"{redis_url}?client_name={NAME}",
        "SWITCHYARD_REDIS_PREFIX": f"{prefix}cluster:",
        "SWITCHYARD_RUNS_LEASE_S": "2",
    }


@pytest.fixture(scope="module")
def instances(cluster_env: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    with (
        spawn_server(cluster_env) as a,
        spawn_server(cluster_env) as b,
        spawn_server(cluster_env) as c,
    ):
        yield a.url, b.url, c.url


def follow(url: str, path: str, *, last_event_id: str | None = None) -> Iterator[Event]:
    """The SSE events of a GET stream, as they arrive."""
    headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
    with (
        httpx.Client(base_url=url, timeout=60) as http,
        http.stream("GET", path, headers=headers) as response,
    ):
        response.raise_for_status()
        fields: dict[str, str] = {}
        for line in response.iter_lines():
            if line:
                if not line.startswith(":"):
                    name, _, value = line.partition(": ")
                    fields[name] = value
                continue
            if "event" in fields:
                data = orjson.loads(fields.get("data", "null"))
                yield fields.get("id", ""), fields["event"], data
            fields = {}


def test_stream_when_run_created_on_a_then_followed_on_b_and_resumed_on_c_exactly(
    instances: tuple[str, str, str], tmp_path: Path
) -> None:
    a, b, c = instances
    gate = tmp_path / "gate"
    with httpx.Client(base_url=a, timeout=30) as http:
        thread_id, run_id = start_gated_run(http, gate)
    path = f"/threads/{thread_id}/runs/{run_id}/stream"
    on_b: list[Event] = []
    for event in follow(b, path):
        on_b.append(event)
        if len(on_b) == 2:  # live on B while A still executes: now let it finish
            gate.touch()
    names = [name for _, name, _ in on_b]
    assert names[0] == "metadata"
    assert names[-1] == "end"
    ids = [event_id for event_id, _, _ in on_b]
    assert len(set(ids)) == len(ids)
    resumed = list(follow(c, path, last_event_id=ids[1]))
    assert resumed == on_b[2:]  # no gap, no duplicate


def test_join_when_run_executes_on_a_then_b_answers_once_it_ended(
    instances: tuple[str, str, str], tmp_path: Path
) -> None:
    a, b, _ = instances
    gate = tmp_path / "gate"
    with httpx.Client(base_url=a, timeout=30) as on_a:
        thread_id, run_id = start_gated_run(on_a, gate)
    joined: list[Any] = []

    def join() -> None:
        with httpx.Client(base_url=b, timeout=60) as on_b:
            joined.append(on_b.get(f"/threads/{thread_id}/runs/{run_id}/join").json())

    waiter = threading.Thread(target=join, daemon=True)
    waiter.start()
    waiter.join(1.0)  # B must still be waiting: the run cannot end before the gate opens
    assert waiter.is_alive()
    gate.touch()
    waiter.join(60)
    assert joined == [{"gate": str(gate), "steps": ["first", "second", "third"]}]


def test_cancel_when_sent_to_b_then_run_executing_on_a_stops(
    instances: tuple[str, str, str],
) -> None:
    a, b, _ = instances
    with httpx.Client(base_url=a, timeout=30) as on_a, httpx.Client(base_url=b, timeout=30) as on_b:
        thread_id = on_a.post("/threads", json={}).json()["thread_id"]
        run = on_a.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "slow", "input": {"sleep_s": 120}},
        ).json()
        until(
            lambda: (
                on_b.get(f"/threads/{thread_id}/runs/{run['run_id']}").json()["status"] == "running"
            ),
            "the run to start on A",
        )
        assert on_b.post(f"/threads/{thread_id}/runs/{run['run_id']}/cancel").status_code in (
            200,
            202,
            204,
        )
        stopped = until(
            lambda: (
                (found := on_b.get(f"/threads/{thread_id}/runs/{run['run_id']}").json())["status"]
                == "interrupted"
                and found
            ),
            "the run to stop",
            timeout_s=15,
        )
        assert stopped["status"] == "interrupted"
        assert until(
            lambda: on_b.get(f"/threads/{thread_id}").json()["status"] == "idle", "thread idle"
        )


def test_enqueue_when_20_runs_sent_alternately_to_a_and_b_then_one_at_a_time_in_order(
    instances: tuple[str, str, str],
) -> None:
    a, b, _ = instances
    clients = [httpx.Client(base_url=url, timeout=60) for url in (a, b)]
    try:
        thread_id = clients[0].post("/threads", json={}).json()["thread_id"]
        run_ids = []
        for i in range(20):
            created = clients[i % 2].post(
                f"/threads/{thread_id}/runs",
                json={
                    "assistant_id": "steps",
                    "input": {"steps": [f"r{i}"]},
                    "multitask_strategy": "enqueue",
                },
            )
            assert created.status_code == 200, created.text
            run_ids.append(created.json()["run_id"])
        final = clients[1].get(f"/threads/{thread_id}/runs/{run_ids[-1]}/join").json()
        runs = clients[0].get(f"/threads/{thread_id}/runs", params={"limit": 100}).json()
    finally:
        for client in clients:
            client.close()
    # Each run appends its own marker then one, two, three: any overlap or
    # reordering would interleave them.
    expected = [step for i in range(20) for step in (f"r{i}", "one", "two", "three")]
    assert final["steps"] == expected
    assert {run["status"] for run in runs} == {"success"}


async def test_reject_when_20_runs_race_on_a_and_b_then_exactly_one_accepted(
    instances: tuple[str, str, str],
) -> None:
    a, b, _ = instances
    async with httpx.AsyncClient(timeout=60) as http:
        thread_id = (await http.post(f"{a}/threads", json={})).json()["thread_id"]
        body = {"assistant_id": "slow", "input": {"sleep_s": 30}, "multitask_strategy": "reject"}
        answers = await asyncio.gather(
            *(http.post(f"{(a, b)[i % 2]}/threads/{thread_id}/runs", json=body) for i in range(20))
        )
        codes = sorted(answer.status_code for answer in answers)
        winner = next(answer.json() for answer in answers if answer.status_code == 200)
        await http.post(f"{b}/threads/{thread_id}/runs/{winner['run_id']}/cancel")
    assert codes == [200] + [409] * 19


def test_kill_when_executing_instance_dies_then_run_continues_elsewhere_from_checkpoint(
    instances: tuple[str, str, str], cluster_env: dict[str, str], tmp_path: Path
) -> None:
    _, b, c = instances
    gate = tmp_path / "gate"
    with spawn_server(cluster_env) as doomed, httpx.Client(base_url=doomed.url, timeout=30) as http:
        thread_id, run_id = start_gated_run(http, gate)
        path = f"/threads/{thread_id}/runs/{run_id}/stream"
        seen: list[Event] = []
        reader = threading.Thread(target=lambda: seen.extend(follow(b, path)), daemon=True)
        reader.start()
        until(lambda: len(seen) >= 2, "B to follow the run")
        doomed.kill()  # kill -9 while `second` waits
    gate.touch()
    reader.join(60)
    assert not reader.is_alive()
    with httpx.Client(base_url=c, timeout=30) as http:
        run = http.get(f"/threads/{thread_id}/runs/{run_id}").json()
        thread = http.get(f"/threads/{thread_id}").json()
        state = http.get(f"/threads/{thread_id}/state").json()
    metadata = [data for _, name, data in seen if name == "metadata"]
    assert metadata == [{"run_id": run_id, "attempt": 1}, {"run_id": run_id, "attempt": 2}]
    assert seen[-1][1] == "end"
    ids = [event_id for event_id, _, _ in seen]
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("-"))))
    assert len(set(ids)) == len(ids)
    assert state["values"]["steps"] == ["first", "second", "third"]  # as uninterrupted
    assert (run["status"], run["attempt"]) == ("success", 2)
    assert thread["status"] == "idle"


def test_connections_when_postgres_and_redis_drop_them_mid_run_then_streams_and_runs_go_on(
    instances: tuple[str, str, str],
    postgres_url: str,
    redis_target: tuple[str, str],
    tmp_path: Path,
) -> None:
    a, b, _ = instances
    gate = tmp_path / "gate"
    with httpx.Client(base_url=a, timeout=30) as on_a:
        thread_id, run_id = start_gated_run(on_a, gate)
    path = f"/threads/{thread_id}/runs/{run_id}/stream"
    seen: list[Event] = []
    for event in follow(b, path):
        seen.append(event)
        if len(seen) == 2:  # mid-run, mid-stream: what a restart or failover does
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                dropped_pg = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = %s",
                    (NAME,),
                ).fetchone()
            admin_redis = redis.Redis.from_url(redis_target[0])
            dropped_redis = sum(
                admin_redis.client_kill_filter(_id=client["id"])
                for client in admin_redis.client_list()
                if client["name"] == NAME
            )
            admin_redis.close()
            gate.touch()
    assert dropped_pg is not None
    assert dropped_pg[0] > 0
    assert dropped_redis > 0
    assert seen[-1][1] == "end"
    assert "error" not in [name for _, name, _ in seen]
    ids = [event_id for event_id, _, _ in seen]
    assert len(set(ids)) == len(ids)
    with httpx.Client(base_url=b, timeout=30) as on_b:
        run = on_b.get(f"/threads/{thread_id}/runs/{run_id}").json()
        state = on_b.get(f"/threads/{thread_id}/state").json()
        again = on_b.post("/runs/wait", json={"assistant_id": "steps", "input": {}}).json()
    assert run["status"] == "success"
    assert state["values"]["steps"] == ["first", "second", "third"]
    assert again == {"steps": ["one", "two", "three"]}  # the servers keep serving


def test_serve_when_two_workers_on_shared_state_then_both_serve_one_port(
    cluster_env: dict[str, str],
) -> None:
    with (
        spawn_server(cluster_env, args=["--workers", "2"]) as server,
        httpx.Client(base_url=server.url, timeout=60) as http,
    ):
        results = [
            http.post("/runs/wait", json={"assistant_id": "steps", "input": {}}).json()
            for _ in range(10)
        ]
    assert results == [{"steps": ["one", "two", "three"]}] * 10
