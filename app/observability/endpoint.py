"""``GET /metrics``: the Prometheus text format, behind the configured guard.

Access (``SWITCHYARD_METRICS_ACCESS``):

* ``public``: no check (the default; bind to a private interface or put the
  scrape port behind your network's rules);
* ``token``: ``Authorization: Bearer <SWITCHYARD_METRICS_TOKEN>``, as
  Prometheus' ``authorization`` scrape option sends it; else 401.

The guard is a ``MetricsGuard``: any ``async (Request) -> Response | None``
that returns a response to refuse. The server's own authentication plugs in
here by setting ``app.state.metrics_guard`` (``guard_for`` is the default),
which ``app.observability.setup.serve_metrics`` awaits before answering.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.observability.settings import MetricsSettings

__all__ = ["MetricsGuard", "guard_for"]

MetricsGuard = Callable[[Request], Awaitable[Response | None]]


def guard_for(settings: MetricsSettings) -> MetricsGuard | None:
    if settings.access == "public":
        return None
    assert settings.token is not None  # the settings validator insists
    expected = f"Bearer {settings.token.get_secret_value()}".encode()

    async def bearer(request: Request) -> Response | None:
        given = request.headers.get("authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return None
        return JSONResponse(
            {
                "detail": "metrics need 'Authorization: Bearer <token>' "
                "(the server's SWITCHYARD_METRICS_TOKEN)",
                "code": "unauthorized",
            },
            status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )

    return bearer
