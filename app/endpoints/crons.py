"""Crons: ``client.crons.*`` (create for a thread or stateless, search, count,
get, update, delete). Scheduling and firing are in ``app.platform.crons``.

Authorized as LangGraph Server does: ``crons.create`` sees ``{"payload",
"schedule", "cron_id", "thread_id", "user_id", "end_time", "metadata",
"on_run_completed"}`` and may stamp ``metadata``; ``crons.read|update|delete``
see ``{"cron_id", ...}`` and ``crons.search`` the search body; the filters
they return are matched against the cron's metadata, so another user's cron
answers 404 like an unknown id and is absent from search and count
(``app.auth.cron_scope``). The run a cron will create is authorized when the
cron is created or changed (``threads.create_run``, and ``threads.create``
for a kept stateless cron's threads), so each tick's run and thread carry
what the handlers stamped, without a request to authorize them at 3 a.m.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import as_id, authorize, current_user
from app.auth.cron_scope import count_visible, search_visible, visible
from app.auth.run_access import authorize_run
from app.endpoints.http import JSONResponse, parse_body
from app.endpoints.scoped import thread_for
from app.endpoints.select import pick
from app.errors import InvalidInput, NotFound
from app.platform.crons import next_tick, zone
from app.platform.schemas import CronCount, CronCreate, CronPatch, CronSearch
from app.schemas import RunCreate
from app.services import services_of
from app.store.base import utcnow
from app.store.crons import Cron

# Fields of a cron body that make up the run each tick creates.
_RUN_FIELDS = (
    "input", "metadata", "config", "context", "webhook", "interrupt_before", "interrupt_after",
    "multitask_strategy", "stream_mode", "stream_subgraphs", "stream_resumable", "durability",
    "checkpoint_during",
)  # fmt: skip


class CronNotFound(NotFound):
    """No cron with this id."""


def _payload(body: CronCreate | CronPatch, base: dict[str, Any]) -> dict[str, Any]:
    payload = dict(base)
    for name in _RUN_FIELDS:
        value = getattr(body, name, None)
        if value is not None:
            payload[name] = value
    return payload


async def _check_run(
    request: Request,
    assistant_id: str,
    payload: dict[str, Any],
    thread_id: str | None,
    on_run_completed: str | None,
) -> dict[str, Any]:
    """The run a tick will create must be creatable: check it now, not at 3 a.m.
    Returns ``payload`` as the run's authorization left it (owner stamped)."""
    try:
        body = RunCreate.model_validate({**payload, "assistant_id": assistant_id})
    except ValueError as exc:
        raise InvalidInput(f"the cron's run is invalid: {exc}") from None
    await services_of(request).assistants.for_run(body)
    creates_thread = thread_id is None and on_run_completed == "keep"
    authorized, _ = await authorize_run(request, body, thread_id, creates_thread=creates_thread)
    if authorized is body:
        return payload
    return {**payload, "metadata": authorized.metadata, "config": authorized.config}


async def _visible_cron(request: Request, action: str, value: dict[str, Any]) -> Cron:
    """The path's cron after authorizing ``crons.<action>`` (hidden: ``CronNotFound``)."""
    cron_id = request.path_params["cron_id"]
    filters = await authorize(request, "crons", action, {"cron_id": as_id(cron_id), **value})
    cron = await services_of(request).storage.crons.get(cron_id)
    if cron is None or not visible(cron, filters):
        raise CronNotFound(f"cron {cron_id} not found")
    return cron


async def _create(request: Request, thread_id: str | None) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronCreate)
    user = current_user(request)
    value: dict[str, Any] = {
        "payload": _payload(body, {}),
        "schedule": body.schedule,
        "cron_id": None,
        "thread_id": as_id(thread_id),
        "user_id": user.identity if user is not None else None,
        "end_time": body.end_time,
        "metadata": dict(body.metadata or {}),
        "on_run_completed": body.on_run_completed,
    }
    await authorize(request, "crons", "create", value)
    if thread_id is not None:
        await thread_for(request, "update")  # the caller's own thread, else 404
    on_run_completed = None if thread_id else (body.on_run_completed or "delete")
    payload = await _check_run(
        request, body.assistant_id, _payload(body, {}), thread_id, on_run_completed
    )
    now = utcnow()
    end_time = body.end_time
    if end_time is not None and end_time.tzinfo is None:
        end_time = end_time.replace(tzinfo=zone(body.timezone))
    following = next_tick(body.schedule, body.timezone, now)
    cron = Cron(
        cron_id=str(uuid.uuid4()),
        assistant_id=body.assistant_id,
        thread_id=thread_id,
        schedule=body.schedule,
        payload=payload,
        timezone=body.timezone,
        end_time=end_time,
        metadata=dict(value.get("metadata") or {}),
        enabled=body.enabled,
        on_run_completed=on_run_completed,
        user_id=user.identity if user is not None else None,
        next_run_date=None if end_time is not None and following > end_time else following,
    )
    created = await services.storage.crons.create(cron)
    return JSONResponse(created.to_json())


async def create_stateless(request: Request) -> Response:
    return await _create(request, None)


async def create_for_thread(request: Request) -> Response:
    return await _create(request, request.path_params["thread_id"])


async def get(request: Request) -> Response:
    return JSONResponse((await _visible_cron(request, "read", {})).to_json())


async def patch(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronPatch, empty_ok=True)
    value: dict[str, Any] = body.model_dump(mode="json", exclude_none=True)
    cron = await _visible_cron(request, "update", value)
    changes: dict[str, Any] = {}
    for name in ("schedule", "timezone", "enabled", "on_run_completed"):
        if getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if value.get("metadata") is not None:  # as the handler left it (an owner stamp stays)
        changes["metadata"] = value["metadata"]
    if "end_time" in body.model_fields_set:
        changes["end_time"] = body.end_time
    on_run_completed = changes.get("on_run_completed", cron.on_run_completed)
    changes["payload"] = await _check_run(
        request, cron.assistant_id, _payload(body, cron.payload), cron.thread_id, on_run_completed
    )
    schedule = changes.get("schedule", cron.schedule)
    timezone = changes.get("timezone", cron.timezone)
    end_time = changes.get("end_time", cron.end_time)
    following = next_tick(schedule, timezone, utcnow())
    changes["next_run_date"] = None if end_time is not None and following > end_time else following
    updated = await services.storage.crons.update(cron.cron_id, **changes)
    if updated is None:
        raise CronNotFound(f"cron {cron.cron_id} not found")
    return JSONResponse(updated.to_json())


async def delete(request: Request) -> Response:
    cron = await _visible_cron(request, "delete", {})
    if not await services_of(request).storage.crons.delete(cron.cron_id):
        raise CronNotFound(f"cron {cron.cron_id} not found")
    return Response(status_code=204)


async def search(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronSearch, empty_ok=True)
    filters = await authorize(request, "crons", "search", body.model_dump(exclude_none=True))
    found = await search_visible(
        services.storage.crons,
        filters,
        assistant_id=body.assistant_id,
        thread_id=body.thread_id,
        enabled=body.enabled,
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    return JSONResponse([pick(c.to_json(), body.select) for c in found])


async def count(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronCount, empty_ok=True)
    filters = await authorize(request, "crons", "search", body.model_dump(exclude_none=True))
    total = await count_visible(
        services.storage.crons,
        filters,
        assistant_id=body.assistant_id,
        thread_id=body.thread_id,
        metadata=body.metadata,
    )
    return JSONResponse(total)
