"""JSON log lines: ids on every line of a run (a node's own line included), no secrets."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.observability import logging as logs
from tests.support.process import serve_process

CHATTY = Path(__file__).parents[2] / "fixtures" / "observability" / "langgraph.json"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
SECRETS = ("HEADER-SECRET-123", "QUERY-SECRET-456", "abcdef123456", "sk-live1234567890")


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("GET /threads/t/runs/r/stream?stream_token=abc.def-1&x=1 HTTP/1.1", "abc.def-1"),
        ("url=https://h/v1?api_key=K123456&model=m", "K123456"),
        ("headers {'authorization': 'Bearer tok-999999'}", "tok-999999"),
        ("Authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ('{"x-api-key": "xk-777777"}', "xk-777777"),
        ("using key sk-proj-abcdefghijkl for calls", "sk-proj-abcdefghijkl"),
        ("sent bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
    ],
)
def test_redact_when_credential_in_text_then_gone(text: str, secret: str) -> None:
    cleaned = logs.redact(text)
    assert secret not in cleaned
    assert logs.REDACTED in cleaned


def test_redact_when_nothing_secret_then_text_unchanged() -> None:
    text = "run 1b2c finished in 3 ms with status success (thread_id=abc)"
    assert logs.redact(text) == text


def _record(message: str, *args: Any, name: str = "chatty") -> logging.LogRecord:
    return logging.LogRecord(name, logging.INFO, __file__, 1, message, args, None)


def test_json_formatter_when_ids_bound_then_on_the_line() -> None:
    formatter = logs.JsonFormatter()
    with logs.log_context(request_id="req-1", run_id="run-1", thread_id=None):
        line = json.loads(formatter.format(_record("hello %s", "world")))
    assert line["message"] == "hello world"
    assert line["level"] == "info"
    assert line["logger"] == "chatty"
    assert line["request_id"] == "req-1"
    assert line["run_id"] == "run-1"
    assert "thread_id" not in line  # None is not bound
    outside = json.loads(formatter.format(_record("after")))
    assert "run_id" not in outside


def test_json_formatter_when_lines_within_and_across_seconds_then_each_ts_its_own() -> None:
    formatter = logs.JsonFormatter()
    stamps = []
    for created in (1795973619.25, 1795973619.75, 1795973620.125, 1795973619.5):
        record = _record("tick")
        record.created = created
        stamps.append(json.loads(formatter.format(record))["ts"])
    assert stamps == [
        "2026-11-29T17:33:39.250Z",
        "2026-11-29T17:33:39.750Z",
        "2026-11-29T17:33:40.125Z",
        "2026-11-29T17:33:39.500Z",
    ]


def test_json_formatter_when_access_line_then_fields_and_query_redacted() -> None:
    record = _record(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5",
        "GET",
        "/x?stream_token=QUERY-SECRET-456",
        "1.1",
        200,
        name="uvicorn.access",
    )
    text = logs.JsonFormatter().format(record)
    line = json.loads(text)
    assert "QUERY-SECRET-456" not in text
    assert line["path"] == "/x?stream_token=[REDACTED]"
    assert line["status"] == 200


def test_text_formatter_when_ids_bound_then_appended_and_redacted() -> None:
    with logs.log_context(run_id="run-7"):
        text = logs.TextFormatter().format(_record("token=abcdef123456"))
    assert "abcdef123456" not in text
    assert text.endswith("[run_id=run-7]")


def _wait_for(output: list[str], predicate: Any, timeout_s: float = 15.0) -> list[str]:
    """The server's lines so far, once one satisfies ``predicate`` (it writes them
    from its own process; this is a bounded wait for them, not a sleep)."""
    deadline = time.monotonic() + timeout_s
    while not any(predicate(line) for line in list(output)):
        assert time.monotonic() < deadline, "".join(output[-30:])
        time.sleep(0.05)
    return list(output)


def test_serve_json_logs_when_node_logs_then_run_thread_trace_ids_and_no_secret(
    tmp_path: Path,
) -> None:
    output: list[str] = []
    env = {
        "SWITCHYARD_GRAPHS": str(CHATTY),
        "SWITCHYARD_BUILTINS": "false",
        "SWITCHYARD_DATA_DIR": str(tmp_path / "data"),
        "SWITCHYARD_LOGS_FORMAT": "json",
    }
    said = "hello Authorization: Bearer abcdef123456 and sk-live1234567890"
    headers = {
        "traceparent": TRACEPARENT,
        "Authorization": "Bearer HEADER-SECRET-123",
        "X-Request-ID": "req-42",
    }
    with serve_process(env, output) as url, httpx.Client(base_url=url, timeout=30) as http:
        thread_id = http.post("/threads", json={}).json()["thread_id"]
        created = http.post(
            f"/threads/{thread_id}/runs",
            json={"assistant_id": "chatty", "input": {"say": said}},
            headers=headers,
        )
        assert created.headers["x-request-id"] == "req-42"
        run_id = created.json()["run_id"]
        stream = http.get(
            f"/threads/{thread_id}/runs/{run_id}/stream?stream_token=QUERY-SECRET-456",
            headers={"Authorization": "Bearer HEADER-SECRET-123"},
        )
        assert "event: end" in stream.text
        lines = _wait_for(output, lambda line: "stream_token" in line)
    records = [json.loads(line) for line in lines if line.strip()]  # every line is JSON
    node = next(r for r in records if r["logger"] == "chatty")
    assert node["message"].startswith("node says: hello")
    assert node["run_id"] == run_id
    assert node["thread_id"] == thread_id
    assert node["assistant_id"]
    assert node["trace_id"] == TRACE_ID
    assert node["request_id"] == "req-42"
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any(r.get("path", "").endswith("stream_token=[REDACTED]") for r in access)
    assert all("request_id" in r for r in access)
    everything = "".join(lines)
    for secret in SECRETS:
        assert secret not in everything, secret
