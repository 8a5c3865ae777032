"""``AuthGate``: the server's authentication, built once from the settings.

Which authenticator answers (``build_gate``):

* ``langgraph.json`` names an ``Auth`` object with ``@auth.authenticate``:
  it alone authenticates (configuring built-in keys or JWT as well is a
  startup error: two sources of truth for who a user is);
* else the built-ins: the credential (``X-Api-Key``, else the Bearer token)
  is checked against the API keys, then, if it looks like a JWT, verified as
  one;
* none of them: the server is open (``enabled`` is False).

Which authorizer answers: the ``Auth`` object's ``@auth.on`` handlers when
it has any (even with built-in authentication), else ``auth.isolation``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from langgraph_sdk import Auth
from starlette.requests import HTTPConnection

from app.auth.api_keys import ApiKeyAuthenticator
from app.auth.authorize import Authorizer, HandlerAuthorizer, OpenAuthorizer, OwnerAuthorizer
from app.auth.credentials import Credentials
from app.auth.custom import AuthConfigError, CustomAuthenticator, load_custom_auth
from app.auth.jwks import KeysUnavailable
from app.auth.jwt_tokens import InvalidToken, JwtAuthenticator
from app.auth.run_limits import RunLimiter
from app.auth.settings import AuthSettings
from app.auth.stream_tokens import StreamTokens
from app.auth.user import AuthUser
from app.errors import SwitchyardError, Unauthorized

__all__ = ["ALWAYS_PUBLIC", "AuthGate", "build_gate"]

# Health, and the playground page with its files: nothing in them is data.
ALWAYS_PUBLIC = frozenset({"/ok", "/"})
ALWAYS_PUBLIC_PREFIXES = ("/static/",)


class AuthUnavailable(SwitchyardError):
    """Credentials cannot be checked right now (the JWKS cannot be fetched)."""

    status_code = 503


@dataclass
class AuthGate:
    settings: AuthSettings
    authorizer: Authorizer
    stream_tokens: StreamTokens
    limiter: RunLimiter
    api_keys: ApiKeyAuthenticator | None = None
    jwt: JwtAuthenticator | None = None
    custom: CustomAuthenticator | None = None
    public_paths: frozenset[str] = field(default_factory=frozenset)

    @property
    def enabled(self) -> bool:
        return any(a is not None for a in (self.api_keys, self.jwt, self.custom))

    def is_public(self, path: str) -> bool:
        return (
            path in ALWAYS_PUBLIC
            or path.startswith(ALWAYS_PUBLIC_PREFIXES)
            or path in self.public_paths
        )

    def describe(self) -> str:
        parts = []
        if self.custom is not None:
            parts.append(self.custom.describe())
        if self.api_keys is not None:
            parts.append(f"{len(self.api_keys)} API key(s)")
        if self.jwt is not None:
            parts.append(self.jwt.describe())
        return ", ".join(parts)

    async def aclose(self) -> None:
        if self.jwt is not None:
            await self.jwt.aclose()

    async def authenticate(
        self, conn: HTTPConnection, credentials: Credentials, path_params: Mapping[str, Any]
    ) -> AuthUser:
        """The request's user, or ``Unauthorized`` (``AccessDenied`` if a handler chose so)."""
        if self.custom is not None:
            return await self.custom.authenticate(conn, path_params)
        token = credentials.token
        if token is None:
            if credentials.authorization is not None:
                raise Unauthorized("Authorization must be 'Bearer <token>'")
            raise Unauthorized("credentials required: send X-Api-Key or Authorization: Bearer")
        if self.api_keys is not None:
            user = self.api_keys.authenticate(token)
            if user is not None:
                return user
        if self.jwt is not None and token.count(".") == 2:
            try:
                return await self.jwt.authenticate(token)
            except InvalidToken as exc:
                raise Unauthorized(str(exc)) from None
            except KeysUnavailable as exc:
                raise AuthUnavailable(str(exc)) from None
        raise Unauthorized("invalid credentials")


def build_gate(settings: AuthSettings, config_file: Path | None) -> AuthGate:
    custom_auth: Auth | None = load_custom_auth(config_file)
    custom = None
    if custom_auth is not None and custom_auth._authenticate_handler is not None:
        if settings.api_keys or settings.jwt_enabled:
            raise AuthConfigError(
                "auth",
                "langgraph.json's auth.py authenticates; remove SWITCHYARD_AUTH_API_KEYS / "
                "SWITCHYARD_AUTH_JWT_* (or its @auth.authenticate) so one thing says who users are",
            )
        custom = CustomAuthenticator(custom_auth)
    authorizer: Authorizer
    if custom_auth is not None and (custom_auth._handlers or custom_auth._global_handlers):
        authorizer = HandlerAuthorizer(custom_auth)
    elif custom is not None or settings.isolation == "none":
        authorizer = OpenAuthorizer()  # LangGraph: no handler accepts
    else:
        authorizer = OwnerAuthorizer(settings.admin_permission)
    secret = settings.stream_token_secret
    return AuthGate(
        settings=settings,
        authorizer=authorizer,
        stream_tokens=StreamTokens(
            secret.get_secret_value() if secret else None, settings.stream_token_ttl_s
        ),
        limiter=RunLimiter(settings.max_runs_per_user),
        api_keys=ApiKeyAuthenticator(settings.api_keys) if settings.api_keys else None,
        jwt=JwtAuthenticator(settings) if settings.jwt_enabled else None,
        custom=custom,
        public_paths=frozenset(settings.public_paths),
    )
