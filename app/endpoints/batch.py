"""Batch endpoints: thin handlers over ``app.runs.batch`` (the body shape is documented there).

* ``POST /runs/batch``         → ``[Run, ...]`` at once; the runs proceed in the background.
* ``POST /runs/batch/wait``    → ``{"results": [...]}`` in input order, ``\\n`` keep-alives
  before it.
* ``POST /runs/batch/stream``  → SSE ``progress`` ``{"done": 0, "total": n}``, then per
  item as it ends ``result`` and ``progress`` ``{"done": k, "total": n}``, heartbeats,
  then ``end`` with ``{"total": n, "by_status": {...}}``.

Leaving early (the client disconnects) cancels a ``/wait`` or ``/stream``
batch's unfinished items: their results could no longer be delivered.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence

from starlette.requests import Request
from starlette.responses import Response

from app import serde
from app.auth.access import request_auth
from app.auth.run_access import admit_runs
from app.auth.run_limits import Reservation
from app.endpoints.http import NO_BODY, JSONResponse, read_json
from app.errors import InvalidInput
from app.events import Event
from app.runs.batch import Batch, BatchRunner, parse_batch, summary
from app.schemas import RunCreate
from app.services import Services, services_of
from app.transport.sse import event_stream_response, waiting_json_response

__all__ = ["create", "stream", "wait"]


async def _batch(
    request: Request, *, options: bool = True
) -> tuple[Services, Batch, BatchRunner, Reservation]:
    """The parsed batch with every item authorized (``threads.create_run``, as a
    stateless run) and places held for its items under the user's run limit."""
    services = services_of(request)
    data = await read_json(request, max_bytes=services.settings.runs.max_body_bytes)
    if data is NO_BODY:
        raise InvalidInput("batch body is missing; send an array of run bodies")
    batch = parse_batch(data, services.settings.runs, options=options)
    bodies = [item for item in batch.items if isinstance(item, RunCreate)]
    async with admit_runs(request, bodies, None, services.runs.is_active) as admission:
        authorized = iter(admission.bodies)
        batch.items = [
            item if isinstance(item, InvalidInput) else next(authorized) for item in batch.items
        ]
    state = request_auth(request)
    runner = BatchRunner(services.runs, own_threads=state is not None and state.enabled)
    return services, batch, runner, admission.reservation


async def create(request: Request) -> Response:
    _, batch, runner, reservation = await _batch(request, options=False)
    try:
        runs = await runner.start(batch)
    except BaseException:
        reservation.release()
        raise
    reservation.bind([run.run_id for run in runs])
    return JSONResponse([run.to_json() for run in runs])


async def wait(request: Request) -> Response:
    services, batch, runner, reservation = await _batch(request)

    async def answer() -> dict[str, object]:
        try:
            results = await runner.results_in_order(batch)
        finally:
            reservation.release()
        return {"results": [result.to_json() for result in results]}

    return waiting_json_response(answer(), heartbeat_s=services.settings.sse.heartbeat_s)


async def _result_events(
    runner: BatchRunner, batch: Batch, keepalive_s: float, reservation: Reservation
) -> AsyncIterator[Sequence[Event]]:
    # Not a run's log: nothing can resume a batch, so the ids only number
    # the events of this one response. An empty batch is a heartbeat. Each
    # result is followed by ``progress`` {"done", "total"} (and one opens the
    # stream), so a client sees how far the batch is without counting.
    statuses: list[str] = []
    total = len(batch.items)
    ids = itertools.count(1)
    try:
        yield (_progress(next(ids), 0, total),)
        async for result in runner.results_as_completed(batch, keepalive_s=keepalive_s):
            if result is None:
                yield ()
                continue
            statuses.append(result.status)
            yield (
                Event(str(next(ids)), "result", serde.dumps(result.to_json())),
                _progress(next(ids), len(statuses), total),
            )
    finally:
        reservation.release()
    yield (Event(str(next(ids)), "end", serde.dumps(summary(statuses))),)


def _progress(event_id: int, done: int, total: int) -> Event:
    return Event(str(event_id), "progress", serde.dumps({"done": done, "total": total}))


async def stream(request: Request) -> Response:
    services, batch, runner, reservation = await _batch(request)
    sse = services.settings.sse
    return event_stream_response(
        _result_events(runner, batch, sse.heartbeat_s, reservation),
        sse=sse,
        streams=services.streams,
    )
