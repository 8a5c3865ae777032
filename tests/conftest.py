"""Shared fixtures: settings on a tmp dir, the app, an ASGI client, a real server.

``settings``       SQLite under tmp_path, test graphs registered, 1 s heartbeats
``app``            create_app(settings) with its lifespan entered
``client``         httpx.AsyncClient over ASGITransport, for plain calls
``server``         a real uvicorn on a free port, for SSE/WebSocket/SDK tests
``openai_server``  a local OpenAI-protocol server with scripted replies
``postgres_url``   this session's own schema on the test PostgreSQL (session-wide)
``redis_target``   (url, key prefix) of this session on the test Redis (session-wide)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from app.main import create_app
from app.settings import Settings, SSESettings, StorageSettings
from tests.support.backends import postgres_schema, redis_server
from tests.support.openai_server import OpenAIServer, run_openai_server
from tests.support.server import RunningServer, run_server

TEST_GRAPHS = Path(__file__).parent / "fixtures" / "graphs" / "langgraph.json"


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "graphs": TEST_GRAPHS,
        "storage": StorageSettings(backend="sqlite"),
        "sse": SSESettings(heartbeat_s=1.0),
        # Hundreds of apps share the test process; freezing would keep every
        # earlier test's garbage alive. Server processes (test_restart) keep it on.
        "gc_freeze": False,
        "gc_threshold": 700,  # nor tune the test process's collector (Python's own)
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as http:
        yield http


@pytest.fixture
def server(settings: Settings) -> Iterator[RunningServer]:
    with run_server(settings) as running:
        yield running


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    with run_openai_server() as running:
        yield running


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="session")
def redis_target() -> Iterator[tuple[str, str]]:
    yield from redis_server()
