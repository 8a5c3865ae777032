"""The platform on two real server processes sharing Postgres: each cron tick fires
once in all; assistants and their versions, thread TTLs and the store are the same on both.

Both instances run their cron schedulers every 50 ms. A tick is made due by
moving the crons' ``next_run_date`` to now in the database, which is what the
clock reaching it does; the schedules themselves (yearly) never come due on
their own during the test. Ten crons come due together, so the two schedulers
find the same due ticks and race to claim them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import psycopg
import pytest

from tests.app.runs.test_recovery import until
from tests.support.platform import PLATFORM_GRAPHS
from tests.support.process import spawn_server
from tests.support.storage import empty_tables

CRONS = 10
TICKS = 5
YEARLY = "0 0 1 1 *"


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, postgres_url: str, redis_target: tuple[str, str]
) -> Iterator[tuple[str, str]]:
    redis_url, prefix = redis_target
    env = {
        "SWITCHYARD_DATA_DIR": str(tmp_path_factory.mktemp("platform-cluster")),
        "SWITCHYARD_GRAPHS": str(PLATFORM_GRAPHS),
        "SWITCHYARD_BUILTINS": "false",
        "SWITCHYARD_STORAGE_BACKEND": "postgres",
        "SWITCHYARD_POSTGRES_URL": postgres_url,
        "SWITCHYARD_POSTGRES_POOL_MAX": "10",
        "SWITCHYARD_REDIS_URL": redis_url,
        "SWITCHYARD_REDIS_PREFIX": f"{prefix}platform-cluster:",
        "SWITCHYARD_CRONS_POLL_INTERVAL_S": "0.05",
    }
    with spawn_server(env) as a, spawn_server(env) as b:
        yield a.url, b.url
    empty_tables(postgres_url)


def ok(response: httpx.Response) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def _make_due(postgres_url: str, cron_ids: list[str]) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE crons SET next_run_date = now() WHERE cron_id = ANY(%s)", (cron_ids,))


def _all_claimed(http: httpx.Client, cron_ids: list[str]) -> bool:
    """Every cron's tick was claimed: its next tick is the next yearly one again."""
    for cron_id in cron_ids:
        cron = ok(http.get(f"/runs/crons/{cron_id}"))
        if datetime.fromisoformat(cron["next_run_date"]) < datetime.now().astimezone():
            return False
    return True


def test_crons_when_two_instances_race_for_five_ticks_then_exactly_five_runs_each(
    pair: tuple[str, str], postgres_url: str
) -> None:
    url_a, url_b = pair
    with httpx.Client(base_url=url_a, timeout=30) as a, httpx.Client(base_url=url_b) as b:
        threads = [ok(a.post("/threads", json={}))["thread_id"] for _ in range(CRONS)]
        body = {
            "assistant_id": "steps",
            "schedule": YEARLY,
            "input": {"steps": []},
            "multitask_strategy": "enqueue",  # a tick's run never waits on the last one
        }
        cron_ids = [ok(a.post(f"/threads/{t}/runs/crons", json=body))["cron_id"] for t in threads]
        for _ in range(TICKS):
            _make_due(postgres_url, cron_ids)
            until(lambda: _all_claimed(b, cron_ids), "every due tick claimed", timeout_s=60)
        for thread_id, cron_id in zip(threads, cron_ids, strict=True):
            runs = ok(b.get(f"/threads/{thread_id}/runs", params={"limit": 100}))
            assert len(runs) == TICKS, (cron_id, len(runs))
            assert {run["metadata"]["cron_id"] for run in runs} == {cron_id}
            for run in runs:  # ordinary runs: joinable from either instance
                ok(a.get(f"/threads/{thread_id}/runs/{run['run_id']}/join"))


def test_assistant_when_created_on_a_then_b_reads_updates_and_lists_its_versions(
    pair: tuple[str, str],
) -> None:
    url_a, url_b = pair
    with httpx.Client(base_url=url_a) as a, httpx.Client(base_url=url_b) as b:
        created = ok(
            a.post(
                "/assistants",
                json={"graph_id": "profile", "config": {"configurable": {"tone": "dry"}}},
            )
        )
        aid = created["assistant_id"]
        assert ok(b.get(f"/assistants/{aid}")) == created
        ok(b.patch(f"/assistants/{aid}", json={"metadata": {"owner": "b"}, "name": "v2"}))
        ok(a.patch(f"/assistants/{aid}", json={"context": {"lang": "fr"}}))
        versions = ok(b.post(f"/assistants/{aid}/versions", json={}))
        assert [v["version"] for v in versions] == [3, 2, 1]
        assert versions[0]["context"] == {"lang": "fr"}
        assert versions[0]["metadata"]["owner"] == "b"
        ok(b.post(f"/assistants/{aid}/latest", json={"version": 1}))
        latest = ok(a.get(f"/assistants/{aid}"))
        assert (latest["version"], latest["name"], latest["context"]) == (1, created["name"], {})
        assert ok(a.post("/assistants/search", json={"metadata": {"owner": "b"}})) == []
        # The per-graph system assistants exist once, not once per instance.
        system = ok(b.post("/assistants/search", json={"graph_id": "profile", "limit": 100}))
        assert [s["assistant_id"] for s in system].count(aid) == 1
        assert len(system) == 2


def test_store_when_item_put_on_a_then_b_gets_and_searches_it(pair: tuple[str, str]) -> None:
    url_a, url_b = pair
    with httpx.Client(base_url=url_a) as a, httpx.Client(base_url=url_b) as b:
        item = {"namespace": ["users", "u1"], "key": "prefs", "value": {"tea": "green"}}
        assert a.put("/store/items", json=item).status_code == 204
        got = ok(b.get("/store/items", params={"namespace": "users.u1", "key": "prefs"}))
        assert got["value"] == {"tea": "green"}
        found = ok(b.post("/store/items/search", json={"namespace_prefix": ["users"]}))
        assert [i["key"] for i in found["items"]] == ["prefs"]


def test_thread_ttl_when_set_on_a_then_b_shows_and_updates_it(pair: tuple[str, str]) -> None:
    url_a, url_b = pair
    with httpx.Client(base_url=url_a) as a, httpx.Client(base_url=url_b) as b:
        tid = ok(a.post("/threads", json={"ttl": {"ttl": 30}}))["thread_id"]
        shown = ok(b.get(f"/threads/{tid}", params={"include": "ttl"}))
        assert (shown["ttl"]["strategy"], shown["ttl"]["ttl_minutes"]) == ("delete", 30)
        ok(b.patch(f"/threads/{tid}", json={"ttl": {"ttl": 5, "strategy": "keep_latest"}}))
        shown = ok(a.get(f"/threads/{tid}", params={"include": "ttl"}))
        assert (shown["ttl"]["strategy"], shown["ttl"]["ttl_minutes"]) == ("keep_latest", 5)
