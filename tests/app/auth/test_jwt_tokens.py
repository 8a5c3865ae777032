"""``app.auth.jwt_tokens`` and ``app.auth.jwks``: real keys, real tokens, a real JWKS server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from app.auth.jwt_tokens import InvalidToken, JwtAuthenticator
from app.auth.settings import AuthSettings
from tests.support.auth import SECRET, alg_none_token, mint

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def _pem(key: Any) -> str:
    return str(
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _signed(key: Any, alg: str, headers: dict[str, Any] | None = None, **claims: Any) -> str:
    payload = {"sub": "alice", "exp": int(time.time()) + 300, **claims}
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


async def test_hs256_when_valid_then_identity_from_sub_and_permissions_from_claim() -> None:
    auth = JwtAuthenticator(
        AuthSettings.model_validate({"jwt_secret": SECRET, "jwt_permissions_claim": "scope"})
    )
    user = await auth.authenticate(mint("alice", scope="threads:read threads:write", org="o1"))
    assert user.identity == "alice"
    assert user.permissions == ["threads:read", "threads:write"]
    assert user["org"] == "o1"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: mint("alice", exp_in=-5), "expired"),
        (lambda: mint("alice", secret="x" * 40), "signature"),
        (lambda: alg_none_token("alice"), "'none' is not accepted"),
        (lambda: "not.a.jwt", "malformed"),
        (lambda: jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256"), "exp"),
        (lambda: mint(""), "sub"),
    ],
)
async def test_hs256_when_token_bad_then_refused_with_reason(token: Any, reason: str) -> None:
    auth = JwtAuthenticator(AuthSettings.model_validate({"jwt_secret": SECRET}))
    with pytest.raises(InvalidToken, match=reason):
        await auth.authenticate(token())


async def test_issuer_and_audience_when_configured_then_required() -> None:
    settings = AuthSettings.model_validate(
        {"jwt_secret": SECRET, "jwt_issuer": "https://idp", "jwt_audience": "sy"}
    )
    auth = JwtAuthenticator(settings)
    good = mint("alice", iss="https://idp", aud="sy")
    assert (await auth.authenticate(good)).identity == "alice"
    for bad in (mint("alice", iss="https://evil", aud="sy"), mint("alice", iss="https://idp")):
        with pytest.raises(InvalidToken):
            await auth.authenticate(bad)


@pytest.mark.parametrize(("key", "alg"), [(RSA_KEY, "RS256"), (EC_KEY, "ES256")])
async def test_public_key_when_token_signed_by_private_key_then_accepted(
    key: Any, alg: str
) -> None:
    auth = JwtAuthenticator(AuthSettings.model_validate({"jwt_public_key": _pem(key)}))
    assert auth.algorithms == {alg}
    assert (await auth.authenticate(_signed(key, alg))).identity == "alice"


async def test_key_confusion_when_public_key_used_as_hmac_secret_then_refused() -> None:
    """The classic attack: sign HS256 with the server's *public* key as the secret."""
    pem = _pem(RSA_KEY)
    auth = JwtAuthenticator(AuthSettings.model_validate({"jwt_public_key": pem}))
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(
        json.dumps({"sub": "admin", "exp": int(time.time()) + 300}).encode()
    )
    import hashlib
    import hmac

    signature = hmac.new(pem.encode(), header + b"." + body, hashlib.sha256).digest()
    forged = b".".join([header, body, jwt.utils.base64url_encode(signature)]).decode()
    with pytest.raises(InvalidToken, match="'HS256' is not accepted"):
        await auth.authenticate(forged)
    with pytest.raises(InvalidToken, match="'none' is not accepted"):
        await auth.authenticate(alg_none_token("admin"))


def test_settings_when_key_sources_mixed_or_secret_short_then_refused() -> None:
    with pytest.raises(ValidationError, match="one of"):
        AuthSettings.model_validate({"jwt_secret": SECRET, "jwt_public_key": _pem(RSA_KEY)})
    with pytest.raises(ValidationError, match="32 bytes"):
        AuthSettings.model_validate({"jwt_secret": "short"})
    with pytest.raises(ValidationError, match="HS"):
        AuthSettings.model_validate({"jwt_public_key": _pem(RSA_KEY), "jwt_algorithms": ["HS256"]})
    with pytest.raises(ValidationError, match="unsafe"):
        AuthSettings.model_validate({"jwt_secret": SECRET, "jwt_algorithms": ["none"]})


# --- JWKS ---------------------------------------------------------------------------------


class _Jwks:
    """A JWKS endpoint on loopback that counts its fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0


def _jwk(key: Any, kid: str, alg: str | None = None) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(key, rsa.RSAPrivateKey) else None
    if algorithm is not None:
        data = json.loads(algorithm.to_jwk(key.public_key()))
    else:
        data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    data["kid"] = kid
    if alg:
        data["alg"] = alg
    return dict(data)


@pytest.fixture
def jwks() -> Iterator[tuple[_Jwks, str]]:
    state = _Jwks()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()


async def test_jwks_when_keys_rotate_then_cached_refetched_once_and_rate_limited(
    jwks: tuple[_Jwks, str],
) -> None:
    state, url = jwks
    state.keys = [_jwk(RSA_KEY, "k1", "RS256"), {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}]
    settings = AuthSettings.model_validate(
        {"jwt_jwks_url": url, "jwt_algorithms": ["RS256", "ES256", "PS256"]}
    )
    auth = JwtAuthenticator(settings)
    try:
        for _ in range(3):
            token = _signed(RSA_KEY, "RS256", headers={"kid": "k1"})
            assert (await auth.authenticate(token)).identity == "alice"
        assert state.fetches == 1  # cached
        # A key that names its algorithm signs only that one.
        with pytest.raises(InvalidToken, match="does not sign"):
            await auth.authenticate(_signed(RSA_KEY, "PS256", headers={"kid": "k1"}))
        # A symmetric key published in the set never becomes an HMAC secret.
        hs = jwt.encode(
            {"sub": "x", "exp": int(time.time()) + 60}, SECRET, "HS256", headers={"kid": "hmac"}
        )
        with pytest.raises(InvalidToken, match="not accepted"):
            await auth.authenticate(hs)
        # The issuer rotates to an EC key: an unknown kid refetches at once...
        state.keys.append(_jwk(EC_KEY, "k2"))
        assert auth.jwks is not None
        auth.jwks._min_refresh_s = 0
        token = _signed(EC_KEY, "ES256", headers={"kid": "k2"})
        assert (await auth.authenticate(token)).identity == "alice"
        assert state.fetches == 2
        # ...but made-up kids cannot make it hammer the provider.
        auth.jwks._min_refresh_s = 60
        for kid in ("x1", "x2", "x3"):
            with pytest.raises(InvalidToken, match="no key"):
                await auth.authenticate(_signed(RSA_KEY, "RS256", headers={"kid": kid}))
        assert state.fetches == 2
    finally:
        await auth.aclose()
