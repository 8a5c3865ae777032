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
from app.endpoints.http import JSONResponse, read_json
from app.errors import InvalidInput
from app.events import Event
from app.runs.batch import Batch, BatchRunner, parse_batch, summary
from app.services import Services, services_of
from app.transport.sse import event_stream_response, waiting_json_response

__all__ = ["create", "stream", "wait"]


async def _batch(request: Request, *, options: bool = True) -> tuple[Services, Batch]:
    services = services_of(request)
    data = await read_json(request, max_bytes=services.settings.runs.max_body_bytes)
    if data is None:
        raise InvalidInput("batch body is missing; send an array of run bodies")
    return services, parse_batch(data, services.settings.runs, options=options)


async def create(request: Request) -> Response:
    services, batch = await _batch(request, options=False)
    runs = await BatchRunner(services.runs).start(batch)
    return JSONResponse([run.to_json() for run in runs])


async def wait(request: Request) -> Response:
    services, batch = await _batch(request)

    async def answer() -> dict[str, object]:
        results = await BatchRunner(services.runs).results_in_order(batch)
        return {"results": [result.to_json() for result in results]}

    return waiting_json_response(answer(), heartbeat_s=services.settings.sse.heartbeat_s)


async def _result_events(
    runner: BatchRunner, batch: Batch, keepalive_s: float
) -> AsyncIterator[Sequence[Event]]:
    # Not a run's log: nothing can resume a batch, so the ids only number
    # the events of this one response. An empty batch is a heartbeat. Each
    # result is followed by ``progress`` {"done", "total"} (and one opens the
    # stream), so a client sees how far the batch is without counting.
    statuses: list[str] = []
    total = len(batch.items)
    ids = itertools.count(1)
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
    yield (Event(str(next(ids)), "end", serde.dumps(summary(statuses))),)


def _progress(event_id: int, done: int, total: int) -> Event:
    return Event(str(event_id), "progress", serde.dumps({"done": done, "total": total}))


async def stream(request: Request) -> Response:
    services, batch = await _batch(request)
    sse = services.settings.sse
    return event_stream_response(
        _result_events(BatchRunner(services.runs), batch, sse.heartbeat_s),
        sse=sse,
        streams=services.streams,
    )
