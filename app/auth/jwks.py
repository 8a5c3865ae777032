"""A JWKS URL's keys, fetched with httpx and cached.

* Keys are kept for ``cache_s``; a token naming a ``kid`` the cache lacks
  (the issuer rotated its keys) refetches at once, but at most once every
  ``min_refresh_s``, so tokens with made-up kids cannot make the server
  hammer the identity provider.
* Concurrent first requests share one fetch (a lock around it).
* If a refetch fails while keys are cached, the cached keys keep serving.
* Symmetric (``oct``) keys in a JWKS are ignored: a public key set must never
  turn into an HMAC secret.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

__all__ = ["JwksCache", "KeysUnavailable", "SigningKey", "UnknownKey"]


@dataclass(frozen=True)
class SigningKey:
    kid: str | None
    key: Any  # a cryptography public key
    alg: str | None  # the JWK's own "alg", when it names one


class KeysUnavailable(Exception):
    """The JWKS could not be fetched and nothing is cached."""


class UnknownKey(Exception):
    """No key in the set has this kid."""


class JwksCache:
    def __init__(
        self,
        url: str,
        *,
        cache_s: float,
        min_refresh_s: float = 10.0,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self._cache_s = cache_s
        self._min_refresh_s = min_refresh_s
        self._client = httpx.AsyncClient(timeout=timeout_s)
        self._keys: dict[str | None, SigningKey] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the URL was fetched (observable in tests)

    async def aclose(self) -> None:
        await self._client.aclose()

    async def key(self, kid: str | None) -> SigningKey:
        if self._stale():
            await self._refresh(reason="expired")
        found = self._find(kid)
        if found is None and self._may_refetch():
            await self._refresh(reason="unknown kid")
            found = self._find(kid)
        if found is None:
            raise UnknownKey(f"no key with kid {kid!r} in {self._url}")
        return found

    def _find(self, kid: str | None) -> SigningKey | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _stale(self) -> bool:
        return self._fetched_at is None or time.monotonic() - self._fetched_at > self._cache_s

    def _may_refetch(self) -> bool:
        return (
            self._fetched_at is None or time.monotonic() - self._fetched_at >= self._min_refresh_s
        )

    async def _refresh(self, *, reason: str) -> None:
        fetched_before = self._fetched_at
        async with self._lock:
            if self._fetched_at != fetched_before:
                return  # another request refreshed while this one waited
            try:
                self.fetches += 1
                response = await self._client.get(self._url)
                response.raise_for_status()
                keys = _usable_keys(response.json())
            except (httpx.HTTPError, ValueError, jwt.PyJWKSetError) as exc:
                if not self._keys:
                    raise KeysUnavailable(f"cannot fetch JWKS ({reason}): {exc}") from None
                # Keep serving the keys we have; try again after min_refresh_s.
                self._fetched_at = time.monotonic() - self._cache_s + self._min_refresh_s
                return
            self._keys = keys
            self._fetched_at = time.monotonic()


def _usable_keys(data: object) -> dict[str | None, SigningKey]:
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise ValueError("a JWKS is an object with a 'keys' list")
    keys: dict[str | None, SigningKey] = {}
    for entry in data["keys"]:
        if not isinstance(entry, dict) or entry.get("kty") == "oct":
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK.from_dict(entry)
        except jwt.PyJWKError:
            continue  # a key type this PyJWT cannot use; others may still serve
        alg = entry.get("alg")
        keys[key.key_id] = SigningKey(key.key_id, key.key, alg if isinstance(alg, str) else None)
    if not keys:
        raise ValueError("the JWKS holds no usable signing key")
    return keys
