"""``GET /metrics``: the Prometheus text format, with access as configured.

Access (``SWITCHYARD_METRICS_ACCESS``):

* ``auth`` (the default): behind the server's auth gate like every other
  route: any authenticated user may scrape (send an API key or JWT as
  ``Authorization: Bearer``, Prometheus' ``authorization`` scrape option).
  With auth off the whole server is open, and so is this.
* ``public``: no credentials, even with auth on (bind to a private interface
  or keep the port behind your network's rules);
* ``token``: ``Authorization: Bearer <SWITCHYARD_METRICS_TOKEN>``, a scrape
  credential of its own that opens nothing else; else 401.

``public`` and ``token`` make ``/metrics`` a public path of the gate
(``metrics_public_paths``): the gate does not read its credentials, this
module does.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.auth.access import allow_authenticated
from app.observability.settings import MetricsSettings

__all__ = ["METRICS_PATH", "check_access", "metrics_public_paths"]

METRICS_PATH = "/metrics"


def metrics_public_paths(settings: MetricsSettings) -> frozenset[str]:
    """The paths the auth gate must let through for ``/metrics`` to check itself."""
    if settings.enabled and settings.access in ("public", "token"):
        return frozenset({METRICS_PATH})
    return frozenset()


def check_access(request: Request, settings: MetricsSettings) -> Response | None:
    """None when the request may scrape, else the refusal to send."""
    if settings.access == "auth":
        allow_authenticated(request)  # raises Unauthorized without a user
        return None
    if settings.access == "public":
        return None
    assert settings.token is not None  # the settings validator insists
    expected = f"Bearer {settings.token.get_secret_value()}".encode()
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
