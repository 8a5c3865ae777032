"""Run webhooks against a real receiver: signed bodies, retries with backoff,
never delaying the run, and the address policy."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import orjson
import pytest
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient
from pydantic import SecretStr

from app.platform.settings import WebhookSettings
from tests.support.platform import platform_settings
from tests.support.receiver import Receiver, run_receiver
from tests.support.server import RunningServer, run_server

SECRET = "webhook-secret"


@pytest.fixture(scope="module")
def hook_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    webhooks = WebhookSettings(
        secret=SecretStr(SECRET), allow_private=True, backoff_s=0.05, max_backoff_s=0.2
    )
    settings = platform_settings(tmp_path_factory.mktemp("hooks"), webhooks=webhooks)
    with run_server(settings) as running:
        yield running


@pytest.fixture
async def sdk(hook_server: RunningServer) -> AsyncIterator[LangGraphClient]:
    client = get_client(url=hook_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with run_receiver() as running:
        yield running


async def test_webhook_when_run_ends_then_receiver_gets_signed_run_and_output(
    sdk: LangGraphClient, receiver: Receiver
) -> None:
    thread = await sdk.threads.create()
    run = await sdk.runs.create(
        thread["thread_id"], "steps", input={"steps": []}, webhook=receiver.url
    )
    [call] = await asyncio.to_thread(receiver.wait_for, 1)
    timestamp = call.headers["x-switchyard-timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + call.body, hashlib.sha256)
    assert call.headers["x-switchyard-signature"] == f"v1={expected.hexdigest()}"
    assert abs(int(timestamp) - time.time()) < 60
    payload = orjson.loads(call.body)
    assert (payload["run_id"], payload["thread_id"]) == (run["run_id"], thread["thread_id"])
    assert payload["status"] == "success"
    assert payload["values"] == {"steps": ["one", "two", "three"]}
    assert payload["error"] is None


async def test_webhook_when_receiver_fails_twice_then_delivered_on_third_try(
    sdk: LangGraphClient, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    await sdk.runs.wait(None, "steps", input={"steps": []}, webhook=receiver.url)
    calls = await asyncio.to_thread(receiver.wait_for, 3)
    assert len({c.body for c in calls}) == 1  # the same delivery, three attempts
    assert calls[1].at - calls[0].at >= 0.04  # backed off between attempts
    assert receiver.fail_next == 0


async def test_webhook_when_receiver_slow_then_run_ends_without_waiting(
    sdk: LangGraphClient, receiver: Receiver
) -> None:
    receiver.delay_s = 3.0
    started = time.monotonic()
    out = await sdk.runs.wait(None, "steps", input={"steps": []}, webhook=receiver.url)
    assert time.monotonic() - started < 2.0
    assert out == {"steps": ["one", "two", "three"]}
    await asyncio.to_thread(receiver.wait_for, 1)


async def test_webhook_when_target_private_by_default_then_run_refused(
    client: httpx.AsyncClient,
) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/x"):
        response = await client.post(
            "/runs", json={"assistant_id": "steps", "input": {"steps": []}, "webhook": url}
        )
        assert response.status_code == 422, url
        assert "SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE" in response.json()["detail"]
    bad = await client.post(
        "/runs", json={"assistant_id": "steps", "input": {}, "webhook": "ftp://example.com/x"}
    )
    assert bad.status_code == 422
    assert "http(s)" in bad.json()["detail"]


async def test_webhook_when_allow_list_set_then_other_hosts_refused() -> None:
    from app.platform.webhooks import WebhookRefused, Webhooks

    hooks = Webhooks(WebhookSettings(allowed_hosts=["*.example.com"], allow_private=True))
    try:
        await hooks.check_url("https://hooks.example.com/x")
        with pytest.raises(WebhookRefused, match="ALLOWED_HOSTS"):
            await hooks.check_url("https://evil.test/x")
    finally:
        await hooks.aclose()
