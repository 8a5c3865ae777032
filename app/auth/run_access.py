"""Admitting a run: ``threads.create_run`` authorization plus the per-user run limit.

Every way to start a run (HTTP on a thread or stateless, batches, the
WebSocket) goes through ``admit_runs``, so handlers see the same value
LangGraph gives them::

    {"thread_id", "assistant_id", "run_id": None, "status": "pending",
     "metadata", "prevent_insert_if_inflight", "multitask_strategy",
     "if_not_exists", "after_seconds", "kwargs"}

What a handler stamps into ``value["metadata"]`` becomes the run's metadata
and is added to any thread the run creates (so the docs' ``add_owner``
makes a stateless run, and a thread made by ``if_not_exists="create"``, its
caller's); the filters it returns scope the existing thread the run uses.

A run that will create its thread (``if_not_exists="create"`` on an id
nobody has yet, a stateless run kept with ``on_completion="keep"``, a
thread-protocol ``run.start``, a kept cron) is also authorized as
``threads.create`` with ``{"thread_id", "metadata", "if_exists"}``, exactly
as ``POST /threads`` is: an ``@auth.on.threads.create`` that stamps the
owner stamps every thread, however it comes to exist. What it stamps joins
the run's metadata too (the thread's metadata is the run's, as on LangGraph
Server).

As on LangGraph Server, the graph sees who asked: the run's
``config["configurable"]`` carries ``langgraph_auth_user`` (the user as JSON:
``identity``, ``permissions``, ``display_name`` and its own fields),
``langgraph_auth_user_id`` and ``langgraph_auth_permissions``, always the
server's (a client's values under those keys are replaced).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

from app.auth.access import as_id, authorize, request_auth
from app.auth.run_limits import Reservation
from app.auth.user import AuthUser
from app.schemas import RunCreate

if TYPE_CHECKING:  # app.services imports the MCP server, which admits its runs here
    from app.services import Services

__all__ = ["Admission", "admit_runs", "authorize_run"]


@dataclass
class Admission:
    bodies: list[RunCreate]  # as authorized: metadata stamped by the handlers
    filters: list[dict[str, Any] | None]
    thread_metadata: list[dict[str, Any] | None]
    reservation: Reservation

    def bind(self, run_ids: Sequence[str]) -> None:
        """The runs were created: each holds its place until it ends."""
        self.reservation.bind(run_ids)


def _with_user(body: RunCreate, user: AuthUser) -> RunCreate:
    config = dict(body.config or {})
    configurable = dict(config.get("configurable") or {})
    configurable.update(
        langgraph_auth_user=user.to_json(),
        langgraph_auth_user_id=user.identity,
        langgraph_auth_permissions=user.permissions,
    )
    config["configurable"] = configurable
    return body.model_copy(update={"config": config})


def _value(body: RunCreate, thread_id: str | None) -> dict[str, Any]:
    return {
        "thread_id": as_id(thread_id),
        "assistant_id": as_id(body.assistant_id),
        "run_id": None,
        "status": "pending",
        "metadata": dict(body.metadata or {}),
        "prevent_insert_if_inflight": body.multitask_strategy == "reject",
        "multitask_strategy": body.multitask_strategy,
        "if_not_exists": body.if_not_exists,
        "after_seconds": body.after_seconds,
        "kwargs": body.model_dump(mode="json", exclude_none=True),
    }


async def _creates_thread(conn: HTTPConnection, body: RunCreate, thread_id: str | None) -> bool:
    if thread_id is None:
        return body.on_completion == "keep"
    if body.if_not_exists != "create":
        return False
    # Unfiltered: whether anyone has this id. Another user's thread is not
    # created over (the run manager answers it as missing).
    services: Services = conn.app.state.services
    return await services.storage.threads.get(thread_id) is None


async def authorize_run(
    conn: HTTPConnection,
    body: RunCreate,
    thread_id: str | None,
    *,
    creates_thread: bool | None = None,
) -> tuple[RunCreate, dict[str, Any] | None]:
    """``body`` as its handlers left it (metadata stamped, the user in its config)
    and the filters that scope the thread it uses. ``creates_thread``: whether
    the run will create its thread (None: find out as the run manager will)."""
    state = request_auth(conn)
    if state is None or not state.enabled:
        # ``authorize`` answers None at once with auth off: skip building the
        # handlers' value (a second ``model_dump`` of the body per run).
        return body, None
    value = _value(body, thread_id)
    filters = await authorize(conn, "threads", "create_run", value)
    if state is None or not state.enabled or state.user is None:
        return body, filters
    metadata: dict[str, Any] = dict(value.get("metadata") or {})
    if creates_thread is None:
        creates_thread = await _creates_thread(conn, body, thread_id)
    if creates_thread:
        created: dict[str, Any] = {
            "thread_id": as_id(thread_id),
            "metadata": metadata,
            "if_exists": "raise",
        }
        await authorize(conn, "threads", "create", created)
        metadata = dict(created.get("metadata") or {})
    if metadata != (body.metadata or {}):
        body = body.model_copy(update={"metadata": metadata})
    return _with_user(body, state.user), filters


@asynccontextmanager
async def admit_runs(
    conn: HTTPConnection,
    bodies: Sequence[RunCreate],
    thread_id: str | None,
    is_active: Callable[[str], bool],
) -> AsyncIterator[Admission]:
    """Authorize each run and hold its place under the user's limit.

    Leaving the block with an exception gives the places back; leaving it
    normally keeps them until ``bind``'s runs end (or, unbound, until the
    caller releases the reservation).
    """
    state = request_auth(conn)
    enabled = state is not None and state.enabled
    authorized: list[RunCreate] = []
    filters: list[dict[str, Any] | None] = []
    for body in bodies:
        body, scope = await authorize_run(conn, body, thread_id)
        filters.append(scope)
        authorized.append(body)
    thread_metadata = [dict(b.metadata or {}) if enabled else None for b in authorized]
    identity = state.user.identity if state is not None and state.user is not None else None
    limiter = state.gate.limiter if state is not None else None
    if limiter is None:
        reservation = Reservation(len(bodies), is_active)
    else:
        reservation = limiter.reserve(identity, len(bodies), is_active)
    try:
        yield Admission(authorized, filters, thread_metadata, reservation)
    except BaseException:
        reservation.release()
        raise
