"""Run webhooks: when a run with a ``webhook`` URL ends, the URL gets a POST.

The body is the run (as ``GET`` shows it, with its final status) plus
``values`` (the run's output) and ``error`` (``null`` unless it failed)::

    POST <webhook>
    Content-Type: application/json
    X-Switchyard-Timestamp: 1767225600
    X-Switchyard-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>." + body)>

The signature headers are sent when ``SWITCHYARD_WEBHOOKS_SECRET`` is set. A
receiver recomputes the HMAC over the timestamp, a dot and the raw body, and
compares in constant time (and may reject old timestamps against replay).

Delivery never delays a run: it runs in its own task after the run's end
event. Timeouts, connection errors, 429 and 5xx are retried with exponential
backoff (tenacity) up to ``max_attempts``; other statuses are final.

Targets are checked when the run is created (422 if refused) and again
before each delivery: ``http``/``https`` only, the host in
``SWITCHYARD_WEBHOOKS_ALLOWED_HOSTS`` when that list is set, and no
loopback, private, link-local, multicast or reserved address (after DNS)
unless ``SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import ipaddress
import logging
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from app import serde
from app.errors import InvalidInput
from app.platform.settings import WebhookSettings
from app.runs.recent import RunOutcome
from app.schemas import RunCreate
from app.store.base import Run

__all__ = ["WebhookRefused", "Webhooks", "sign"]

log = logging.getLogger("switchyard.webhooks")

SIGNATURE_HEADER = "X-Switchyard-Signature"
TIMESTAMP_HEADER = "X-Switchyard-Timestamp"


class WebhookRefused(InvalidInput):
    """The webhook URL is not one this server may call."""


class _Retryable(Exception):
    """A response worth another attempt (429, 5xx)."""


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """The ``X-Switchyard-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def _host_allowed(host: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    for pattern in allowed:
        pattern = pattern.lower()
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def _unobserved(outcome: str) -> None:
    pass


class Webhooks:
    """Checks webhook targets and delivers run results to them."""

    def __init__(self, settings: WebhookSettings, *, client: httpx.AsyncClient | None = None):
        self._settings = settings
        self._client = client or httpx.AsyncClient(timeout=settings.timeout_s)
        self._tasks: set[asyncio.Task[None]] = set()
        self.delivered: int = 0  # for /info-style introspection and tests
        self.failed: int = 0
        # Told "delivered", "failed" or "retried" (app.observability).
        self.observe: Callable[[str], None] = _unobserved

    async def check(self, body: RunCreate) -> None:
        """Run admission: refuse a run whose webhook cannot be called (422)."""
        if body.webhook is not None:
            await self.check_url(body.webhook)

    async def check_url(self, url: str) -> None:
        settings = self._settings
        if not settings.enabled:
            raise WebhookRefused("webhooks are disabled on this server; remove 'webhook'")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise WebhookRefused(f"webhook must be an http(s) URL with a host, not {url!r}")
        host = parts.hostname.lower()
        if not _host_allowed(host, settings.allowed_hosts):
            raise WebhookRefused(
                f"webhook host {host!r} is not in SWITCHYARD_WEBHOOKS_ALLOWED_HOSTS"
            )
        if settings.allow_private:
            return
        for address in await self._addresses(host, parts.port):
            if not address.is_global or address.is_multicast:
                raise WebhookRefused(
                    f"webhook host {host!r} resolves to {address}, a non-public address; "
                    "set SWITCHYARD_WEBHOOKS_ALLOW_PRIVATE=true to allow it"
                )

    @staticmethod
    async def _addresses(host: str, port: int | None) -> list[Any]:
        try:
            return [ipaddress.ip_address(host)]
        except ValueError:
            pass
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port or 443, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise WebhookRefused(f"webhook host {host!r} does not resolve: {exc}") from None
        return [ipaddress.ip_address(info[4][0]) for info in infos]

    def on_run_end(self, run: Run, body: RunCreate, outcome: RunOutcome) -> None:
        """Schedule the delivery; returns at once (the run's end is not delayed)."""
        if body.webhook is None:
            return
        payload = {
            **run.to_json(),
            "status": outcome.status,
            "values": outcome.output,
            "error": outcome.error,
        }
        task = asyncio.create_task(
            self._deliver(body.webhook, serde.dumps(payload)), name=f"webhook-{run.run_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, url: str, content: bytes) -> None:
        settings = self._settings
        retrying = AsyncRetrying(
            stop=stop_after_attempt(settings.max_attempts),
            wait=wait_exponential(multiplier=settings.backoff_s, max=settings.max_backoff_s),
            retry=retry_if_exception(
                lambda exc: isinstance(exc, _Retryable | httpx.TransportError)
            ),
            reraise=True,
            before_sleep=lambda _: self.observe("retried"),
        )
        try:
            await self.check_url(url)  # again: DNS may have changed since the run began
            async for attempt in retrying:
                with attempt:
                    await self._post(url, content)
            self.delivered += 1
            self.observe("delivered")
        except Exception as exc:
            self.failed += 1
            self.observe("failed")
            log.warning("webhook %s not delivered: %s", url, exc)

    async def _post(self, url: str, content: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        secret = self._settings.secret
        if secret is not None:
            timestamp = str(int(time.time()))
            headers[TIMESTAMP_HEADER] = timestamp
            headers[SIGNATURE_HEADER] = sign(secret.get_secret_value().encode(), timestamp, content)
        response = await self._client.post(url, content=content, headers=headers)
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"{url} answered {response.status_code}")
        if response.status_code >= 400:
            raise InvalidInput(f"{url} refused the webhook with {response.status_code}")

    async def aclose(self) -> None:
        """Stop deliveries still in flight and close the client."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()
