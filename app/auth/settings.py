"""Auth and CORS settings (``SWITCHYARD_AUTH_*``, ``SWITCHYARD_CORS_*``).

Authentication is on when any authenticator is configured: API keys, a JWT
key source, or an ``auth`` entry in the served ``langgraph.json``. With none
of them the server is open, as before, and says so when it starts.

Keys are configured by their SHA-256 digest (``sha256``) so that neither the
environment nor a settings file holds a usable secret; ``key`` (plain text)
is accepted for convenience and digested at once. API keys must be random
(e.g. ``python -c "import secrets; print(secrets.token_urlsafe(32))"``): a
fast digest is right for them, unlike for passwords.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["ApiKey", "AuthSettings", "CorsSettings", "digest_key"]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


def digest_key(key: str) -> str:
    """The SHA-256 hex digest an API key is stored and compared as."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKey(BaseModel):
    """One static API key and who it is."""

    model_config = ConfigDict(extra="forbid")

    sha256: str | None = Field(None, pattern=r"^[0-9a-fA-F]{64}$")
    key: SecretStr | None = Field(None, description="Plain text; digested at load, never kept.")
    identity: str = Field(min_length=1)
    permissions: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _one_secret(self) -> ApiKey:
        if (self.sha256 is None) == (self.key is None):
            raise ValueError(f"API key of {self.identity!r}: give exactly one of sha256, key")
        if self.key is not None:
            self.sha256 = digest_key(self.key.get_secret_value())
            self.key = None
        assert self.sha256 is not None
        self.sha256 = self.sha256.lower()
        return self


class AuthSettings(BaseModel):
    api_keys: list[ApiKey] = Field(
        default_factory=list, description="Static API keys (X-Api-Key or Bearer)."
    )
    jwt_secret: SecretStr | None = Field(None, description="HMAC secret for HS256/384/512 JWTs.")
    jwt_public_key: str | None = Field(
        None, description="PEM public key (RSA, EC or Ed25519) for JWTs, or a path to a PEM file."
    )
    jwt_jwks_url: str | None = Field(None, description="A JWKS URL whose keys verify JWTs.")
    jwt_jwks_cache_s: float = Field(300.0, gt=0, description="How long fetched JWKS keys are kept.")
    jwt_algorithms: list[str] = Field(
        default_factory=list,
        description="Accepted algorithms; default: HS256 with a secret, RS256 and ES256 otherwise.",
    )
    jwt_issuer: str | None = Field(None, description="Required `iss`.")
    jwt_audience: str | None = Field(None, description="Required `aud`.")
    jwt_required_claims: list[str] = Field(
        default_factory=lambda: ["exp", "sub"], description="Claims every token must carry."
    )
    jwt_leeway_s: float = Field(0.0, ge=0, description="Clock skew allowed on exp/nbf/iat.")
    jwt_permissions_claim: str = Field(
        "permissions", description="Claim holding permissions: a list or a space-separated string."
    )
    isolation: Literal["owner", "none"] = Field(
        "owner",
        description="Built-in authorization when no auth.py handlers: each user sees only "
        "what they created ('owner'), or every authenticated user sees everything ('none').",
    )
    admin_permission: str = Field(
        "admin", description="With owner isolation: the permission allowed to reload rules."
    )
    public_paths: list[str] = Field(
        default_factory=lambda: ["/info", "/openapi.json", "/docs"],
        description="Paths served without credentials (besides /ok and the playground page).",
    )
    stream_token_secret: SecretStr | None = Field(
        None, description="Signs run-scoped stream tokens; random per process when unset."
    )
    stream_token_ttl_s: float = Field(
        300.0, gt=0, le=86_400, description="Lifetime of a run-scoped stream token."
    )
    max_runs_per_user: int | None = Field(
        None, ge=1, description="Runs one user may have pending or running at once (429 beyond)."
    )

    @field_validator("jwt_algorithms")
    @classmethod
    def _known_algorithms(cls, value: list[str]) -> list[str]:
        unknown = set(value) - HMAC_ALGORITHMS - PUBLIC_KEY_ALGORITHMS
        if unknown:
            raise ValueError(f"unknown or unsafe JWT algorithms {sorted(unknown)} (none is never)")
        return value

    @field_validator("jwt_secret", "stream_token_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode()) < 32:
            # RFC 7518: an HS256 key is at least as long as the hash (32 bytes).
            raise ValueError("HMAC secrets must be at least 32 bytes")
        return value

    @model_validator(mode="after")
    def _one_key_source(self) -> AuthSettings:
        sources = [self.jwt_secret, self.jwt_public_key, self.jwt_jwks_url]
        if sum(source is not None for source in sources) > 1:
            # One source per server: a public key next to an HMAC secret is how
            # key-confusion attacks start (an RS256 key used as an HS256 secret).
            raise ValueError("give one of jwt_secret, jwt_public_key, jwt_jwks_url")
        algorithms = set(self.jwt_algorithms)
        if self.jwt_secret is not None and algorithms - HMAC_ALGORITHMS:
            raise ValueError("jwt_secret verifies only HS256/HS384/HS512 tokens")
        if self.jwt_secret is None and algorithms & HMAC_ALGORITHMS:
            raise ValueError("HS* algorithms need jwt_secret, never a public key")
        return self

    @property
    def jwt_enabled(self) -> bool:
        return any(s is not None for s in (self.jwt_secret, self.jwt_public_key, self.jwt_jwks_url))

    def public_key_pem(self) -> str | None:
        if self.jwt_public_key is None or "-----BEGIN" in self.jwt_public_key:
            return self.jwt_public_key
        return Path(self.jwt_public_key).read_text(encoding="utf-8")


class CorsSettings(BaseModel):
    """Starlette's CORSMiddleware; off while ``allow_origins`` is empty."""

    allow_origins: list[str] = Field(default_factory=list, description="Origins, or ['*'].")
    allow_credentials: bool = Field(False, description="Allow cookies/Authorization cross-origin.")
    allow_methods: list[str] = Field(default_factory=lambda: ["GET", "POST", "PATCH", "DELETE"])
    allow_headers: list[str] = Field(
        default_factory=lambda: [
            "Authorization",
            "X-Api-Key",
            "Content-Type",
            "Last-Event-ID",
        ]
    )
    expose_headers: list[str] = Field(
        default_factory=lambda: ["Location", "Content-Location", "X-Stream-Token", "Retry-After"]
    )
    max_age_s: int = Field(600, ge=0, description="How long browsers cache a preflight.")
