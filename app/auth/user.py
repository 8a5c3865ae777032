"""The authenticated user, as LangGraph's handlers expect to see it (``ctx.user``).

An ``@auth.authenticate`` handler may return a string (the identity), a dict
with ``identity`` (and ``permissions``, ``display_name``, ``is_authenticated``
and any fields of its own), or an object with an ``identity`` attribute.
``AuthUser`` wraps each the same way LangGraph Server does, so a handler can
use ``ctx.user.identity``, ``ctx.user.permissions``, ``ctx.user["org_id"]``,
``"org_id" in ctx.user`` or ``ctx.user.org_id`` whichever it returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import orjson

__all__ = ["AuthUser", "InvalidUser"]

_STANDARD = ("identity", "permissions", "display_name", "is_authenticated")


class InvalidUser(TypeError):
    """An authenticate handler returned something that names no user."""


class AuthUser:
    """A user with ``identity``, ``permissions``, ``display_name``, ``is_authenticated``."""

    __slots__ = ("_data", "_source")

    def __init__(self, data: Mapping[str, Any], source: Any = None) -> None:
        identity = data.get("identity")
        if not isinstance(identity, str) or not identity:
            raise InvalidUser(f"a user needs a non-empty string identity, got {identity!r}")
        permissions = data.get("permissions") or []
        if isinstance(permissions, str) or not isinstance(permissions, Sequence):
            raise InvalidUser(f"permissions of {identity!r} must be a list of strings")
        self._data: dict[str, Any] = {
            **data,
            "identity": identity,
            "permissions": [str(p) for p in permissions],
            "display_name": data.get("display_name") or identity,
            "is_authenticated": bool(data.get("is_authenticated", True)),
        }
        self._source = source

    @classmethod
    def from_result(cls, result: Any) -> AuthUser:
        """Wrap what an authenticate handler returned."""
        if isinstance(result, AuthUser):
            return result
        if isinstance(result, str):
            return cls({"identity": result})
        if isinstance(result, Mapping):
            return cls(result)
        identity = getattr(result, "identity", None)
        if identity is None:
            raise InvalidUser(
                f"authenticate returned {type(result).__name__}; return a string, "
                "a dict with 'identity', or an object with an identity attribute"
            )
        fields = {name: getattr(result, name, None) for name in _STANDARD}
        return cls({k: v for k, v in fields.items() if v is not None}, source=result)

    @property
    def identity(self) -> str:
        return str(self._data["identity"])

    @property
    def permissions(self) -> list[str]:
        return list(self._data["permissions"])

    @property
    def display_name(self) -> str:
        return str(self._data["display_name"])

    @property
    def is_authenticated(self) -> bool:
        return bool(self._data["is_authenticated"])

    def __getitem__(self, key: str) -> Any:
        if key not in self._data and self._source is not None:
            return getattr(self._source, key)
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __getattr__(self, name: str) -> Any:
        # Only reached for names that are not properties or slots.
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __repr__(self) -> str:
        return f"AuthUser(identity={self.identity!r}, permissions={self.permissions!r})"

    def to_json(self) -> dict[str, Any]:
        """The user as JSON data: every field that is JSON, for tokens and run configs."""
        out: dict[str, Any] = {}
        for key, value in self._data.items():
            try:
                orjson.dumps(value)
            except TypeError:
                continue
            out[key] = value
        return out
