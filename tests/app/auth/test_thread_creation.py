"""Every way a thread comes to exist runs the same ``threads.create`` authorization.

The auth.py here (``tests/fixtures/auth/recording_auth.py``) stamps the
creator's org only in ``@auth.on.threads.create``; runs (``create_run``)
fall to a global handler that stamps nothing. So a thread is visible to its
creator's org exactly when its creation went through ``threads.create``:
``POST /threads``, a run with ``if_not_exists="create"``, a kept stateless
run, a kept batch item, a ``/ws`` run, the thread protocol's first
``run.start`` over HTTP and over its WebSocket, a copy, and a kept cron's
tick. Another org gets 404 for each, as for an unknown id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from app.main import create_app
from app.platform.settings import CronSettings
from app.services import Services
from tests.conftest import make_settings
from tests.support.server import RunningServer, run_server

CONFIG = Path(__file__).parents[2] / "fixtures" / "auth" / "recording.json"
ANN = {"Authorization": "Bearer ann@acme"}
BOB = {"Authorization": "Bearer bob@initech"}
STEPS: dict[str, Any] = {"assistant_id": "steps", "input": {"steps": []}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    settings = make_settings(Path(tmp_path_factory.mktemp("creation")), graphs=CONFIG)
    with run_server(settings) as running:
        yield running


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


def _ok(response: httpx.Response) -> Any:
    assert response.is_success, (response.status_code, response.text)
    return response.json()


def assert_creators_own(http: httpx.Client, thread_id: str) -> None:
    """The creator's org reads the thread (stamped by threads.create); another org
    gets the 404 an unknown id gets, and does not find it by search."""
    thread = _ok(http.get(f"/threads/{thread_id}", headers=ANN))
    assert thread["metadata"]["org"] == "acme", thread
    hidden = http.get(f"/threads/{thread_id}", headers=BOB)
    unknown = http.get(f"/threads/{uuid.uuid4()}", headers=BOB)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["code"] == unknown.json()["code"]
    found = _ok(http.post("/threads/search", json={"limit": 1000}, headers=BOB))
    assert thread_id not in {t["thread_id"] for t in found}


def test_rest_create_then_creators_org_owns_thread(http: httpx.Client) -> None:
    assert_creators_own(http, _ok(http.post("/threads", json={}, headers=ANN))["thread_id"])


def test_run_if_not_exists_create_then_new_thread_is_creators(http: httpx.Client) -> None:
    tid = str(uuid.uuid4())
    body = {**STEPS, "if_not_exists": "create"}
    _ok(http.post(f"/threads/{tid}/runs/wait", json=body, headers=ANN))
    assert_creators_own(http, tid)


def test_run_if_not_exists_on_another_orgs_thread_then_404_and_thread_untouched(
    http: httpx.Client,
) -> None:
    tid = _ok(http.post("/threads", json={}, headers=ANN))["thread_id"]
    body = {**STEPS, "if_not_exists": "create"}
    refused = http.post(f"/threads/{tid}/runs/wait", json=body, headers=BOB)
    assert refused.status_code == 404, refused.text
    assert _ok(http.get(f"/threads/{tid}/runs", headers=ANN)) == []


def test_kept_stateless_run_then_its_thread_is_creators(http: httpx.Client) -> None:
    run = _ok(http.post("/runs", json={**STEPS, "on_completion": "keep"}, headers=ANN))
    _ok(http.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}/join", headers=ANN))
    assert_creators_own(http, run["thread_id"])


def test_kept_batch_item_then_its_thread_is_creators(http: httpx.Client) -> None:
    (run,) = _ok(http.post("/runs/batch", json=[{**STEPS, "on_completion": "keep"}], headers=ANN))
    _ok(http.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}/join", headers=ANN))
    assert_creators_own(http, run["thread_id"])


def test_copy_then_copy_is_creators(http: httpx.Client) -> None:
    tid = _ok(http.post("/threads", json={}, headers=ANN))["thread_id"]
    assert_creators_own(http, _ok(http.post(f"/threads/{tid}/copy", headers=ANN))["thread_id"])


def _ws_url(server: RunningServer, path: str) -> str:
    return server.url.replace("http", "ws", 1) + path


def test_ws_run_on_new_thread_then_thread_is_creators(
    server: RunningServer, http: httpx.Client
) -> None:
    tid = str(uuid.uuid4())
    with connect(_ws_url(server, "/ws"), additional_headers=ANN, open_timeout=10) as ws:
        ws.send(json.dumps({"type": "run", "thread_id": tid, "if_not_exists": "create", **STEPS}))
        statuses = []
        for raw in ws:
            message = json.loads(raw)
            if message["type"] == "error":
                pytest.fail(str(message))
            if message["type"] == "status":
                statuses.append(message["status"])
                if message["status"] not in ("pending", "running"):
                    break
    assert statuses[-1] == "success", statuses
    assert_creators_own(http, tid)


def _run_start() -> dict[str, Any]:
    return {"id": 1, "method": "run.start", "params": {**STEPS}}


def test_thread_protocol_run_start_over_http_then_thread_is_creators(
    http: httpx.Client,
) -> None:
    tid = str(uuid.uuid4())
    started = _ok(http.post(f"/threads/{tid}/commands", json=_run_start(), headers=ANN))
    run_id = started["result"]["run_id"]
    _ok(http.get(f"/threads/{tid}/runs/{run_id}/join", headers=ANN))
    assert_creators_own(http, tid)
    # The run is the caller's too: its config carried who asked, like any run's.
    run = _ok(http.get(f"/threads/{tid}/runs/{run_id}", headers=ANN))
    assert run["kwargs"]["config"]["configurable"]["langgraph_auth_user_id"] == "ann"


def test_thread_protocol_run_start_over_websocket_then_thread_is_creators(
    server: RunningServer, http: httpx.Client
) -> None:
    tid = str(uuid.uuid4())
    url = _ws_url(server, f"/threads/{tid}/stream/events")
    with connect(url, additional_headers=ANN, open_timeout=10) as ws:
        ws.send(json.dumps(_run_start()))
        reply = json.loads(ws.recv(timeout=30))
    assert reply["type"] == "success", reply
    _ok(http.get(f"/threads/{tid}/runs/{reply['result']['run_id']}/join", headers=ANN))
    assert_creators_own(http, tid)


def test_thread_protocol_run_start_on_another_orgs_thread_then_404(http: httpx.Client) -> None:
    tid = _ok(http.post("/threads", json={}, headers=ANN))["thread_id"]
    refused = http.post(f"/threads/{tid}/commands", json=_run_start(), headers=BOB)
    assert refused.status_code == 404, refused.text
    assert _ok(http.get(f"/threads/{tid}/runs", headers=ANN)) == []


async def test_kept_cron_tick_then_its_thread_is_creators(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, graphs=CONFIG, crons=CronSettings(enabled=False))
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sy") as client:
            body = {**STEPS, "schedule": "0 0 1 1 *", "on_run_completed": "keep"}
            created = await client.post("/runs/crons", json=body, headers=ANN)
            assert created.status_code == 200, created.text
            services: Services = app.state.services
            cron = await services.storage.crons.get(created.json()["cron_id"])
            assert cron is not None
            assert cron.next_run_date is not None
            assert await services.platform.crons.tick(cron.next_run_date) == 1
            found = (await client.post("/threads/search", json={}, headers=ANN)).json()
            fired = [t for t in found if t["metadata"].get("cron_id") == cron.cron_id]
            assert len(fired) == 1, found
            assert fired[0]["metadata"]["org"] == "acme"
            tid = fired[0]["thread_id"]
            assert (await client.get(f"/threads/{tid}", headers=BOB)).status_code == 404
            (run,) = (await client.get(f"/threads/{tid}/runs", headers=ANN)).json()
            joined = await client.get(f"/threads/{tid}/runs/{run['run_id']}/join", headers=ANN)
            assert joined.status_code == 200, joined.text
