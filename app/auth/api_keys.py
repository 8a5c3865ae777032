"""Static API keys: stored as SHA-256 digests, compared in constant time.

A presented key is digested and compared with *every* configured digest by
``hmac.compare_digest``, without stopping at the first match, so neither the
answer time nor its shape says which key (or how much of one) was right.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from app.auth.settings import ApiKey
from app.auth.user import AuthUser

__all__ = ["ApiKeyAuthenticator"]


class ApiKeyAuthenticator:
    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self._keys: list[tuple[bytes, AuthUser]] = []
        for entry in keys:
            assert entry.sha256 is not None  # ApiKey's validator digests plain keys
            user = AuthUser({"identity": entry.identity, "permissions": entry.permissions})
            self._keys.append((bytes.fromhex(entry.sha256), user))

    def __len__(self) -> int:
        return len(self._keys)

    def authenticate(self, key: str) -> AuthUser | None:
        """The key's user, or None if no configured key is this one."""
        presented = hashlib.sha256(key.encode()).digest()
        found: AuthUser | None = None
        for digest, user in self._keys:
            if hmac.compare_digest(presented, digest):
                found = user
        return found
