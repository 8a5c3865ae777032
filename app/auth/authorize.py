"""Authorization: who may do what to which resource, and which records they see.

An ``Authorizer`` answers ``authorize(user, resource, action, value)`` with
filters (``app.store.filters``) that scope the records the request touches,
None for no scoping, or an ``AccessDenied``. It may edit ``value`` (stamp
``metadata.owner`` on a thread being created); callers use the edited value.

Resources and actions are LangGraph's: ``threads`` (create, read, update,
delete, search, create_run: runs are thread actions), ``assistants``,
``crons`` (create, read, update, delete, search) and ``store`` (put, get,
search, delete, list_namespaces).

* ``HandlerAuthorizer`` runs a ``langgraph_sdk.Auth`` object's handlers the
  way LangGraph Server does: the most specific one registered for
  ``(resource, action)``, then ``(resource, *)``, then ``(*, action)``, then
  the global ``@auth.on``; none at all accepts. A handler returns None/True
  (accept), False (403), or a filter dict; ``Auth.exceptions.HTTPException``
  answers with its status, and a failed ``assert`` or any other exception
  is a 403 (a handler that breaks grants nothing).
* ``OwnerAuthorizer`` is the built-in policy for teams without handlers:
  threads and crons are their creator's (stamped ``metadata.owner``, filtered
  by it), store namespaces start with the user's identity, assistants are
  readable by all and changed (rules reload) only with ``admin_permission``.
* ``OpenAuthorizer`` lets every authenticated user see everything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal, Protocol, cast

from langgraph_sdk import Auth
from langgraph_sdk.auth.types import AuthContext

from app.auth.user import AuthUser
from app.errors import AccessDenied
from app.store.filters import InvalidFilter, check_filters

__all__ = ["Authorizer", "HandlerAuthorizer", "OpenAuthorizer", "OwnerAuthorizer"]

log = logging.getLogger("switchyard.auth")

Filters = dict[str, Any]
Resource = Literal["threads", "assistants", "crons", "store", "runs"]
OWNER = "owner"


class Authorizer(Protocol):
    async def authorize(
        self, user: AuthUser, resource: str, action: str, value: dict[str, Any]
    ) -> Filters | None: ...


class HandlerError(Exception):
    """An authorization handler answered something that is not a decision (a server bug)."""


class HandlerAuthorizer:
    def __init__(self, auth: Auth) -> None:
        self._auth = auth
        self._cache: dict[tuple[str, str], Callable[..., Any] | None] = {}

    def handler(self, resource: str, action: str) -> Callable[..., Any] | None:
        key = (resource, action)
        if key not in self._cache:
            found = None
            for candidate in (key, (resource, "*"), ("*", action)):
                handlers = self._auth._handlers.get(candidate)
                if handlers:
                    found = handlers[-1]
                    break
            if found is None and self._auth._global_handlers:
                found = self._auth._global_handlers[-1]
            self._cache[key] = found
        return self._cache[key]

    async def authorize(
        self, user: AuthUser, resource: str, action: str, value: dict[str, Any]
    ) -> Filters | None:
        handler = self.handler(resource, action)
        if handler is None:
            return None
        ctx = AuthContext(
            permissions=user.permissions,
            user=cast(Any, user),  # AuthUser implements the BaseUser protocol
            resource=cast(Any, resource),
            action=cast(Any, action),
        )
        try:
            result = await handler(ctx=ctx, value=value)
        except Auth.exceptions.HTTPException as exc:
            raise AccessDenied(exc.detail, status=exc.status_code, headers=exc.headers) from None
        except AssertionError as exc:
            raise AccessDenied(str(exc) or f"{resource}.{action} is not allowed") from None
        except Exception:
            # A handler that crashes grants nothing (fail closed), and says so in
            # the log, not to the client (its message may hold anything).
            log.exception("the %s.%s authorization handler raised; refused", resource, action)
            raise AccessDenied(f"{resource}.{action} is not allowed") from None
        if result is None or result is True:
            return None
        if result is False:
            raise AccessDenied(f"{resource}.{action} is not allowed for this user")
        try:
            return check_filters(result) or None
        except InvalidFilter as exc:
            raise HandlerError(f"the {resource}.{action} handler returned {exc}") from None


class OwnerAuthorizer:
    def __init__(self, admin_permission: str) -> None:
        self._admin = admin_permission

    async def authorize(
        self, user: AuthUser, resource: str, action: str, value: dict[str, Any]
    ) -> Filters | None:
        identity = user.identity
        if resource == "assistants":
            if action in ("read", "search") or self._admin in user.permissions:
                return None
            raise AccessDenied(f"changing assistants needs the {self._admin!r} permission")
        if resource == "store":
            namespace = tuple(value.get("namespace") or ())
            if not namespace or namespace[0] != identity:
                value["namespace"] = (identity, *namespace)
            return None
        # threads (runs are thread actions), crons, and anything new: the creator's own.
        if action in ("create", "create_run", "update"):
            metadata = value.get("metadata") or {}
            value["metadata"] = {**metadata, OWNER: identity}
        return {OWNER: identity}


class OpenAuthorizer:
    async def authorize(
        self, user: AuthUser, resource: str, action: str, value: dict[str, Any]
    ) -> Filters | None:
        return None
