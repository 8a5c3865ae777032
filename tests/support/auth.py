"""Tokens and settings for auth tests: real JWTs signed by PyJWT, never stubs."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt

from app.auth.settings import AuthSettings

__all__ = [
    "OTHER_SECRET",
    "SECRET",
    "alg_none_token",
    "bearer",
    "jwt_settings",
    "mint",
]

SECRET = "switchyard-test-secret-that-is-32-bytes-or-more"
OTHER_SECRET = "a-different-secret-of-more-than-32-bytes-length"


def mint(sub: str, *, secret: str = SECRET, exp_in: float = 300, **claims: Any) -> str:
    """An HS256 token for ``sub``; a negative ``exp_in`` makes it expired."""
    payload = {"sub": sub, "iat": int(time.time()), "exp": int(time.time() + exp_in), **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def alg_none_token(sub: str) -> str:
    """An unsigned token (``alg: none``) claiming to be ``sub``."""
    header = _b64({"alg": "none", "typ": "JWT"})
    payload = _b64({"sub": sub, "exp": int(time.time() + 300)})
    return f"{header}.{payload}."


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def jwt_settings(**overrides: Any) -> AuthSettings:
    return AuthSettings.model_validate({"jwt_secret": SECRET, **overrides})
