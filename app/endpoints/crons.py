"""Crons: ``client.crons.*`` (create for a thread or stateless, search, count,
get, update, delete). Scheduling and firing are in ``app.crons``."""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import authorize
from app.crons import next_tick, zone
from app.endpoints.http import JSONResponse, parse_body
from app.endpoints.scoped import thread_for
from app.endpoints.select import pick
from app.errors import InvalidInput, NotFound
from app.schemas import RunCreate
from app.schemas_platform import CronCount, CronCreate, CronPatch, CronSearch
from app.services import Services, services_of
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


async def _check_run(services: Services, assistant_id: str, payload: dict[str, Any]) -> None:
    """The run a tick will create must be creatable: check it now, not at 3 a.m."""
    try:
        body = RunCreate.model_validate({**payload, "assistant_id": assistant_id})
    except ValueError as exc:
        raise InvalidInput(f"the cron's run is invalid: {exc}") from None
    await services.assistants.for_run(body)


async def _create(request: Request, thread_id: str | None) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronCreate)
    await authorize(request, "crons", "create", body.model_dump(mode="json", exclude_none=True))
    if thread_id is not None:
        await thread_for(request, "update")  # the caller's own thread, else 404
    payload = _payload(body, {})
    await _check_run(services, body.assistant_id, payload)
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
        metadata=body.metadata or {},
        enabled=body.enabled,
        on_run_completed=None if thread_id else (body.on_run_completed or "delete"),
        next_run_date=None if end_time is not None and following > end_time else following,
    )
    created = await services.storage.crons.create(cron)
    return JSONResponse(created.to_json())


async def create_stateless(request: Request) -> Response:
    return await _create(request, None)


async def create_for_thread(request: Request) -> Response:
    return await _create(request, request.path_params["thread_id"])


async def _cron(services: Services, cron_id: str) -> Cron:
    cron = await services.storage.crons.get(cron_id)
    if cron is None:
        raise CronNotFound(f"cron {cron_id} not found")
    return cron


async def get(request: Request) -> Response:
    await authorize(request, "crons", "read", {"cron_id": request.path_params["cron_id"]})
    return JSONResponse(
        (await _cron(services_of(request), request.path_params["cron_id"])).to_json()
    )


async def patch(request: Request) -> Response:
    services = services_of(request)
    await authorize(request, "crons", "update", {"cron_id": request.path_params["cron_id"]})
    cron = await _cron(services, request.path_params["cron_id"])
    body = await parse_body(request, CronPatch, empty_ok=True)
    changes: dict[str, Any] = {"payload": _payload(body, cron.payload)}
    await _check_run(services, cron.assistant_id, changes["payload"])
    for name in ("schedule", "timezone", "metadata", "enabled", "on_run_completed"):
        if getattr(body, name) is not None:
            changes[name] = getattr(body, name)
    if "end_time" in body.model_fields_set:
        changes["end_time"] = body.end_time
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
    services = services_of(request)
    await authorize(request, "crons", "delete", {"cron_id": request.path_params["cron_id"]})
    if not await services.storage.crons.delete(request.path_params["cron_id"]):
        raise CronNotFound(f"cron {request.path_params['cron_id']} not found")
    return Response(status_code=204)


async def search(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, CronSearch, empty_ok=True)
    await authorize(request, "crons", "search", body.model_dump(exclude_none=True))
    found = await services.storage.crons.search(
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
    await authorize(request, "crons", "search", body.model_dump(exclude_none=True))
    total = await services.storage.crons.count(
        assistant_id=body.assistant_id,
        thread_id=body.thread_id,
        metadata=body.metadata,
    )
    return JSONResponse(total)
