"""Metrics of what landed beside the run engine after the metrics did: cron
ticks, webhook deliveries, the distributed backends (Postgres storage, Redis
event log) timed by name, and the thread streaming protocol's WebSocket."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path

import httpx
import websockets
from pydantic import SecretStr

from app.main import create_app
from app.platform.settings import CronSettings, WebhookSettings
from app.settings import PostgresSettings, RedisSettings, StorageSettings
from tests.conftest import make_settings
from tests.support.metrics import Samples, eventually, scrape
from tests.support.platform import platform_settings
from tests.support.receiver import run_receiver
from tests.support.server import run_server

STEPS = {"assistant_id": "steps", "input": {"steps": []}}


async def test_metrics_when_a_cron_tick_fires_then_counted_as_fired(tmp_path: Path) -> None:
    # The scheduler loop is off: the test fires the tick itself, at its due time.
    app = create_app(platform_settings(tmp_path, crons=CronSettings(enabled=False)))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sy") as http:
            created = await http.post("/runs/crons", json={**STEPS, "schedule": "* * * * *"})
            assert created.is_success, created.text
            due = datetime.fromisoformat(created.json()["next_run_date"])
            assert await app.state.services.platform.crons.tick(due) == 1
            samples = Samples((await http.get("/metrics")).text)
    assert samples["switchyard_cron_ticks_total", {"outcome": "fired"}] == 1
    assert samples["switchyard_cron_ticks_total", {"outcome": "failed"}] == 0


def test_metrics_when_webhooks_retry_then_deliveries_and_retries_counted(
    tmp_path: Path,
) -> None:
    webhooks = WebhookSettings(
        secret=SecretStr("hook"),
        allow_private=True,
        max_attempts=3,
        backoff_s=0.01,
        max_backoff_s=0.02,
    )
    settings = platform_settings(tmp_path, webhooks=webhooks)
    with (
        run_server(settings) as server,
        run_receiver() as receiver,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        receiver.fail_next = 2  # delivered on the third attempt
        assert http.post("/runs/wait", json={**STEPS, "webhook": receiver.url}).is_success
        receiver.wait_for(3)
        samples = eventually(
            http,
            lambda s: s["switchyard_webhook_deliveries_total", {"outcome": "delivered"}] == 1,
        )
        assert samples["switchyard_webhook_retries_total", {}] == 2
        receiver.fail_next = 3  # every attempt fails
        assert http.post("/runs/wait", json={**STEPS, "webhook": receiver.url}).is_success
        receiver.wait_for(6)
        samples = eventually(
            http,
            lambda s: s["switchyard_webhook_deliveries_total", {"outcome": "failed"}] == 1,
        )
        assert samples["switchyard_webhook_deliveries_total", {"outcome": "delivered"}] == 1
        assert samples["switchyard_webhook_retries_total", {}] == 4


def test_metrics_when_postgres_and_redis_then_their_operations_are_timed(
    tmp_path: Path, postgres_url: str, redis_target: tuple[str, str]
) -> None:
    url, prefix = redis_target
    settings = make_settings(
        tmp_path,
        storage=StorageSettings(backend="postgres"),
        postgres=PostgresSettings(url=postgres_url),
        redis=RedisSettings(url=url, prefix=f"{prefix}metrics:"),
    )
    with run_server(settings) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        thread = http.post("/threads", json={}).json()
        body = {"assistant_id": "steps", "input": {}, "stream_mode": ["values"]}
        run = http.post(f"/threads/{thread['thread_id']}/runs/wait", json=body)
        assert run.is_success, run.text
        samples = scrape(http)
    ops = "switchyard_storage_op_seconds_count"
    assert samples[ops, {"backend": "postgres", "op": "runs.create"}] == 1
    assert samples[ops, {"backend": "postgres", "op": "checkpoint.aput"}] >= 1
    appended = samples["switchyard_events_appended_total", {}]
    assert appended >= 3  # metadata, values..., end
    assert samples[ops, {"backend": "redis", "op": "events.append"}] == appended


async def test_metrics_when_thread_protocol_socket_opens_and_leaves_then_counted(
    tmp_path: Path,
) -> None:
    with run_server(make_settings(tmp_path)) as server:
        url = server.url.replace("http", "ws", 1) + f"/threads/{uuid.uuid4()}/stream/events"
        async with httpx.AsyncClient(base_url=server.url) as http:
            async with websockets.connect(url) as socket:
                subscribe = {"id": 1, "method": "subscription.subscribe", "params": {}}
                await socket.send(json.dumps(subscribe))
                reply = await socket.recv()
                while_open = Samples((await http.get("/metrics")).text)
            assert while_open["switchyard_streams_open", {"transport": "ws"}] == 1
            assert while_open["switchyard_stream_bytes_sent_total", {"transport": "ws"}] == len(
                reply
            )
        with httpx.Client(base_url=server.url) as sync_http:
            left = await asyncio.to_thread(
                eventually,
                sync_http,
                lambda s: s["switchyard_streams_open", {"transport": "ws"}] == 0,
            )
    assert left["switchyard_client_disconnects_total", {"transport": "ws"}] == 1
