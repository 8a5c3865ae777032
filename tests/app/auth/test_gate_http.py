"""The gate over HTTP, in process: public paths, run-scoped stream tokens, the
per-user run limit, CORS, the fail-closed guard and the startup log."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.auth.settings import AuthSettings, CorsSettings
from app.main import create_app
from tests.conftest import make_settings
from tests.support.auth import OTHER_SECRET, SECRET, bearer, mint

Client = httpx.AsyncClient
ALICE, BOB = bearer(mint("alice")), bearer(mint("bob"))
STEPS = {"assistant_id": "steps", "input": {"steps": []}}


@asynccontextmanager
async def serving(tmp_path: Path, **overrides: Any) -> AsyncIterator[Client]:
    settings = make_settings(tmp_path, storage={"backend": "memory"}, **overrides)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://switchyard") as http:
            http.app = application  # type: ignore[attr-defined]
            yield http


def _auth(**extra: Any) -> AuthSettings:
    return AuthSettings.model_validate({"jwt_secret": SECRET, **extra})


async def _finished_run(http: Client, headers: dict[str, str]) -> dict[str, Any]:
    created = await http.post("/runs", json=STEPS, headers=headers)
    assert created.status_code == 200, created.text
    run: dict[str, Any] = created.json()
    joined = await http.get(
        f"/threads/{run['thread_id']}/runs/{run['run_id']}/join", headers=headers
    )
    assert joined.status_code == 200
    return run


async def test_startup_log_says_open_without_auth_and_names_authenticators_with_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="switchyard"):
        async with serving(tmp_path / "open"):
            pass
        async with serving(tmp_path / "closed", auth=_auth()):
            pass
    messages = [r.getMessage() for r in caplog.records if r.name == "switchyard"]
    assert any("authentication is OFF" in m and "open" in m for m in messages)
    assert any(m.startswith("authentication: JWT (HMAC secret; HS256)") for m in messages)


async def test_public_paths_when_info_removed_then_it_needs_credentials(tmp_path: Path) -> None:
    async with serving(tmp_path, auth=_auth(public_paths=[])) as http:
        assert (await http.get("/ok")).status_code == 200
        refused = await http.get("/info")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == 'Bearer realm="switchyard"'
        bad = await http.get("/info", headers=bearer("garbage"))
        assert bad.headers["www-authenticate"].endswith('error="invalid_token"')
        assert (await http.get("/info", headers=ALICE)).status_code == 200


async def test_stream_token_opens_its_runs_stream_only(tmp_path: Path) -> None:
    async with serving(tmp_path, auth=_auth()) as http:
        run_a = await _finished_run(http, ALICE)
        run_b = await _finished_run(http, ALICE)
        token = run_a["stream_token"]
        stream_a = f"/threads/{run_a['thread_id']}/runs/{run_a['run_id']}/stream"
        stream_b = f"/threads/{run_b['thread_id']}/runs/{run_b['run_id']}/stream"
        opened = await http.get(f"{stream_a}?stream_token={token}")
        assert opened.status_code == 200
        assert "event: end" in opened.text
        # Another run's stream, another route of the same run, a forged token: 401.
        assert (await http.get(f"{stream_b}?stream_token={token}")).status_code == 401
        run_path = f"/threads/{run_a['thread_id']}/runs/{run_a['run_id']}"
        assert (await http.get(f"{run_path}?stream_token={token}")).status_code == 401
        assert (await http.get(f"{run_path}/join?stream_token={token}")).status_code == 401
        forged = mint("alice", secret=OTHER_SECRET)
        assert (await http.get(f"{stream_a}?stream_token={forged}")).status_code == 401
        # A login token is not a stream token, nor the other way round.
        assert (await http.get(f"{stream_a}?stream_token={mint('alice')}")).status_code == 401
        assert (await http.get(run_path, headers=bearer(token))).status_code == 401
        # POST .../stream-token hands out another; only the run's reader may ask.
        assert (await http.post(f"{run_path}/stream-token", headers=BOB)).status_code == 404
        grant = (await http.post(f"{run_path}/stream-token", headers=ALICE)).json()
        assert grant["stream_url"].startswith(stream_a + "?stream_token=")
        assert (await http.get(grant["stream_url"])).status_code == 200


async def test_stream_token_when_expired_then_refused(tmp_path: Path) -> None:
    async with serving(tmp_path, auth=_auth()) as http:
        run = await _finished_run(http, ALICE)
        stream = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
        import jwt

        claims = jwt.decode(run["stream_token"], options={"verify_signature": False})
        assert claims["exp"] - claims["iat"] <= 300 + 1  # short-lived by default
        expired = jwt.encode({**claims, "exp": claims["iat"] - 1}, "x" * 40, algorithm="HS256")
        assert (await http.get(f"{stream}?stream_token={expired}")).status_code == 401


async def test_run_limit_when_user_has_too_many_runs_then_429_with_retry_after(
    tmp_path: Path,
) -> None:
    slow = {"assistant_id": "slow", "input": {"sleep_s": 30}}
    async with serving(tmp_path, auth=_auth(max_runs_per_user=1)) as http:
        first = (await http.post("/runs", json=slow, headers=ALICE)).json()
        refused = await http.post("/runs", json=STEPS, headers=ALICE)
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["code"] == "too_many_runs"
        batch = await http.post("/runs/batch/wait", json=[STEPS], headers=ALICE)
        assert batch.status_code == 429
        # The thread streaming protocol's run.start is admitted like any run.
        command = {"id": 1, "method": "run.start", "params": STEPS}
        started = await http.post(f"/threads/{uuid.uuid4()}/commands", json=command, headers=ALICE)
        assert started.status_code == 429
        assert started.json()["error"] == started.json()["code"] == "too_many_runs"
        # Another user has places of their own.
        assert (await http.post("/runs/wait", json=STEPS, headers=BOB)).status_code == 200
        path = f"/threads/{first['thread_id']}/runs/{first['run_id']}"
        cancelled = await http.post(f"{path}/cancel?wait=true", headers=ALICE)
        assert cancelled.status_code == 204
        # The place comes back when the run ends; nothing had to release it.
        assert (await http.post("/runs/wait", json=STEPS, headers=ALICE)).status_code == 200
        assert (await http.post("/runs/batch/wait", json=[STEPS], headers=ALICE)).status_code == 200
        assert (await http.post("/runs/wait", json=STEPS, headers=ALICE)).status_code == 200


async def test_cors_when_origin_allowed_then_preflight_and_401_carry_cors_headers(
    tmp_path: Path,
) -> None:
    cors = CorsSettings(allow_origins=["https://app.example"])
    async with serving(tmp_path, auth=_auth(), cors=cors) as http:
        origin = {"Origin": "https://app.example"}
        preflight = await http.options(
            "/threads/search",
            headers={
                **origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        refused = await http.post("/threads/search", json={}, headers=origin)
        assert refused.status_code == 401
        assert refused.headers["access-control-allow-origin"] == "https://app.example"
        other = await http.post("/threads/search", json={}, headers={"Origin": "https://evil"})
        assert "access-control-allow-origin" not in other.headers


async def test_route_that_never_authorizes_fails_closed(tmp_path: Path) -> None:
    async def careless(request: Request) -> Response:
        return JSONResponse({"secret": "everything"})

    async with serving(tmp_path, auth=_auth()) as http:
        http.app.router.routes.append(Route("/careless", careless))  # type: ignore[attr-defined]
        response = await http.get("/careless", headers=ALICE)
        assert response.status_code == 500
        assert "everything" not in response.text
        assert (await http.get("/careless")).status_code == 401


async def test_auth_off_then_everything_answers_as_before(tmp_path: Path) -> None:
    async with serving(tmp_path) as http:
        run = await _finished_run(http, {})
        assert "stream_token" not in run
        stream = f"/threads/{run['thread_id']}/runs/{run['run_id']}/stream"
        assert (await http.get(stream)).status_code == 200
        assert (await http.post("/threads/search", json={}, headers=bearer("junk"))).is_success
