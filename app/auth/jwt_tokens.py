"""JWT bearer tokens (PyJWT): an HMAC secret, a public key, or a JWKS URL.

What a token must pass, in order:

1. Its header's ``alg`` is one the server accepts. The list comes from the
   settings (default: ``HS256`` for a secret; the public key's own family,
   ``RS256``/``ES256``/``EdDSA``; ``RS256`` and ``ES256`` for a JWKS), never
   from the token, so ``alg=none`` and key confusion (an RSA public key
   presented as an HS256 secret) are refused before any key is touched.
2. The signature verifies with the configured key (for a JWKS, the key
   its ``kid`` names, whose own ``alg``, if set, must be the token's).
3. ``exp``/``nbf``/``iat`` hold (with ``jwt_leeway_s``), ``iss`` and ``aud``
   equal the configured ones when set, and every required claim is there.

The user's identity is ``sub``; permissions come from ``jwt_permissions_claim``
(a list, or a space-separated string such as OAuth's ``scope``). The other
claims ride along as user fields (``ctx.user["org_id"]``).
"""

from __future__ import annotations

from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from app.auth.jwks import JwksCache, UnknownKey
from app.auth.settings import AuthSettings
from app.auth.user import AuthUser

__all__ = ["InvalidToken", "JwtAuthenticator"]

_EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class InvalidToken(Exception):
    """The token is not one this server accepts; the message says why (no secrets)."""


def _default_algorithms(public_key: Any) -> list[str]:
    if isinstance(public_key, rsa.RSAPublicKey):
        return ["RS256"]
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return [_EC_ALGORITHMS.get(public_key.curve.name, "ES256")]
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ["EdDSA"]
    raise ValueError(f"unsupported public key type {type(public_key).__name__}")


class JwtAuthenticator:
    def __init__(self, settings: AuthSettings) -> None:
        self._settings = settings
        self._key: Any = None
        self.jwks: JwksCache | None = None
        if settings.jwt_secret is not None:
            self._key = settings.jwt_secret.get_secret_value()
            default = ["HS256"]
        elif settings.jwt_jwks_url is not None:
            self.jwks = JwksCache(settings.jwt_jwks_url, cache_s=settings.jwt_jwks_cache_s)
            default = ["RS256", "ES256"]
        else:
            pem = settings.public_key_pem()
            assert pem is not None, "JwtAuthenticator needs a JWT key source"
            self._key = load_pem_public_key(pem.encode())
            default = _default_algorithms(self._key)
        self.algorithms = frozenset(settings.jwt_algorithms or default)

    def describe(self) -> str:
        source = (
            "HMAC secret"
            if self._settings.jwt_secret
            else f"JWKS {self._settings.jwt_jwks_url}"
            if self.jwks
            else "public key"
        )
        return f"JWT ({source}; {', '.join(sorted(self.algorithms))})"

    async def aclose(self) -> None:
        if self.jwks is not None:
            await self.jwks.aclose()

    async def authenticate(self, token: str) -> AuthUser:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidToken("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise InvalidToken(f"token algorithm {alg!r} is not accepted")
        key = self._key
        if self.jwks is not None:
            kid = header.get("kid")
            try:
                signing = await self.jwks.key(kid if isinstance(kid, str) else None)
            except UnknownKey as exc:
                raise InvalidToken(str(exc)) from None
            if signing.alg not in (None, alg):
                raise InvalidToken(f"the key {signing.kid!r} does not sign {alg!r} tokens")
            key = signing.key
        settings = self._settings
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_s,
                options={
                    "require": settings.jwt_required_claims,
                    "verify_aud": settings.jwt_audience is not None,
                },
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("token has expired") from None
        except jwt.InvalidSignatureError:
            raise InvalidToken("token signature is invalid") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {exc}") from None
        return self._user(claims)

    def _user(self, claims: dict[str, Any]) -> AuthUser:
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise InvalidToken("token has no 'sub' to name its user")
        raw = claims.get(self._settings.jwt_permissions_claim, [])
        if isinstance(raw, str):
            permissions = raw.split()
        elif isinstance(raw, list) and all(isinstance(p, str) for p in raw):
            permissions = raw
        else:
            raise InvalidToken(
                f"claim {self._settings.jwt_permissions_claim!r} must be a list of strings "
                "or a space-separated string"
            )
        reserved = {"identity", "permissions", "display_name", "is_authenticated"}
        extra = {k: v for k, v in claims.items() if k not in reserved}
        return AuthUser({**extra, "identity": subject, "permissions": permissions})
