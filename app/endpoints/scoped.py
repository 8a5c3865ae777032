"""Threads and runs as the request's user may see them: authorize, then look up.

Each helper authorizes one LangGraph action (runs are thread actions) and
reads through the filters it returned, so another user's thread or run
raises exactly the ``ThreadNotFound``/``RunNotFound`` an unknown id does.
With auth off the filters are None and these are plain lookups.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import HTTPConnection, Request

from app.auth.access import as_id, authorize, request_auth
from app.endpoints.http import thread_id_param
from app.errors import RunNotFound, ThreadNotFound
from app.services import Services, services_of
from app.store.base import Run, Thread
from app.store.filters import matches

__all__ = ["run_for", "run_visible", "stream_token_headers", "thread_for"]


async def thread_for(
    request: Request, action: str, value: dict[str, Any] | None = None
) -> tuple[Thread, dict[str, Any] | None]:
    """The path's thread after authorizing ``threads.<action>``, and the filters."""
    thread_id = thread_id_param(request)
    filters = await authorize(
        request, "threads", action, {"thread_id": as_id(thread_id), **(value or {})}
    )
    thread = await services_of(request).storage.threads.get(thread_id, filters=filters)
    if thread is None:
        raise ThreadNotFound(f"thread {thread_id} not found")
    return thread, filters


async def run_visible(services: Services, run: Run, filters: dict[str, Any] | None) -> bool:
    """Whether ``filters`` let the user see ``run``: through its thread's metadata,
    or, for a stateless run that has no records, its own (stamped at creation)."""
    if not filters:
        return True
    if services.runs.has_record(run.run_id) is False:
        return matches(run.metadata, filters)
    return await services.storage.threads.get(run.thread_id, filters=filters) is not None


async def run_for(
    conn: HTTPConnection, thread_id: str, run_id: str, operation: str, **extra: Any
) -> Run:
    """The run after authorizing ``threads.<operation>`` on it (``RunNotFound`` if hidden);
    ``extra`` joins the handler's value (a cancel's ``action``)."""
    value: dict[str, Any] = {"thread_id": as_id(thread_id), "run_id": as_id(run_id), **extra}
    filters = await authorize(conn, "threads", operation, value)
    services = services_of(conn)
    # ``find``, not the store: a stateless run has no record (app.runs.manager), yet
    # it can be read, joined, cancelled and its stream resumed like any run.
    run = await services.runs.find(thread_id, run_id)
    if run is None or not await run_visible(services, run, filters):
        raise RunNotFound(f"run {run_id} not found on thread {thread_id}")
    return run


def stream_token_headers(conn: HTTPConnection, run: Run) -> dict[str, str]:
    """``X-Stream-Token`` for a new run's stream, when auth is on."""
    state = request_auth(conn)
    if state is None or not state.enabled:
        return {}
    token, _ = state.gate.stream_tokens.issue(state.user, run.thread_id, run.run_id)
    return {"X-Stream-Token": token}
