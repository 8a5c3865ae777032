"""Bad input gets a 4xx JSON body that says what to fix, and never a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.settings import RunSettings
from tests.conftest import make_settings
from tests.support.server import run_server


async def test_run_when_unknown_field_then_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/runs/wait", json={"assistant_id": "steps", "input": {}, "stream_mood": "values"}
    )
    assert response.status_code == 422
    assert "stream_mood" in response.json()["detail"]
    assert "unknown field" in response.json()["detail"]


async def test_run_when_body_not_json_then_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/runs/wait", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


async def test_run_when_body_is_array_then_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/runs/wait", json=[1, 2])
    assert response.status_code == 422
    assert "JSON object" in response.json()["detail"]


async def test_run_when_wrong_type_then_422_with_location(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/runs/wait", json={"assistant_id": "steps", "stream_subgraphs": "often"}
    )
    assert response.status_code == 422
    assert response.json()["detail"].startswith("stream_subgraphs:")


async def test_run_when_stream_mode_unknown_then_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/runs/stream", json={"assistant_id": "steps", "stream_mode": "x"})
    assert response.status_code == 422
    assert "stream_mode" in response.json()["detail"]


async def test_run_when_assistant_unknown_then_404_listing_graphs(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/runs/wait", json={"assistant_id": "nope", "input": {}})
    assert response.status_code == 404
    assert "steps" in response.json()["detail"]
    assert response.json()["code"] == "assistant_not_found"


async def test_run_when_thread_unknown_then_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/threads/00000000-0000-0000-0000-000000000000/runs/wait",
        json={"assistant_id": "steps", "input": {}},
    )
    assert response.status_code == 404
    assert "if_not_exists" in response.json()["detail"]


async def test_run_when_input_keys_not_in_graph_schema_then_422(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/runs/wait", json={"assistant_id": "steps", "input": {"stepz": []}}
    )
    assert response.status_code == 422
    body = response.json()
    assert "stepz" in body["detail"]
    assert "steps" in body["detail"]
    assert body["code"] == "input_schema"


async def test_run_when_input_and_command_both_given_then_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/runs/wait",
        json={"assistant_id": "steps", "input": {}, "command": {"resume": 1}},
    )
    assert response.status_code == 422
    assert "either 'input' or 'command'" in response.json()["detail"]


async def test_run_when_webhook_host_does_not_resolve_then_422_naming_it(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/runs/wait", json={"assistant_id": "steps", "webhook": "http://example.invalid/hook"}
    )
    assert response.status_code == 422
    assert "'example.invalid' does not resolve" in response.json()["detail"]


async def test_routes_when_unknown_path_or_method_then_json_404_405(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no route for GET /nowhere"
    wrong = await client.delete("/ok")
    assert wrong.status_code == 405
    assert "DELETE" in wrong.json()["detail"]


async def test_thread_when_created_twice_then_409_unless_do_nothing(
    client: httpx.AsyncClient,
) -> None:
    body = {"thread_id": "11111111-1111-1111-1111-111111111111"}
    assert (await client.post("/threads", json=body)).status_code == 200
    again = await client.post("/threads", json=body)
    assert again.status_code == 409
    same = await client.post("/threads", json={**body, "if_exists": "do_nothing"})
    assert same.status_code == 200
    assert same.json()["thread_id"] == body["thread_id"]


async def test_run_when_bad_input_repeated_then_server_keeps_serving(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(20):
        await client.post("/runs/wait", content=b"\xff\xfe", headers={"content-type": "x"})
    ok = await client.post("/runs/wait", json={"assistant_id": "steps", "input": {"steps": []}})
    assert ok.status_code == 200
    assert ok.json() == {"steps": ["one", "two", "three"]}


def test_run_when_body_exceeds_limit_then_413(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, runs=RunSettings(max_body_bytes=2048))
    with run_server(settings) as server, httpx.Client(base_url=server.url) as http:
        big = {"assistant_id": "steps", "input": {"steps": ["x" * 4096]}}
        response = http.post("/runs/wait", json=big)
        assert response.status_code == 413
        assert "2048" in response.json()["detail"]
        # Chunked upload without Content-Length is counted as it arrives.
        parts = [b'{"assistant_id": "steps", "input": {"steps": ["', b"y" * 4096, b'"]}}']
        chunked = http.post(
            "/runs/wait",
            content=iter(parts),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413


@pytest.mark.parametrize("path", ["/threads/search", "/assistants/search"])
async def test_search_when_limit_out_of_range_then_422(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, json={"limit": 0})
    assert response.status_code == 422
    assert response.json()["detail"].startswith("limit:")


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/threads/prune", "POST"),  # also fits /threads/{thread_id}, listed before it
        ("/assistants/search", "POST"),
        ("/threads/6f0b1c1e-0000-4000-8000-000000000000", "DELETE, GET, HEAD, PATCH"),
    ],
)
async def test_method_when_not_allowed_then_allow_names_the_most_literal_routes_methods(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    response = await client.request("OPTIONS", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["code"] == "method_not_allowed"
