"""Short-lived tokens that open one run's stream, for clients that cannot send headers.

A browser ``EventSource`` (and a browser WebSocket) cannot set
``Authorization``, and a long-lived key must never sit in a URL or an access
log. So an authorized client asks for a token scoped to one run (the run's
creation response carries one; ``POST .../stream-token`` makes another)
and puts it in the stream URL as ``?stream_token=``. The token:

* is a JWT signed with HS256 by this server's own secret
  (``auth.stream_token_secret``, random per process when unset, so set it
  when several processes serve one deployment) with its own audience, so a
  user's login token can never pass for one, nor one for a login token;
* names the run and its thread, and is accepted only on that run's
  ``GET .../stream`` URL (and ``/ws`` subscribing to that run);
* carries the user it was issued to, whose handlers still authorize the read;
* expires after ``auth.stream_token_ttl_s``. An open stream is not cut when it
  expires; reconnecting after that needs a new token.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from app.auth.user import AuthUser, InvalidUser

__all__ = ["StreamGrant", "StreamTokens"]

_AUDIENCE = "switchyard:run-stream"
_ALGORITHM = "HS256"


@dataclass(frozen=True)
class StreamGrant:
    user: AuthUser
    thread_id: str
    run_id: str


class StreamTokens:
    def __init__(self, secret: str | None, ttl_s: float) -> None:
        self._secret = secret or secrets.token_urlsafe(32)
        self.ttl_s = ttl_s

    def issue(self, user: AuthUser | None, thread_id: str, run_id: str) -> tuple[str, float]:
        """A token for this run's stream and when it expires (Unix seconds)."""
        now = time.time()
        expires = now + self.ttl_s
        claims: dict[str, Any] = {
            "aud": _AUDIENCE,
            "iat": int(now),
            "exp": expires,
            "tid": thread_id,
            "rid": run_id,
            "usr": None if user is None else user.to_json(),
        }
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM), expires

    def verify(self, token: str) -> StreamGrant | None:
        """The grant, or None if the token is forged, expired or not a stream token."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                options={"require": ["exp", "aud", "tid", "rid"]},
            )
            user = AuthUser.from_result(claims["usr"])
        except (jwt.PyJWTError, InvalidUser):
            return None
        if not isinstance(claims["tid"], str) or not isinstance(claims["rid"], str):
            return None
        return StreamGrant(user=user, thread_id=claims["tid"], run_id=claims["rid"])
