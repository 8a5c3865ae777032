"""Tokens never reach the access log: uvicorn's real access logger, on a real server."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import httpx
import uvicorn

from app.auth.log_redaction import redact
from app.main import create_app
from tests.conftest import make_settings
from tests.support.ready_uvicorn import ReadyServer
from tests.support.server import free_port


def test_redact_replaces_every_credential_parameter_value() -> None:
    line = (
        '1.2.3.4 - "GET /t/1/runs/2/stream?last_event_id=5&stream_token=abc.def&token=x HTTP/1.1"'
    )
    assert redact(line) == (
        '1.2.3.4 - "GET /t/1/runs/2/stream?last_event_id=5&stream_token=[redacted]'
        '&token=[redacted] HTTP/1.1"'
    )
    assert redact("/ok?api_key=k") == "/ok?api_key=[redacted]"


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_access_log_when_stream_token_in_url_then_logged_redacted(tmp_path: Path) -> None:
    port = free_port()
    app = create_app(make_settings(tmp_path))
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="info", access_log=True)
    server = ReadyServer(config)
    lines = _Lines()
    access = logging.getLogger("uvicorn.access")
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        assert server.ready.wait(30)
        access.addHandler(lines)
        secret = "eyJzZWNyZXQiOiJ0b2tlbiJ9.c2VjcmV0.c2ln"
        httpx.get(f"http://127.0.0.1:{port}/ok?stream_token={secret}&x=1", timeout=10)
    finally:
        server.should_exit = True
        thread.join(30)
        access.removeHandler(lines)
    logged = [line for line in lines.lines if "/ok" in line]
    assert logged, lines.lines
    assert all(secret not in line for line in lines.lines)
    assert "stream_token=[redacted]&x=1" in logged[0]
