"""``/ws`` with auth on: handshake credentials, first-message auth, stream-token sockets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from app.auth.settings import AuthSettings
from tests.conftest import make_settings
from tests.support.auth import SECRET, bearer, mint
from tests.support.server import RunningServer, run_server

KEY = "ws-alice-key-0123456789"
STEPS = {"assistant_id": "steps", "input": {"steps": []}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    auth = AuthSettings.model_validate(
        {"jwt_secret": SECRET, "api_keys": [{"key": KEY, "identity": "alice"}]}
    )
    with run_server(make_settings(Path(tmp_path_factory.mktemp("ws")), auth=auth)) as running:
        yield running


def _url(server: RunningServer, query: str = "") -> str:
    return server.url.replace("http", "ws", 1) + "/ws" + query


def _send(ws: ClientConnection, message: dict[str, Any]) -> None:
    ws.send(json.dumps(message))


def _until_closed(ws: ClientConnection) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in ws]


def test_handshake_with_bad_credentials_is_refused_with_401(server: RunningServer) -> None:
    with pytest.raises(InvalidStatus) as caught:
        connect(_url(server), additional_headers=bearer("garbage"), open_timeout=10)
    assert caught.value.response.status_code == 401
    assert caught.value.response.headers["WWW-Authenticate"].startswith("Bearer")


def test_first_message_auth_then_runs_as_that_user(server: RunningServer) -> None:
    with connect(_url(server), open_timeout=10) as ws:
        _send(ws, {"type": "auth", "api_key": KEY})
        assert json.loads(ws.recv()) == {"type": "authenticated", "identity": "alice"}
        _send(ws, {"type": "run", **STEPS})
        messages = _until_closed(ws)
    statuses = [m["status"] for m in messages if m["type"] == "status"]
    assert statuses[-1] == "success"


@pytest.mark.parametrize(
    "first", [{"type": "ping"}, {"type": "auth", "token": "garbage"}, {"type": "run", **STEPS}]
)
def test_first_message_not_valid_auth_then_closed_1008(
    server: RunningServer, first: dict[str, Any]
) -> None:
    with connect(_url(server), open_timeout=10) as ws:
        _send(ws, first)
        with pytest.raises(ConnectionClosedError) as caught:
            _until_closed(ws)
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1008


def test_stream_token_socket_follows_its_run_and_nothing_else(server: RunningServer) -> None:
    alice = bearer(mint("alice"))
    with httpx.Client(base_url=server.url, headers=alice, timeout=30) as http:
        run = http.post("/runs", json=STEPS).json()
        other = http.post("/runs", json=STEPS).json()
        http.get(f"/threads/{run['thread_id']}/runs/{run['run_id']}/join")
    token = run["stream_token"]
    with connect(_url(server, f"?stream_token={token}"), open_timeout=10) as ws:
        _send(ws, {"type": "run", **STEPS})
        refused = json.loads(ws.recv())
        assert refused["type"] == "error"
        assert refused["code"] == "forbidden"
        _send(ws, {"type": "subscribe", "run_id": run["run_id"]})
        messages = _until_closed(ws)
    assert [m["status"] for m in messages if m["type"] == "status"][-1] == "success"
    with connect(_url(server), open_timeout=10) as ws:
        _send(ws, {"type": "auth", "stream_token": token})
        assert json.loads(ws.recv())["identity"] == "alice"
        _send(ws, {"type": "subscribe", "run_id": other["run_id"]})
        with pytest.raises(ConnectionClosedError) as caught:
            _until_closed(ws)
    assert caught.value.rcvd is not None
    assert caught.value.rcvd.code == 1008
