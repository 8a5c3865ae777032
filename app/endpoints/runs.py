"""Runs: on a thread or stateless; background, streamed, or waited for."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app.auth.access import as_id, authorize
from app.auth.run_access import admit_runs
from app.endpoints.http import JSONResponse, parse_body, query_bool, query_int, thread_id_param
from app.endpoints.scoped import run_for, run_visible, stream_token_headers, thread_for
from app.errors import InvalidInput, RunNotFound
from app.events import Event
from app.flows.params import params_to_read
from app.runs.bulk_cancel import CancelMany, cancel_many
from app.runs.manager import RunManager
from app.runs.targets import check_targets
from app.schemas import RunCreate, stream_modes_of
from app.services import Services, services_of
from app.store.base import ACTIVE_RUN_STATUSES, RUN_STATUSES, Run
from app.transport.cursor import resume_cursor
from app.transport.join import joined_events, only_events, unless_drained
from app.transport.resume import resume
from app.transport.sse import event_stream_response, run_stream_headers, waiting_json_response


def _on_disconnect(runs: RunManager, run: Run, body_on_disconnect: str) -> Any:
    if body_on_disconnect != "cancel":
        return None

    async def cancel() -> None:
        # A finished stateless run has no record left to find: nothing to stop.
        with contextlib.suppress(RunNotFound):
            await runs.cancel(run.thread_id, run.run_id)

    return cancel


async def _create(request: Request, *, stateless: bool) -> tuple[Services, RunCreate, Run]:
    services = services_of(request)
    thread_id = None if stateless else thread_id_param(request)
    body = await parse_body(request, RunCreate)
    if body.interrupt_before or body.interrupt_after or body.command is not None:
        graph_id = (await services.assistants.lookup(body.assistant_id)).graph_id
        # Node names only: a template flow needs no real params for that.
        params = params_to_read(services.registry, graph_id, body.config)
        check_targets(graph_id, await services.registry.get(graph_id, params=params), body)
    async with admit_runs(request, [body], thread_id, services.runs.is_active) as admission:
        body = admission.bodies[0]
        run = await services.runs.create(
            body,
            thread_id=thread_id,
            filters=admission.filters[0],
            thread_metadata=admission.thread_metadata[0],
        )
        admission.bind([run.run_id])
    return services, body, run


def _created_headers(request: Request, run: Run) -> dict[str, str]:
    return {
        **run_stream_headers(run.thread_id, run.run_id),
        **stream_token_headers(request, run),
    }


async def create_background(request: Request) -> Response:
    stateless = "thread_id" not in request.path_params
    _, _, run = await _create(request, stateless=stateless)
    headers = _created_headers(request, run)
    body = run.to_json()
    if "X-Stream-Token" in headers:  # for a browser EventSource on the run's stream
        body["stream_token"] = headers["X-Stream-Token"]
    return JSONResponse(body, headers=headers)


async def create_stream(request: Request) -> Response:
    stateless = "thread_id" not in request.path_params
    services, body, run = await _create(request, stateless=stateless)
    # ``resume`` rather than a plain read: a delta stream whose reader fell
    # behind the log's trimming re-synchronises on a keyframe.
    delta = "delta" in body.stream_modes
    sse = services.settings.sse
    return event_stream_response(
        resume(services.events, run.run_id, delta=delta, keepalive_s=sse.heartbeat_s),
        sse=sse,
        streams=services.streams,
        headers=_created_headers(request, run),
        on_disconnect=_on_disconnect(services.runs, run, body.on_disconnect),
    )


async def _result(services: Services, run: Run) -> Any:
    """What /wait and /join answer: the final values, or the error."""
    outcome = await services.runs.wait(run.run_id)
    if outcome is not None:
        if outcome.error is not None and outcome.status != "interrupted":
            return {"__error__": outcome.error}
        return outcome.output if outcome.output is not None else {}
    thread = await services.storage.threads.get(run.thread_id)
    return thread.values if thread and thread.values is not None else {}


async def create_wait(request: Request) -> Response:
    stateless = "thread_id" not in request.path_params
    services, _, run = await _create(request, stateless=stateless)
    return waiting_json_response(
        _result(services, run),
        heartbeat_s=services.settings.sse.heartbeat_s,
        headers=_created_headers(request, run),
    )


async def _run(request: Request, operation: str = "read", **value: Any) -> Run:
    return await run_for(
        request, thread_id_param(request), request.path_params["run_id"], operation, **value
    )


async def list_runs(request: Request) -> Response:
    services = services_of(request)
    thread, _ = await thread_for(request, "search")
    thread_id = thread.thread_id
    status = request.query_params.get("status")
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"unknown run status {status!r}")
    runs = await services.storage.runs.for_thread(
        thread_id,
        limit=query_int(request, "limit", 10, low=1, high=1000),
        offset=query_int(request, "offset", 0),
        status=status,
    )
    return JSONResponse([r.to_json() for r in runs])


async def get(request: Request) -> Response:
    run = await _run(request)
    return JSONResponse(run.to_json())


async def delete(request: Request) -> Response:
    services = services_of(request)
    run = await _run(request, "delete")
    await services.runs.delete_run(run.thread_id, run.run_id)
    return Response(status_code=204)


async def join(request: Request) -> Response:
    services = services_of(request)
    run = await _run(request)
    if not services.runs.tracks(run.run_id) and not await services.storage.threads.get(
        run.thread_id
    ):
        # A stateless run finished long enough ago that its result is forgotten.
        raise RunNotFound(f"the result of run {run.run_id} is no longer retained")
    return waiting_json_response(
        _result(services, run), heartbeat_s=services.settings.sse.heartbeat_s
    )


async def join_stream(request: Request) -> Response:
    services = services_of(request)
    # A finished stateless run is still found (``_run``): the SDK reconnects
    # to exactly this URL and its events are retained.
    run = await _run(request)
    # EventSource sends the header by itself; the query form is for clients
    # that cannot set headers.
    after = resume_cursor(
        request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    )
    run_modes = stream_modes_of(run.kwargs.get("stream_mode"))
    # The SDK sends ``stream_mode=`` (empty) when it names none.
    requested = [m for m in request.query_params.getlist("stream_mode") if m]
    names = joined_events(requested, run_modes) if requested else None
    delta = "delta" in (requested or run_modes)
    cancel = query_bool(request, "cancel_on_disconnect")
    sse = services.settings.sse
    batches: AsyncIterator[Sequence[Event]] = resume(
        services.events, run.run_id, after=after, delta=delta, keepalive_s=sse.heartbeat_s
    )
    if after is not None and run.status not in ACTIVE_RUN_STATUSES:
        # A reconnect after the run ended (a browser EventSource reconnects
        # whenever a stream closes): 204 is what makes an EventSource stop.
        left = await unless_drained(batches)
        if left is None:
            return Response(status_code=204)
        batches = left
    if names is not None:
        batches = only_events(batches, names)
    return event_stream_response(
        batches,
        sse=sse,
        streams=services.streams,
        headers=run_stream_headers(run.thread_id, run.run_id),
        on_disconnect=_on_disconnect(services.runs, run, "cancel" if cancel else "continue"),
    )


async def cancel(request: Request) -> Response:
    services = services_of(request)
    action = request.query_params.get("action", "interrupt")
    if action not in ("interrupt", "rollback"):  # refused even when the run has ended
        raise InvalidInput(f"cancel action must be 'interrupt' or 'rollback', not {action!r}")
    run = await _run(request, "update", action=action)
    wait = query_bool(request, "wait")
    await services.runs.cancel(run.thread_id, run.run_id, action=action, wait=wait)
    return Response(status_code=202 if not wait else 204)


async def cancel_many_runs(request: Request) -> Response:
    services = services_of(request)
    body = await parse_body(request, CancelMany)
    action = request.query_params.get("action", "interrupt")
    if action not in ("interrupt", "rollback"):
        raise InvalidInput(
            f"query parameter 'action' must be 'interrupt' or 'rollback', not {action!r}"
        )
    value = {"thread_id": as_id(body.thread_id), "action": action}
    filters = await authorize(request, "threads", "update", value)

    async def visible(run: Run) -> bool:
        return await run_visible(services, run, filters)

    await cancel_many(services.runs, body, action=action, visible=visible)
    return Response(status_code=204)


__all__ = [
    "cancel",
    "cancel_many_runs",
    "create_background",
    "create_stream",
    "create_wait",
    "delete",
    "get",
    "join",
    "join_stream",
    "list_runs",
]
