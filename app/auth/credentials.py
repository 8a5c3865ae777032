"""Where credentials come from: ``Authorization: Bearer``, ``X-Api-Key``, ``?stream_token=``.

``X-Api-Key`` is what ``langgraph_sdk.get_client(api_key=...)`` sends;
``Authorization: Bearer`` is what ``headers={"Authorization": ...}`` and most
HTTP clients send. A ``stream_token`` query parameter is only ever honoured on
a run's stream URL (``app.auth.middleware`` checks where it arrived).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.types import Scope

__all__ = ["Credentials", "read_credentials"]


@dataclass(frozen=True)
class Credentials:
    authorization: str | None  # the raw Authorization header
    api_key: str | None
    stream_token: str | None

    @property
    def bearer(self) -> str | None:
        """The token of ``Authorization: Bearer <token>``; None for other schemes."""
        if self.authorization is None:
            return None
        scheme, _, token = self.authorization.strip().partition(" ")
        token = token.strip()
        return token if scheme.lower() == "bearer" and token else None

    @property
    def token(self) -> str | None:
        """The credential a built-in authenticator checks: X-Api-Key first, then Bearer."""
        return self.api_key or self.bearer

    @property
    def present(self) -> bool:
        return bool(self.authorization or self.api_key)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def read_credentials(scope: Scope) -> Credentials:
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    stream_tokens = query.get("stream_token")
    return Credentials(
        authorization=_header(scope, b"authorization"),
        api_key=_header(scope, b"x-api-key") or None,
        stream_token=stream_tokens[-1] if stream_tokens else None,
    )
